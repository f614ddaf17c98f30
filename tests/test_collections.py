"""Collections end to end: Stash groups and studios become Plex collections with poster, summary and order.

Through the Stash host (tasks and hooks run as Stash runs them), against the fake Plex's collection
objects; each test asserts what Plex holds and how many requests it took.
"""

import pytest
from helpers import wait_for

from plexsync.sandbox.world import PLEX_ROOT

COVER = b"\xff\xd8\xff\xe0 group cover %d"
CONNECT = ["/", "/library", "/library/sections"]  # a task's first Plex requests: connect, list the libraries
LOGO = b"\x89PNG studio logo %d"


@pytest.fixture
def host(sandbox):
    return sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1"})


def collection_requests(sandbox, keys: set) -> list:
    """(method, what) of every request about these collections, in order."""
    found = []
    for record in sandbox.plex.requests:
        parts = record.path.strip("/").split("/")
        if record.param("type") == "18" and record.method == "PUT" and int(record.param("id")) in keys:
            found.append(("PUT", "edit"))
        elif len(parts) > 2 and parts[1] == "metadata" and parts[2].isdigit() and int(parts[2]) in keys:
            found.append((record.method, "/".join(parts[3:4]) or "detail"))
    return found


def scene_puts(sandbox) -> int:
    return sum(1 for r in sandbox.plex.requests if r.method == "PUT" and r.path.endswith("/all") and r.param("type") == "1")


def test_groups_become_collections_with_cover_synopsis_and_order_set_once(sandbox, host):
    sandbox.configure(collections_from="group")
    saga = sandbox.stash.add_group("Saga", synopsis="A long story.", front_image=COVER % 1)
    duo = sandbox.stash.add_group("Duo", synopsis="Two parts.", front_image=COVER % 2)
    parts = {index: sandbox.add_scene(f"Part {index}", groups=[(saga, index)]) for index in (3, 1, 4, 2)}
    pair = [sandbox.add_scene(f"Duo {index}", groups=[(duo, index)]) for index in (2, 1)]
    result = host.run_task_by_mode("PlexSync", "sync_all")
    assert result.output["synced"] == 6 and result.output["collections"]["updated"] == 2
    held = sandbox.collections.by_title("Saga")
    assert held.poster_bytes == COVER % 1 and held.fields["summary"] == "A long story." and "summary" in held.locks
    assert held.collection_sort == 2 and sandbox.collections.members(held) == [parts[i][1] for i in (1, 2, 3, 4)]
    assert sandbox.collections.members(sandbox.collections.by_title("Duo")) == [pair[1][1], pair[0][1]]
    keys = {c.rating_key for c in sandbox.collections.all()}
    requests = collection_requests(sandbox, keys)
    for key in keys:  # one upload, one edit, the custom order once, one read of the members
        mine = collection_requests(sandbox, {key})
        assert mine.count(("POST", "posters")) == 1 and mine.count(("PUT", "edit")) == 1
        assert mine.count(("PUT", "prefs")) == 1 and mine.count(("GET", "children")) == 1
    assert len([r for r in requests if r == ("PUT", "items")]) <= 4  # moves only for what arrived out of order
    sandbox.plex.reset_log()
    again = host.run_task_by_mode("PlexSync", "sync_all").output
    assert again["synced"] == 0 and again["collections"] == {"updated": 0, "unchanged": 0, "deleted": 0, "failed": 0}
    assert [r.path for r in sandbox.plex.requests] == CONNECT  # nothing per scene, nothing per collection


def test_a_new_group_cover_reaches_plex_through_the_hook_with_no_scene_write(sandbox, host):
    sandbox.configure(collections_from="group")
    saga = sandbox.stash.add_group("Saga", synopsis="Story.", front_image=COVER % 1)
    for index in (1, 2):
        sandbox.add_scene(f"Part {index}", groups=[(saga, index)])
    host.run_task_by_mode("PlexSync", "sync_all")
    held = sandbox.collections.by_title("Saga")
    sandbox.plex.reset_log()
    sandbox.stash.update_group(saga, front_image=COVER % 9)
    results = host.fire_hooks("Group.Update.Post", saga, {"id": str(saga)}, ["id", "front_image"])
    assert [r.output for r in results] == ["queued"]
    assert wait_for(lambda: held.poster_bytes == COVER % 9)
    assert collection_requests(sandbox, {held.rating_key}) == [("POST", "posters")] and scene_puts(sandbox) == 0


