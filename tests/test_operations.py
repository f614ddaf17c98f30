"""The UI's operations (runPluginOperation modes) end to end: real plugin processes through the Stash host."""

import time

import pytest
import requests
from helpers import wait_for

from plexsync.deadletters import DeadLetters, remedy
from plexsync.jobs import JobQueue, new_job
from plexsync.operations import OPERATIONS
from plexsync.retries import RetrySchedule
from plexsync.sandbox.fake_plex import MACHINE_IDENTIFIER
from plexsync.sandbox.world import PLEX_ROOT, STASH_ROOT
from plexsync.scene_state import scene_state
from plexsync.state import StateDB, data_dir_for
from plexsync.tasks import MODES

STATUS_KEYS = {"scene_id", "state", "match", "last_sync", "queue", "dead_letters", "plex_breaker", "worker_running",
               "plex_web"}


@pytest.fixture
def host(sandbox):
    return sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1"})


def operation(host, mode, **args):
    result = host.run_operation("PlexSync", {"mode": mode, **{k: str(v) for k, v in args.items()}})
    assert result.returncode == 0
    return result


def _twin(sandbox, name="twin"):
    """A scene whose file name and size two Plex items share in other folders: always ambiguous."""
    scene = sandbox.stash.add_scene(title="Twin", files=[(f"{STASH_ROOT}/x/{name}.mp4", 9)])
    keys = [sandbox.plex.add_item(section=1, title=name, files=[(f"{PLEX_ROOT}/{folder}/{name}.mp4", 9)])
            for folder in ("a", "b")]
    return scene, keys


def test_scene_status_answers_from_local_files_without_asking_stash_or_plex(sandbox, host):
    scene, key = sandbox.add_scene("Local", tags=["t"])
    assert operation(host, "sync_scene", scene_id=scene).error is None
    sandbox.stash.reset_log()
    sandbox.plex.reset_log()
    result = operation(host, "scene_status", scene_id=scene)
    assert result.error is None and set(result.output) == STATUS_KEYS
    assert sandbox.stash.requests == [] and sandbox.plex.requests == []
    assert result.output["state"] == "synced"
    assert result.output["match"] == {"rating_key": key, "plex_file": sandbox.plex.item(key).files[0][0],
                                      "library": "Movies", "confidence": "high", "matched_by": "path"}
    assert result.output["last_sync"]["fields"] == {"title": "Local", "genre": ["t"]}
    assert result.output["plex_web"] == {"url": sandbox.plex.url, "machine_id": MACHINE_IDENTIFIER}


def test_scene_status_shows_the_rating_plex_and_stash_agree_on(sandbox, host):
    scene, key = sandbox.add_scene("Rated", rating100=80)
    assert operation(host, "sync_scene", scene_id=scene).error is None
    assert sandbox.playback.state(key)["userRating"] == 8.0
    assert operation(host, "scene_status", scene_id=scene).output["last_sync"]["fields"] == {"title": "Rated", "rating": 8.0}


def test_scene_status_names_where_the_scene_stands(data_dir, clock):
    db, queue = StateDB(data_dir), JobQueue(data_dir)
    try:
        assert scene_state(db, queue, 7, clock)["state"] == "never_synced"
        queue.put(new_job(7, "update", clock=clock))
        queue.put(new_job(7, "fanout_tag", clock=clock))  # tag 7, not scene 7
        state = scene_state(db, queue, 7, clock)
        assert state["state"] == "queued" and state["queue"]["waiting"] == 1
        queue.claim()
        assert scene_state(db, queue, 7, clock)["state"] == "syncing"
        RetrySchedule(db, clock).defer(new_job(7, "update", clock=clock), clock() + 60, "transient", "Plex timed out")
        retry = scene_state(db, queue, 7, clock)
        assert retry["state"] == "retrying" and retry["queue"]["retry"]["last_error"] == "Plex timed out"
        RetrySchedule(db, clock).defer(new_job(7, "update", clock=clock), clock() + 60, "transient", "down", held=True)
        assert scene_state(db, queue, 7, clock)["state"] == "held"
        DeadLetters(db, clock).bury(new_job(7, "fanout_tag", clock=clock), "permanent", "tag gone")
        assert scene_state(db, queue, 7, clock)["dead_letters"] == []
        DeadLetters(db, clock).bury(new_job(7, "update", clock=clock), "permanent", "several Plex items have the scene's files")
        dead = scene_state(db, queue, 7, clock)
        assert dead["state"] == "dead_letter"
        assert dead["dead_letters"][0]["remedy"].startswith("Fix path_map so the scene's full path matches exactly one")
    finally:
        queue.close()
        db.close()


