"""The hook as Stash runs it (real processes through the Stash host): bad input, no network, no heavy imports."""

import json
import os
import subprocess

import pytest

from plexsync.hook import HOOK_SETTINGS_KEY
from plexsync.jobs import JobQueue
from plexsync.lease import Lease
from plexsync.state import StateDB, data_dir_for

HOOK_ARGS = {"mode": "hook"}


@pytest.fixture
def host(sandbox):
    """A host whose hooks find a live worker (this test process holds the lease), so none is spawned."""
    Lease(StateDB(data_dir_for(str(sandbox.plugin_dir))), token="test-holds-the-lease").acquire(pid=os.getpid(), ttl=3600)
    return sandbox.host()


def raw_run(host, data: bytes):
    """Spawn the hook exactly as Stash would, but with arbitrary stdin bytes."""
    plugin = host.plugin("PlexSync")
    argv, env = host.command(plugin, plugin.config["hooks"][0])
    return subprocess.run(argv, input=data, capture_output=True, env=env, cwd=host.cwd, timeout=60)


def pending(sandbox) -> int:
    queue = JobQueue(data_dir_for(str(sandbox.plugin_dir)))
    try:
        return queue.pending()
    finally:
        queue.close()


def stdin_for(sandbox, context) -> bytes:
    connection = sandbox.stash.server_connection(str(sandbox.plugin_dir))
    return json.dumps({"server_connection": connection, "args": {**HOOK_ARGS, "hookContext": context}}).encode()


def assert_one_json_object_and_prefixed_logs(done) -> dict:
    assert done.returncode == 0
    answer = json.loads(done.stdout)
    assert isinstance(answer, dict) and set(answer) <= {"output", "error"}
    for line in done.stderr.decode("utf-8").splitlines():
        assert line[:1] == "\x01" and line[2:3] == "\x02", line
    assert b"Traceback" not in done.stderr
    return answer


@pytest.mark.parametrize("name, data, error", [
    ("empty stdin", b"", "plugin input is empty"),
    ("invalid JSON", b'{"server_connection": ', "not valid JSON"),
    ("JSON array", b"[]", "must be a JSON object"),
    ("missing args", b'{"server_connection": {}}', "no 'args' object"),
])
def test_unusable_stdin_gets_one_clear_error(sandbox, host, name, data, error):
    answer = assert_one_json_object_and_prefixed_logs(raw_run(host, data))
    assert error in answer["error"]
    assert pending(sandbox) == 0


@pytest.mark.parametrize("context, error", [
    (None, "no hookContext"),
    ({"id": "45", "type": "Scene.Update.Post"}, 'hookContext.id must be a positive integer id, got "45"'),
    ({"id": -3, "type": "Scene.Update.Post"}, "hookContext.id must be a positive integer"),
    ({"id": 4, "type": "Scene.Merge.Post"}, 'unsupported hook trigger "Scene.Merge.Post"'),
])
def test_bad_hook_context_gets_one_clear_error_and_queues_nothing(sandbox, host, context, error):
    data = stdin_for(sandbox, context)
    if context is None:
        payload = json.loads(data)
        del payload["args"]["hookContext"]
        data = json.dumps(payload).encode()
    answer = assert_one_json_object_and_prefixed_logs(raw_run(host, data))
    assert error in answer["error"]
    assert pending(sandbox) == 0


def test_huge_cover_image_and_hostile_text_are_queued_once(sandbox, host):
    scene, _ = sandbox.add_scene("Plain")
    cover = "data:image/jpeg;base64," + "A" * (5 * 1024 * 1024)
    hostile = "\u202eevil\u202c \x1b[31mred\x07 \u0000 line\nbreak \u05e9\u05dc\u05d5\u05dd"
    results = host.scene_update(scene, title=hostile, details=hostile)
    assert [r.output for r in results] == ["queued"] and all(r.error is None for r in results)
    data = stdin_for(sandbox, {"id": scene, "type": "Scene.Update.Post",
                               "input": {"id": str(scene), "cover_image": cover, "title": hostile},
                               "inputFields": ["id", "cover_image", "title"]})
    answer = assert_one_json_object_and_prefixed_logs(raw_run(host, data))
    assert answer == {"output": "queued"}
    assert pending(sandbox) == 2


def test_organized_only_updates_are_skipped(sandbox, host):
    scene, _ = sandbox.add_scene("Organized")
    results = host.scene_update(scene, organized=True) + host.scene_update(scene, o_counter=3)
    assert [r.output for r in results] == ["skipped", "skipped"]
    assert pending(sandbox) == 0


