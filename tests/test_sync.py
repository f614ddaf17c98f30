"""Matching and writing, end to end in-process: real plexapi/requests against the sandbox's fakes."""

import pytest

from plexsync.errors import AmbiguousMatch, NotFoundYet
from plexsync.jobs import new_job
from plexsync.sandbox.world import PLEX_ROOT, STASH_ROOT

TAGS = [f"Tag {n}" for n in range(12)]
PEOPLE = [f"Performer {n}" for n in range(7)]


def sync(runtime, scene_id, clock, **job):
    clock.advance(1)
    return runtime.delivery.syncer.sync(new_job(scene_id, job.pop("event", "update"), clock=clock, **job))


def test_full_tag_and_actor_lists_reach_plex_although_listings_truncate(sandbox, runtime_for, clock):
    scene, key = sandbox.add_scene("Full", tags=TAGS, performers=PEOPLE, studio="Studio A",
                                   details="About it", date="2024-05-01")
    outcome = sync(runtime_for(), scene, clock)
    item = sandbox.plex.item(key)
    assert outcome.kind == "synced" and outcome.rating_key == key
    assert item.tag_names("genre") == TAGS and item.tag_names("actor") == PEOPLE
    assert item.fields["title"] == "Full" and item.fields["summary"] == "About it" and item.fields["studio"] == "Studio A"
    assert item.fields["originallyAvailableAt"] == "2024-05-01" and item.tag_names("collection") == ["Studio A"]
    assert {"title", "titleSort", "summary", "studio", "originallyAvailableAt", "genre", "actor", "collection",
            "thumb", "art"} <= item.locks
    assert item.poster_bytes == sandbox.stash.screenshot_bytes(scene)


def test_changed_scene_costs_one_get_one_put_and_one_upload_per_image(sandbox, runtime_for, clock):
    scene, key = sandbox.add_scene("Counted", tags=["a"])
    runtime = runtime_for(sync_background=False)
    runtime.plex.server.library.sections()  # connect and index outside the measured window
    runtime.index.build()
    sandbox.plex.reset_log()
    sync(runtime, scene, clock)
    calls = sorted((r.method, r.path) for r in sandbox.plex.requests)
    assert calls == [("GET", f"/library/metadata/{key}"), ("POST", f"/library/metadata/{key}/posters"),
                     ("PUT", "/library/sections/1/all")]


def test_second_sync_of_an_unchanged_scene_sends_nothing_to_plex(sandbox, runtime_for, clock):
    scene, _ = sandbox.add_scene("Same", tags=["a", "b"])
    runtime = runtime_for()
    sync(runtime, scene, clock)
    sandbox.plex.reset_log()
    assert sync(runtime, scene, clock).kind == "unchanged"
    assert sandbox.plex.requests == []


def test_removed_stash_tag_leaves_plex_and_hand_added_genre_survives(sandbox, runtime_for, clock):
    scene, key = sandbox.add_scene("Tags", tags=["keep", "drop"])
    runtime = runtime_for()
    sync(runtime, scene, clock)
    sandbox.plex.item(key)  # the user adds a genre in Plex by hand
    with sandbox.plex._lock:
        sandbox.plex.item(key).tags["genre"].append("Mine")
    sandbox.stash.update_scene(scene, tags=["keep"])
    sync(runtime, scene, clock)
    assert sandbox.plex.item(key).tag_names("genre") == ["keep", "Mine"]


def test_preserve_plex_edits_keeps_a_hand_edited_summary(sandbox, runtime_for, clock):
    scene, key = sandbox.add_scene("Kept", details="From Stash")
    sync(runtime_for(), scene, clock)
    runtime = runtime_for(preserve_plex_edits=True)
    with sandbox.plex._lock:
        sandbox.plex.item(key).fields["summary"] = "Written by hand in Plex"
    sandbox.stash.update_scene(scene, details="Changed in Stash", title="Kept 2")
    sync(runtime, scene, clock)
    item = sandbox.plex.item(key)
    assert item.fields["summary"] == "Written by hand in Plex" and item.fields["title"] == "Kept 2"


def test_same_file_name_in_two_folders_is_never_written_under_strict_matching(sandbox, runtime_for, clock):
    scene = sandbox.stash.add_scene(title="Twin", files=[(f"{STASH_ROOT}/elsewhere/twin.mp4", 777)])
    first = sandbox.plex.add_item(section=1, title="twin", files=[(f"{PLEX_ROOT}/a/twin.mp4", 777)])
    second = sandbox.plex.add_item(section=1, title="twin", files=[(f"{PLEX_ROOT}/b/twin.mp4", 777)])
    with pytest.raises(AmbiguousMatch, match="several have the same file name and size"):
        sync(runtime_for(), scene, clock)
    assert sandbox.plex.item(first).fields.get("summary") is None and sandbox.plex.count("PUT") == 0
    assert sandbox.plex.item(second).title == "twin"


def test_low_confidence_match_is_written_only_without_strict_matching(sandbox, runtime_for, clock):
    scene = sandbox.stash.add_scene(title="Moved", files=[(f"{STASH_ROOT}/old/moved.mp4", 555)])
    key = sandbox.plex.add_item(section=1, title="moved", files=[(f"{PLEX_ROOT}/new/moved.mp4", 555)])
    with pytest.raises(AmbiguousMatch, match="low-confidence"):
        sync(runtime_for(), scene, clock)
    outcome = sync(runtime_for(strict_matching=False), scene, clock)
    assert outcome.kind == "synced" and "low-confidence" in outcome.detail
    assert sandbox.plex.item(key).title == "Moved"