def test_sync_scene_writes_plex_now_and_answers_the_outcome_line(sandbox, host):
    scene, key = sandbox.add_scene("Before")
    sandbox.stash.update_scene(scene, title="After")  # no hook fired: only Sync now carries it
    result = operation(host, "sync_scene", scene_id=scene)
    assert result.error is None
    assert result.output["result"] == "synced" and result.output["line"].startswith(f'synced scene {scene} "After" -> Plex {key}:')
    assert result.output["status"]["state"] == "synced"
    assert sandbox.plex.item(key).title == "After"
    assert result.output["line"] in result.lines("info")  # the same line Stash's log shows


def test_sync_scene_rewrites_what_was_changed_in_plex_even_when_stash_did_not_change(sandbox, host):
    scene, key = sandbox.add_scene("Mine")
    operation(host, "sync_scene", scene_id=scene)
    sandbox.plex.item(key).fields["title"] = "Edited in Plex"
    result = operation(host, "sync_scene", scene_id=scene)
    assert result.output["result"] == "synced" and sandbox.plex.item(key).title == "Mine"


def test_a_failing_sync_now_is_dead_lettered_with_its_fix_like_the_worker_would(sandbox, host):
    scene, _ = _twin(sandbox)
    result = operation(host, "sync_scene", scene_id=scene)
    assert result.error is None and result.output["result"] == "dead" and result.output["error_class"] == "permanent"
    assert f"scene {scene}" in result.output["line"] and "not synced (permanent)" in result.output["line"]
    letters = result.output["status"]["dead_letters"]
    assert len(letters) == 1 and "several have the same file name and size" in letters[0]["reason"]
    again = operation(host, "sync_scene", scene_id=scene).output
    assert len(again["status"]["dead_letters"]) == 1  # the new outcome replaces the old letter


def test_retry_dead_letter_runs_a_scene_now_and_queues_a_fan_out(sandbox, host):
    scene, keys = _twin(sandbox)
    letter = operation(host, "sync_scene", scene_id=scene).output["status"]["dead_letters"][0]
    sandbox.configure(path_map=f"{STASH_ROOT}=>{PLEX_ROOT}; {STASH_ROOT}/x=>{PLEX_ROOT}/a")  # the fix it names
    result = operation(host, "retry_dead_letter", id=letter["id"])
    assert result.error is None and result.output["id"] == letter["id"] and result.output["result"] == "synced"
    assert sandbox.plex.item(keys[0]).title == "Twin" and result.output["status"]["dead_letters"] == []
    db = StateDB(sandbox.data_dir)
    DeadLetters(db).bury(new_job(99, "fanout_tag"), "transient", "Stash unreachable (gave up after 5 tries)")
    fan_out = DeadLetters(db).list()[0].id
    db.close()
    queued = operation(host, "retry_dead_letter", id=fan_out)
    assert queued.output["result"] == "queued" and queued.output["line"].startswith("tag:99: queued again")
    assert wait_for(lambda: operation(host, "overview").output["status"]["dead_letters"] == 0)


