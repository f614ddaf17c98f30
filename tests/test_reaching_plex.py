"""What reaches Plex under each setting of issue 15, end to end through the Stash host.

Performer photos (no secret in any URL), namesakes, tag routing, what is not synced, missing files
under ``missing_in_plex: ignore`` and title templates; each test asserts what the fake Plex holds and
how many edits it took.
"""

import pytest
import requests
from helpers import puts_per_item, wait_for

from plexsync.imagelinks import ImageLinks, derived_key
from plexsync.sandbox.world import PLEX_TOKEN, Sandbox

PHOTO = b"\xff\xd8\xff\xe0 performer photo %d"
API_KEY = "stash-api-key-for-photos-0123456789"
PUBLIC = "https://plexsync.example.org"


@pytest.fixture
def host(sandbox):
    return sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1"})


def actors(sandbox, key) -> list:
    return [(a["tag"], a.get("thumb")) for a in sandbox.plex.item(key).tags["actor"]]


def log_text(results) -> str:
    return "\n".join(line for result in results for _, line in result.logs)


def test_without_stash_authentication_photos_are_stashs_own_urls_and_namesakes_stay_apart(sandbox, host):
    sandbox.configure(sync_performer_photos=True)
    jane = sandbox.stash.add_performer("Jane", image=PHOTO % 1)
    jane_uk = sandbox.stash.add_performer("Jane", disambiguation="UK", image=PHOTO % 2)
    plain = sandbox.stash.add_performer("No Photo")
    scene, first = sandbox.add_scene("First", performers=[jane, plain])
    _, second = sandbox.add_scene("Second", performers=[jane_uk])
    photos = host.run_task_by_mode("PlexSync", "preview", {"scene_id": scene}).output[0]["changes"]["photos"]
    assert list(photos["stash"]) == ["Jane"] and photos["plex"] == {"Jane": ""}  # preview shows the photo to come
    assert host.run_task_by_mode("PlexSync", "sync_all").output["synced"] == 2
    [(name, url), (other, none)] = actors(sandbox, first)
    assert (name, other, none) == ("Jane", "No Photo", None)
    assert url.startswith(f"{sandbox.stash.url}/performer/{jane}/image?t=") and "apikey" not in url
    [(uk_name, uk_url)] = actors(sandbox, second)
    assert uk_name == "Jane (UK)" and uk_url.startswith(f"{sandbox.stash.url}/performer/{jane_uk}/image?t=")
    assert requests.get(url, timeout=5).content == PHOTO % 1  # Plex fetches it as it is, with no credentials
    assert puts_per_item(sandbox) == {first: 1, second: 1}  # the photos travel in the scene's one edit


def test_with_stash_authentication_photos_go_through_the_providers_signed_route(tmp_path):
    with Sandbox(root=tmp_path / "s", stash_options={"api_key": API_KEY, "require_auth": True},
                 settings={"sync_performer_photos": True}) as sandbox:
        host = sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1", "PLEXSYNC_PUBLIC_URL": PUBLIC})
        jane = sandbox.stash.add_performer("Jane", image=PHOTO % 1)
        _, key = sandbox.add_scene("Scene", performers=[jane])
        host.run_task_by_mode("PlexSync", "sync_all")
        [(name, url)] = actors(sandbox, key)
        assert url.startswith(f"{PUBLIC}/images/performer/{jane}?v=") and "&sig=" in url
        version, signature = url.split("?v=")[1].split("&sig=")
        assert ImageLinks(PUBLIC, derived_key(API_KEY)).valid("performer", jane, version, signature)
        held = str(sandbox.plex.items()) + str(sandbox.plex.requests)
        assert API_KEY not in held and sandbox.stash.session_cookie not in held and PLEX_TOKEN not in url


def test_with_stash_authentication_and_no_public_url_there_is_no_photo_said_once(tmp_path):
    with Sandbox(root=tmp_path / "s", stash_options={"api_key": API_KEY, "require_auth": True},
                 settings={"sync_performer_photos": True}) as sandbox:
        host = sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1"})
        jane = sandbox.stash.add_performer("Jane", image=PHOTO % 1)
        scene, key = sandbox.add_scene("Scene", performers=[jane])
        runs = [host.run_task_by_mode("PlexSync", "sync_all")]
        sandbox.stash.update_scene(scene, title="Scene 2")
        runs.append(host.run_task_by_mode("PlexSync", "sync_all"))
        assert actors(sandbox, key) == [("Jane", None)] and sandbox.plex.item(key).title == "Scene 2"
        said = [line for line in log_text(runs).splitlines() if "performer photos: none are sent" in line]
        assert len(said) == 1 and "PLEXSYNC_PUBLIC_URL" in said[0] and API_KEY not in log_text(runs)