def test_studio_and_parent_studio_collections_get_logo_and_details(sandbox, host):
    sandbox.configure(collections_from="studio, parent_studio")
    network = sandbox.stash.add_studio("Network", details="The network.", image=LOGO % 1)
    label = sandbox.stash.add_studio("Label", parent=network, details="A label.", image=LOGO % 2)
    scene, key = sandbox.add_scene("Scene", studio=label)
    host.run_task_by_mode("PlexSync", "sync_all")
    assert sandbox.plex.item(key).tag_names("collection") == ["Label", "Network"]
    assert sandbox.collections.by_title("Network").poster_bytes == LOGO % 1
    assert sandbox.collections.by_title("Label").fields["summary"] == "A label."
    assert sandbox.collections.by_title("Label").collection_sort == 0  # a studio keeps Plex's order
    assert scene


def test_a_collection_made_in_plex_is_never_edited_reordered_or_deleted(sandbox, host):
    mine = sandbox.plex.add_item(section=1, title="Hand picked", files=[(f"{PLEX_ROOT}/mine.mp4", 1)])
    made = sandbox.collections.add(1, "Studio A", [mine], summary="My own words")
    scene, key = sandbox.add_scene("Scene", studio=sandbox.stash.add_studio("Studio A", details="Stash words", image=LOGO % 1))
    host.run_task_by_mode("PlexSync", "sync_all")
    held = sandbox.collections.by_title("Studio A")
    assert held.rating_key == made and sandbox.collections.members(held) == [mine, key]  # the scene joins by title
    assert held.fields["summary"] == "My own words" and held.poster_bytes is None
    assert [r for r in collection_requests(sandbox, {made}) if r[0] != "GET"] == []
    sandbox.stash.update_scene(scene, studio=None)
    host.scene_update(scene, studio_id=None)
    assert wait_for(lambda: sandbox.plex.item(key).tag_names("collection") == [])
    host.run_task_by_mode("PlexSync", "process_queue")
    assert sandbox.collections.by_title("Studio A") is not None


def test_leaving_a_group_leaves_its_collection_and_an_emptied_one_is_deleted(sandbox, host):
    sandbox.configure(collections_from="group")
    saga = sandbox.stash.add_group("Saga", synopsis="Story.", front_image=COVER % 1)
    first, first_key = sandbox.add_scene("One", groups=[(saga, 1)])
    second, second_key = sandbox.add_scene("Two", groups=[(saga, 2)])
    host.run_task_by_mode("PlexSync", "sync_all")
    saga_key = sandbox.collections.by_title("Saga").rating_key
    host.scene_update(first, groups=[])
    assert wait_for(lambda: sandbox.collections.members(sandbox.collections.by_title("Saga")) == [second_key])
    sandbox.stash.destroy_group(saga)
    assert [r.output for r in host.fire_hooks("Group.Destroy.Post", saga, {"id": str(saga)}, None)] == ["queued"]
    assert wait_for(lambda: sandbox.collections.by_title("Saga") is None)
    assert sandbox.plex.item(second_key).tag_names("collection") == [] and ("DELETE", "detail") in collection_requests(sandbox, {saga_key})
    assert first_key


def test_a_renamed_group_becomes_a_new_collection_and_the_old_one_goes(sandbox, host):
    sandbox.configure(collections_from="group")
    saga = sandbox.stash.add_group("Saga", synopsis="Story.", front_image=COVER % 1)
    keys = [sandbox.add_scene(f"Part {i}", groups=[(saga, i)])[1] for i in (1, 2)]
    host.run_task_by_mode("PlexSync", "sync_all")
    sandbox.stash.update_group(saga, name="Saga Reborn")
    host.fire_hooks("Group.Update.Post", saga, {"id": str(saga), "name": "Saga Reborn"}, ["id", "name"])
    assert wait_for(lambda: sandbox.collections.by_title("Saga") is None and sandbox.collections.by_title("Saga Reborn") is not None)
    reborn = sandbox.collections.by_title("Saga Reborn")
    assert wait_for(lambda: reborn.poster_bytes == COVER % 1 and sandbox.collections.members(reborn) == keys)