def test_a_rating_only_update_is_queued_while_sync_rating_is_on_and_skipped_once_it_is_off(sandbox, host):
    scene, _ = sandbox.add_scene("Rated")
    assert [r.output for r in host.scene_update(scene, rating100=80)] == ["queued"]  # never cached: the default, on
    db = StateDB(data_dir_for(str(sandbox.plugin_dir)))
    db.put(HOOK_SETTINGS_KEY, {"sync_rating": False})  # what a process that read the settings from Stash caches
    db.close()
    assert [r.output for r in host.scene_update(scene, rating100=60)] == ["skipped"]
    assert [r.output for r in host.scene_update(scene, rating100=40, title="Rated 2")] == ["queued"]
    assert pending(sandbox) == 2 and sandbox.stash.requests == []


def test_hooks_queue_every_trigger_without_any_network_request(sandbox, host):
    scene, _ = sandbox.add_scene("Quiet")
    created, results = host.scene_create(title="New", files=[("/data/videos/new.mp4", 5)])
    results += host.scene_update(scene, title="Changed")
    results += host.bulk_scene_update([scene, created], tag_ids_add=[str(sandbox.stash.add_tag("Bulk"))])
    results += host.scene_destroy(created, delete_file=True)
    assert [r.output for r in results] == ["queued"] * 5
    assert sandbox.stash.requests == [] and sandbox.plex.requests == []
    jobs = JobQueue(data_dir_for(str(sandbox.plugin_dir))).waiting_jobs()
    assert [(j.scene_id, j.event) for j in jobs] == [(created, "create"), (scene, "update"), (scene, "update"),
                                                     (created, "update"), (created, "destroy")]
    assert jobs[-1].path == "/data/videos/new.mp4" and jobs[-1].delete_file is True


def test_hook_process_imports_no_heavy_library(sandbox, host):
    host_env = sandbox.host(env={"PYTHONPROFILEIMPORTTIME": "1"})
    scene, _ = sandbox.add_scene("Light")
    result = host_env.scene_update(scene, title="Light 2")[0]
    assert result.output == "queued"
    imported = {line.split("|")[-1].strip() for line in result.lines() if line.startswith("import time:")}
    assert "persistqueue" in imported and "plexsync.hook" in imported
    heavy = {name for name in imported if name.split(".")[0] in ("plexapi", "requests", "tenacity", "pydantic", "urllib3")}
    assert heavy == set()


def test_group_and_studio_hooks_queue_scenes_or_only_the_collection(sandbox, host):
    fired = [
        ("Group.Update.Post", 7, ["id", "synopsis"]), ("Group.Update.Post", 7, ["id", "name"]),
        ("Movie.Update.Post", 7, ["id", "front_image"]), ("Group.Destroy.Post", 8, None),
        ("Studio.Update.Post", 3, ["id", "image"]), ("Studio.Update.Post", 3, ["id", "parent_id"]),
        ("Tag.Update.Post", 5, ["id", "parent_ids"]), ("Performer.Update.Post", 2, ["id", "image"]),
    ]
    results = [r for trigger, object_id, fields in fired for r in host.fire_hooks(trigger, object_id, {"id": str(object_id)}, fields)]
    skipped = host.fire_hooks("Group.Update.Post", 7, {"id": "7", "rating100": 80}, ["id", "rating100"])
    skipped += host.fire_hooks("Studio.Update.Post", 3, {"id": "3", "url": "x"}, ["id", "url"])
    assert [r.output for r in results] == ["queued"] * len(fired) and [r.output for r in skipped] == ["skipped"] * 2
    jobs = JobQueue(data_dir_for(str(sandbox.plugin_dir))).waiting_jobs()
    assert [(j.scene_id, j.event) for j in jobs] == [
        (7, "collection_group"), (7, "fanout_group"), (7, "collection_group"), (8, "fanout_group"),
        (3, "collection_studio"), (3, "fanout_studio"), (5, "fanout_tag"), (2, "fanout_performer")]
    assert sandbox.stash.requests == [] and sandbox.plex.requests == []


def test_the_organized_button_counts_only_with_only_organized(sandbox, host):
    scene, _ = sandbox.add_scene("Marked")
    assert [r.output for r in host.scene_update(scene, organized=True)] == ["skipped"]
    sandbox.configure(only_organized=True)
    assert host.run_task_by_mode("PlexSync", "reindex").error is None  # a task reads the settings once
    assert [r.output for r in host.scene_update(scene, organized=True)] == ["queued"]
    assert [r.output for r in host.scene_update(scene, o_counter=2)] == ["skipped"]
    assert [r.output for r in host.scene_update(scene, rating100=20)] == ["queued"]  # sync_rating (on) sends ratings