def test_tag_routing_excludes_descendants_labels_a_subtree_and_a_change_resyncs_only_those_scenes(sandbox, host):
    stash = sandbox.stash
    workflow = stash.add_tag("Workflow")
    todo = stash.add_tag("Todo", parents=[workflow])
    later = stash.add_tag("Todo later", parents=[todo])
    rope = stash.add_tag("Rope", parents=[stash.add_tag("Kinks")])
    sandbox.configure(exclude_tags="workflow", label_tags="Kinks")
    _, routed = sandbox.add_scene("Routed", tags=["Plain", later, rope, todo])
    _, plain = sandbox.add_scene("Plain only", tags=["Plain"])
    host.run_task_by_mode("PlexSync", "sync_all")
    item = sandbox.plex.item(routed)
    assert item.tag_names("genre") == ["Plain"] and item.tag_names("label") == ["Rope"]
    assert sandbox.plex.item(plain).tag_names("genre") == ["Plain"] and sandbox.plex.item(plain).tag_names("label") == []
    sandbox.plex.reset_log()
    sandbox.configure(exclude_tags="workflow")  # labels back to genres
    result = host.run_task_by_mode("PlexSync", "sync_all").output
    assert result["synced"] == 1 and puts_per_item(sandbox) == {routed: 1}
    assert item.tag_names("genre") == ["Plain", "Rope"] and item.tag_names("label") == []


def test_unorganized_and_skip_tagged_scenes_are_left_as_they_are_in_plex(sandbox, host):
    sandbox.configure(only_organized=True, skip_scene_tags="Private")
    organized, kept = sandbox.add_scene("Organized", organized=True)
    _, loose = sandbox.add_scene("Loose", organized=False)
    _, private = sandbox.add_scene("Private one", organized=True, tags=["Private"])
    output = host.run_task_by_mode("PlexSync", "sync_all").output
    assert (output["synced"], output["skipped"]) == (1, 2) and set(puts_per_item(sandbox)) == {kept}
    assert sandbox.plex.item(loose).title != "Loose" and sandbox.plex.item(private).title != "Private one"
    tag = sandbox.stash.add_tag("private")
    results = host.scene_update(organized, title="Renamed later", tag_ids=[str(tag)])
    assert [r.output for r in results] == ["queued"]
    host.run_task_by_mode("PlexSync", "process_queue")
    assert sandbox.plex.item(kept).title == "Organized"  # gained a skip tag: not erased, not changed
    report = host.run_task_by_mode("PlexSync", "reconcile", {"scope": "all", "dry_run": True}).output
    assert report["excluded"] == 3 and report["queued"] == 0


def test_missing_in_plex_ignore_records_once_and_never_retries_or_dead_letters(sandbox):
    host = sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1", "PLEXSYNC_TIME_SCALE": "0.05"})
    sandbox.configure(missing_in_plex="ignore")
    outside = sandbox.stash.add_scene(title="Elsewhere", files=[("/archive/elsewhere.mp4", 5)])
    inside, _ = sandbox.add_scene("Not scanned", in_plex=False)
    results = host.scene_update(outside, title="Elsewhere 2") + host.scene_update(inside, title="Not scanned 2")
    assert [r.output for r in results] == ["queued", "queued"]
    assert wait_for(lambda: host.run_task_by_mode("PlexSync", "status").output["missing_in_plex"] == 2, 60)
    status = host.run_task_by_mode("PlexSync", "status").output
    assert status["in_retry"] == 0 and status["dead_letters"] == 0
    assert len(sandbox.plex.scans) == 1  # only the file inside a library folder asked for a scan
    again = host.run_task_by_mode("PlexSync", "sync_all")
    assert again.output["not_found"] == 2 and host.run_task_by_mode("PlexSync", "status").output["dead_letters"] == 0
    recorded = [line for line in log_text([again, host.run_task_by_mode("PlexSync", "log")]).splitlines()
                if "recorded, not retried" in line]
    assert len(recorded) == 2  # once per scene, from the first time only
    report = host.run_task_by_mode("PlexSync", "reconcile", {"scope": "all", "dry_run": True}).output
    assert report["missing_in_plex"] == 2
    sandbox.configure(missing_in_plex="retry")  # switched back: the records go, the scenes are tried again
    retried = host.run_task_by_mode("PlexSync", "sync_all").output
    assert (retried["not_found"], retried["failed"]) == (1, 1)  # the file outside every library folder fails
    assert host.run_task_by_mode("PlexSync", "status").output["missing_in_plex"] == 0


def test_title_template_titles_every_scene_and_drops_missing_fields_cleanly(sandbox, host):
    sandbox.configure(title_template="{studio} - {title} ({date})")
    _, full = sandbox.add_scene("Full", studio="Studio A", date="2024-05-01")
    _, bare = sandbox.add_scene("Bare")
    _, untitled = sandbox.add_scene(None, studio="Studio B", file_name="clip01.mp4")
    host.run_task_by_mode("PlexSync", "sync_all")
    assert sandbox.plex.item(full).title == "Studio A - Full (2024-05-01)"
    assert sandbox.plex.item(bare).title == "Bare" and sandbox.plex.item(untitled).title == "Studio B - clip01"
    assert sandbox.plex.item(full).fields["titleSort"] == "Studio A - Full (2024-05-01)"
    sandbox.plex.reset_log()
    sandbox.configure(title_template="{title}")
    assert host.run_task_by_mode("PlexSync", "sync_all").output["synced"] == 2  # the bare one is unchanged
    assert sandbox.plex.item(full).title == "Full"
