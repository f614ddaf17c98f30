"""Renames, merges and deletes of performers, studios and tags reach Plex through fan-out hooks."""

import pytest
from helpers import wait_for


@pytest.fixture
def host(sandbox):
    return sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1"})


def test_renamed_performer_reaches_every_scene_that_uses_it(sandbox, host):
    performer = sandbox.stash.add_performer("Old Name")
    used = [sandbox.add_scene(f"With {n}", performers=[performer, "Other"]) for n in range(15)]
    unrelated, other_key = sandbox.add_scene("Without", performers=["Other"])
    assert host.run_task_by_mode("PlexSync", "sync_all").output["synced"] == 16
    sandbox.plex.reset_log()
    sandbox.stash.rename_performer(performer, "New Name")
    results = host.fire_hooks("Performer.Update.Post", performer, {"id": str(performer), "name": "New Name"}, ["id", "name"])
    assert [r.output for r in results] == ["queued"]
    assert wait_for(lambda: all(sandbox.plex.item(k).tag_names("actor") == ["New Name", "Other"] for _, k in used))
    assert not any(r.param("id") == str(other_key) for r in sandbox.plex.requests if r.method == "PUT")
    assert unrelated


def test_deleted_tag_is_removed_from_the_scenes_plexsync_wrote_it_to(sandbox, host):
    tag = sandbox.stash.add_tag("Doomed")
    scenes = [sandbox.add_scene(f"Tagged {n}", tags=[tag, "Keep"]) for n in range(5)]
    host.run_task_by_mode("PlexSync", "sync_all")
    sandbox.stash.destroy_tag(tag)
    results = host.fire_hooks("Tag.Destroy.Post", tag, {"id": str(tag)}, None)
    assert [r.output for r in results] == ["queued"]
    assert wait_for(lambda: all(sandbox.plex.item(k).tag_names("genre") == ["Keep"] for _, k in scenes))


def test_updates_that_do_not_touch_the_name_are_skipped(sandbox, host):
    performer = sandbox.stash.add_performer("Same")
    results = host.fire_hooks("Performer.Update.Post", performer, {"id": str(performer), "favorite": True}, ["id", "favorite"])
    assert [r.output for r in results] == ["skipped"]