def test_windows_style_stash_paths_map_to_plex(sandbox, runtime_for, clock):
    scene = sandbox.stash.add_scene(title="Win", files=[("D:\\Videos\\Sub\\Clip.MP4", 42)])
    key = sandbox.plex.add_item(section=1, title="clip", files=[(f"{PLEX_ROOT}/Sub/Clip.MP4", 42)])
    sync(runtime_for(path_map=f"d:\\videos=>{PLEX_ROOT}"), scene, clock)
    assert sandbox.plex.item(key).title == "Win"


def test_match_cached_before_plex_rekeyed_the_item_is_re_resolved(sandbox, runtime_for, clock):
    scene, old_key = sandbox.add_scene("Rekeyed")
    runtime = runtime_for()
    sync(runtime, scene, clock)
    new_key = sandbox.plex.rekey_item(old_key)
    sandbox.stash.update_scene(scene, title="Rekeyed 2")
    outcome = sync(runtime, scene, clock)
    assert outcome.rating_key == new_key and sandbox.plex.item(new_key).title == "Rekeyed 2"


def test_new_file_is_scanned_then_synced_once_plex_has_it(sandbox, runtime_for, clock):
    scene = sandbox.stash.add_scene(title="Fresh", files=[(f"{STASH_ROOT}/new/fresh.mp4", 99)])
    sandbox.plex.scan_delay = 3600  # Plex takes its time
    sandbox.plex.add_pending_file(section=1, path=f"{PLEX_ROOT}/new/fresh.mp4", size=99, title="fresh")
    runtime = runtime_for()
    with pytest.raises(NotFoundYet):
        sync(runtime, scene, clock, event="create")
    assert sandbox.plex.scans == [(1, f"{PLEX_ROOT}/new", False)]
    sandbox.plex.scan_delay = 0
    sandbox.plex.update_scans = None
    sandbox.plex.add_pending_file(section=1, path=f"{PLEX_ROOT}/new/fresh.mp4", size=99, title="fresh")
    runtime.plex.scan(1, f"{PLEX_ROOT}/new")
    clock.advance(10)
    assert sync(runtime, scene, clock).kind == "synced"


def test_scene_deleted_in_stash_is_forgotten_and_never_deleted_in_plex(sandbox, runtime_for, clock):
    scene, key = sandbox.add_scene("Gone")
    runtime = runtime_for()
    sync(runtime, scene, clock)
    info = sandbox.stash.destroy_scene(scene, delete_file=True)
    outcome = sync(runtime, scene, clock, event="destroy", path=info["path"], delete_file=True)
    assert outcome.kind == "forgotten" and runtime.delivery.syncer.records.get(scene) is None
    assert sandbox.plex.item(key) is not None and sandbox.plex.count("DELETE") == 0


def test_preview_shows_match_and_diff_without_writing(sandbox, runtime_for, clock):
    from plexsync.preview import preview

    scene, key = sandbox.add_scene("Previewed", tags=["a", "b"])
    orphan = sandbox.stash.add_scene(title="Orphan", files=[(f"{STASH_ROOT}/orphan.mp4", 3)])
    runtime = runtime_for()
    results = {r["scene_id"]: r for r in preview(runtime, None)}
    item = sandbox.plex.item(key)
    assert results[scene]["match"] == {"rating_key": key, "confidence": "high", "file": item.files[0][0],
                                       "plex_title": item.title, "library": "Movies"}
    assert results[scene]["changes"]["title"]["stash"] == "Previewed"
    assert results[scene]["changes"]["genre"] == {"plex": [], "stash": ["a", "b"]}
    assert results[orphan]["match"] is None and "no item" in results[orphan]["reason"]
    assert sandbox.plex.count("PUT") + sandbox.plex.count("POST") == 0


def test_reindex_counts_items_and_unmapped_paths(sandbox, runtime_for):
    from plexsync.preview import reindex

    for n in range(3):
        sandbox.add_scene(f"Indexed {n}")
    sandbox.stash.add_scene(title="Unmapped", files=[("/elsewhere/x.mp4", 1)])
    report = reindex(runtime_for())
    assert report["sections"] == {"Movies": 3} and report["scenes"] == 4 and report["unmatched"] == 1
    assert report["examples"] == ["scene 4: /elsewhere/x.mp4"]


def test_obfuscate_paths_replaces_paths_with_stable_stand_ins(sandbox, runtime_for, clock):
    path = f"{STASH_ROOT}/private folder/holiday.mp4"
    scene = sandbox.stash.add_scene(title="Private", files=[(path, 4)])
    runtime = runtime_for(obfuscate_paths=True, trigger_plex_scan=False)
    messages = []
    for _ in range(2):
        with pytest.raises(NotFoundYet) as caught:
            sync(runtime, scene, clock)
        messages.append(str(caught.value))
    assert "private folder" not in messages[0] and "holiday" not in messages[0]
    assert "<path:" in messages[0] and ".mp4>" in messages[0] and messages[0] == messages[1]