def test_a_new_scene_order_moves_only_the_scenes_that_moved(sandbox, host):
    sandbox.configure(collections_from="group")
    saga = sandbox.stash.add_group("Saga", synopsis="Story.", front_image=COVER % 1)
    scenes = [sandbox.add_scene(f"Part {i}", groups=[(saga, i)]) for i in range(1, 7)]
    host.run_task_by_mode("PlexSync", "sync_all")
    held = sandbox.collections.by_title("Saga")
    sandbox.plex.reset_log()
    host.scene_update(scenes[5][0], groups=[{"group_id": str(saga), "scene_index": 0}])  # the last becomes the first
    assert wait_for(lambda: sandbox.collections.members(held)[0] == scenes[5][1])
    assert sandbox.collections.members(held) == [scenes[5][1]] + [key for _, key in scenes[:5]]
    assert collection_requests(sandbox, {held.rating_key}).count(("PUT", "items")) == 1


def test_reconcile_finds_a_changed_studio_description_and_the_worker_writes_it(sandbox, host):
    studio = sandbox.stash.add_studio("Studio A", details="Old words.", image=LOGO % 1)
    sandbox.add_scene("Scene", studio=studio)
    host.run_task_by_mode("PlexSync", "sync_all")
    sandbox.stash.update_studio(studio, details="New words.")  # no hook ran (the plugin was off)
    report = host.run_task_by_mode("PlexSync", "reconcile", {"scope": "all"}).output
    assert report["collections"]["stale"] == 1 and report["collections"]["queued"] == 1
    assert wait_for(lambda: sandbox.collections.by_title("Studio A").fields["summary"] == "New words.")


def test_preview_shows_what_would_change_in_the_scenes_collections(sandbox, host):
    sandbox.configure(collections_from="studio, group")
    saga = sandbox.stash.add_group("Saga", synopsis="Story.", front_image=COVER % 1)
    scene, _ = sandbox.add_scene("Part", studio="Studio A", groups=[(saga, 1)])
    preview = host.run_task_by_mode("PlexSync", "preview", {"scene_id": scene}).output[0]
    assert [(c["title"], c["state"]) for c in preview["collections"]] == [("Studio A", "new"), ("Saga", "new")]
    host.run_task_by_mode("PlexSync", "sync_all")
    sandbox.stash.update_group(saga, synopsis="A new synopsis.")
    preview = host.run_task_by_mode("PlexSync", "preview", {"scene_id": scene}).output[0]
    assert {c["title"]: c["changes"] for c in preview["collections"]}["Saga"] == ["poster (if the cover's bytes changed)", "summary"]


def test_sync_all_writes_only_the_collections_whose_stash_object_changed_while_no_hook_ran(sandbox, host):
    sandbox.configure(collections_from="studio, group")
    sagas = [sandbox.stash.add_group(f"Saga {n}", synopsis="Story.", front_image=COVER % n) for n in range(3)]
    studio = sandbox.stash.add_studio("Studio A", details="Old words.", image=LOGO % 1)
    for n, saga in enumerate(sagas):
        sandbox.add_scene(f"Part {n}", studio=studio, groups=[(saga, 1)])
    host.run_task_by_mode("PlexSync", "sync_all")
    keys = {c.rating_key for c in sandbox.collections.all()}
    sandbox.plex.reset_log()
    sandbox.stash.update_group(sagas[1], front_image=COVER % 9)
    sandbox.stash.update_studio(studio, details="New words.")
    output = host.run_task_by_mode("PlexSync", "sync_all").output
    assert output["synced"] == 0 and output["collections"]["updated"] == 2
    assert sorted(collection_requests(sandbox, keys)) == [("POST", "posters"), ("PUT", "edit")] and scene_puts(sandbox) == 0
    assert sandbox.collections.by_title("Saga 1").poster_bytes == COVER % 9
    assert sandbox.collections.by_title("Studio A").fields["summary"] == "New words."