def test_bad_ids_and_unknown_letters_are_one_clear_error(sandbox, host):
    assert operation(host, "scene_status", scene_id="abc").error == "args.scene_id must be a positive integer, got 'abc'"
    assert operation(host, "scene_status").error == "args.scene_id must be a positive integer, got 'None'"
    assert operation(host, "retry_dead_letter", id=42).error == "there is no dead letter 42 (already retried or cleared)"
    assert operation(host, "scene_diff", scene_id=999).error == "Stash has no scene 999"
    assert operation(host, "bogus").error.startswith("unknown task mode 'bogus'")


def test_scene_diff_shows_what_a_sync_would_change_and_writes_nothing(sandbox, host):
    scene, key = sandbox.add_scene("Compared", tags=["x"])
    result = operation(host, "scene_diff", scene_id=scene)
    assert result.error is None
    assert result.output["match"]["rating_key"] == key and result.output["match"]["library"] == "Movies"
    assert result.output["changes"]["title"] == {"plex": sandbox.plex.item(key).title, "stash": "Compared"}
    assert "titleSort" not in result.output["changes"]  # follows the title: not a field the user sets
    assert sandbox.plex.count("PUT") + sandbox.plex.count("POST") == 0
    assert not any("would change" in line for line in result.lines())  # no preview block per view


def test_sync_now_while_plex_is_down_holds_the_scene_and_the_worker_delivers_it_later(sandbox, host):
    scene, key = sandbox.add_scene("Unreachable")
    sandbox.plex.stop()
    result = operation(host, "sync_scene", scene_id=scene)
    assert result.error is None and result.output["result"] == "held"
    assert result.output["line"].startswith(f"scene {scene}: held until Plex or Stash answers again: Plex unreachable")
    assert result.output["status"]["state"] == "held"
    diff = operation(host, "scene_diff", scene_id=scene).output
    assert diff["match"] is None and diff["error_class"] == "transient" and "Plex unreachable" in diff["reason"]
    sandbox.plex.restart()
    assert wait_for(lambda: sandbox.plex.item(key).title == "Unreachable")


def test_sync_scene_takes_the_queue_over_from_a_running_worker_and_restarts_it(sandbox):
    busy = sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "30"})
    scene, key = sandbox.add_scene("Busy")
    busy.scene_update(scene, title="Busy 2")
    assert wait_for(lambda: sandbox.plex.item(key).title == "Busy 2")
    worker = sandbox.worker_pid()
    db = StateDB(data_dir_for(str(sandbox.plugin_dir)))
    RetrySchedule(db).defer(new_job(scene + 1, "update"), time.time() + 600, "transient", "later")  # work left over
    db.close()
    result = operation(busy, "sync_scene", scene_id=scene)
    assert result.error is None and result.output["result"] == "synced"
    assert wait_for(lambda: sandbox.worker_pid() not in (None, worker))  # handed over, and a new one took the rest


def test_overview_answers_from_local_files(sandbox, host):
    scene, _ = sandbox.add_scene("Counted")
    operation(host, "sync_scene", scene_id=scene)
    twin, _ = _twin(sandbox)
    operation(host, "sync_scene", scene_id=twin)
    assert host.run_task_by_mode("PlexSync", "reconcile", {"dry_run": "true"}).error is None
    assert host.run_task_by_mode("PlexSync", "health").error is None
    sandbox.stash.reset_log()
    sandbox.plex.reset_log()
    result = operation(host, "overview", days=2)
    assert sandbox.stash.requests == [] and sandbox.plex.requests == []
    out = result.output
    assert set(out) == {"status", "dead_letters", "last_reconcile", "health", "syncs_per_hour", "generated_at"}
    assert out["status"]["dead_letters"] == 1 and out["dead_letters"][0]["scene_id"] == twin
    assert out["dead_letters"][0]["remedy"].startswith("Fix path_map")
    assert out["last_reconcile"]["ambiguous"] == 1 and out["last_reconcile"]["examples"]["ambiguous"][0].startswith(f"scene {twin}")
    assert out["health"]["ok"] is True and [c["name"] for c in out["health"]["checks"]][0] == "stash"
    assert len(out["syncs_per_hour"]) == 48 and out["syncs_per_hour"][-1]["synced"] == 1
    assert sum(hour["synced"] for hour in out["syncs_per_hour"]) == 1


def test_dead_letters_clear_one_by_id(sandbox, host):
    first, _ = _twin(sandbox, "one")
    second, _ = _twin(sandbox, "two")
    ids = [operation(host, "sync_scene", scene_id=s).output["status"]["dead_letters"][0]["id"] for s in (first, second)]
    assert host.run_task_by_mode("PlexSync", "dlq_clear", {"id": str(ids[0])}).output == {"deleted": 1}
    assert [row["id"] for row in operation(host, "overview").output["dead_letters"]] == [ids[1]]


def test_operations_are_not_tasks():
    assert not set(OPERATIONS) & set(MODES)


@pytest.mark.parametrize("error_class, message, words", [
    ("permanent", "only a low-confidence match (same file name and size, other folder): 5: x", "strict_matching off"),
    ("permanent", "Plex refused the token (401) while reading", "plex_token"),
    ("permanent", "/media/x.mp4 is in no Plex library folder (/m): set path_map", "maps into a Plex library folder"),
    ("not_found", "Plex has no item for /x yet (gave up after 12 tries)", "Rebuild library index"),
    ("transient", "Plex timed out (gave up after 5 tries)", "Health check"),
    ("bug", "KeyError: 'x'", "report it"),
])
def test_every_dead_letter_gets_a_fix_in_words(error_class, message, words):
    assert words in remedy(error_class, message)


def test_the_fake_stash_answers_run_plugin_operation_like_stash(sandbox):
    runner = sandbox.serve_operations(env={"PLEXSYNC_IDLE_EXIT": "1"})
    scene, _ = sandbox.add_scene("Over GraphQL")
    query = "mutation Op($id: ID!, $args: Map) { runPluginOperation(plugin_id: $id, args: $args) }"
    ok = requests.post(f"{sandbox.stash.url}/graphql", json={"query": query, "variables": {
        "id": "PlexSync", "args": {"mode": "scene_status", "scene_id": str(scene)}}}, timeout=60).json()
    assert ok["data"]["runPluginOperation"]["state"] == "never_synced"
    bad = requests.post(f"{sandbox.stash.url}/graphql", json={"query": query, "variables": {
        "id": "PlexSync", "args": {"mode": "scene_status", "scene_id": "x"}}}, timeout=60).json()
    assert bad["data"] == {"runPluginOperation": None}
    assert bad["errors"][0]["message"] == "args.scene_id must be a positive integer, got 'x'"
    assert bad["errors"][0]["path"] == ["runPluginOperation"]
    assert runner.modes() == ["scene_status", "scene_status"]
    started = time.monotonic()
    missing = requests.post(f"{sandbox.stash.url}/graphql", json={"query": query, "variables": {"id": "Nope"}},
                            timeout=60).json()
    assert missing["errors"][0]["message"] == "plugin with id Nope not found" and time.monotonic() - started < 5


def test_scene_status_tells_a_match_by_the_metadata_provider(data_dir, clock):
    from plexsync.records import SyncRecord, SyncRecords

    db, queue = StateDB(data_dir), JobQueue(data_dir)
    try:
        note = {"by": "provider", "confidence": "guid", "library": "Movies"}
        SyncRecords(db, clock).save(SyncRecord(9, 501, "/media/a.mp4", clock(), clock(), "fp", {"title": "A", "match": note}))
        state = scene_state(db, queue, 9, clock)
        assert state["match"] == {"rating_key": 501, "plex_file": "/media/a.mp4", "library": "Movies",
                                  "confidence": "guid", "matched_by": "provider"}
        assert state["last_sync"]["fields"] == {"title": "A"} and state["state"] == "synced"
    finally:
        queue.close()
        db.close()
