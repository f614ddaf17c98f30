"""Tasks end to end through the Stash host (real processes): progress, output keys, counts."""

import time
from datetime import datetime, timedelta, timezone

import pytest
from helpers import wait_for

from plexsync.jobs import JobQueue, new_job
from plexsync.sandbox.world import PLEX_ROOT, STASH_ROOT
from plexsync.state import data_dir_for

SYNC_KEYS = {"scanned", "queued", "synced", "unchanged", "not_found", "ambiguous", "failed", "skipped", "collections"}
NO_COLLECTIONS = {"updated": 0, "unchanged": 0, "deleted": 0, "failed": 0}


@pytest.fixture
def host(sandbox):
    return sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1"})


def assert_progress_rises_to_one(result):
    assert result.error is None, result.error
    assert result.progress and result.progress == sorted(result.progress)
    assert result.progress[0] < 0.5 and result.progress[-1] == 1.0


def test_sync_all_reports_counts_and_progress_then_nothing_on_a_second_run(sandbox, host):
    synced = [sandbox.add_scene(f"All {n}", tags=["t"]) for n in range(230)]
    missing = [sandbox.add_scene(f"Missing {n}", in_plex=False)[0] for n in range(5)]
    twin = sandbox.stash.add_scene(title="Twin", files=[(f"{STASH_ROOT}/x/twin.mp4", 9)])
    for folder in ("a", "b"):
        sandbox.plex.add_item(section=1, title="twin", files=[(f"{PLEX_ROOT}/{folder}/twin.mp4", 9)])
    result = host.run_task_by_mode("PlexSync", "sync_all")
    assert_progress_rises_to_one(result)
    assert set(result.output) == SYNC_KEYS
    assert result.output == {"scanned": 236, "queued": 236, "synced": 230, "unchanged": 0, "not_found": 5,
                             "ambiguous": 1, "failed": 0, "skipped": 0, "collections": NO_COLLECTIONS}
    assert all(sandbox.plex.item(k).title.startswith("All") for _, k in synced)
    assert any("sync_all: 236 scanned" in line for line in result.lines("info"))
    sandbox.plex.reset_log()
    sandbox.stash.reset_log()
    again = host.run_task_by_mode("PlexSync", "sync_all").output
    assert again["synced"] == 0 and again["unchanged"] >= 230 and again["queued"] == 6
    writes = [r for r in sandbox.plex.requests if r.method in ("PUT", "POST")]
    assert writes == [] and sandbox.stash.count(operation="FindScene") <= 6  # only retries of the missing ones
    assert sandbox.stash.count(operation="FindScenes") == 3  # 236 scenes in pages of 100
    assert missing and twin


def test_sync_all_killed_half_way_resumes_without_redoing_finished_scenes(sandbox, host):
    scenes = [sandbox.add_scene(f"Big {n}") for n in range(5000)]
    running = host.start_task("PlexSync", host.task_for_mode("PlexSync", "sync_all"))
    assert running.wait_for_progress(0.5, timeout=300)
    running.kill()
    first = running.wait(30)
    assert first.error == "signal: killed"
    done_first = {int(r.param("id")) for r in sandbox.plex.requests if r.method == "PUT"}
    assert 1000 < len(done_first) < 5000
    sandbox.plex.reset_log()
    second = host.run_task_by_mode("PlexSync", "sync_all")
    assert_progress_rises_to_one(second)
    redone = {int(r.param("id")) for r in sandbox.plex.requests if r.method == "PUT"} & done_first
    assert len(redone) <= 4  # at most the jobs in flight at the kill (4 threads)
    assert second.output["synced"] <= 5000 - len(done_first) + 4
    assert all(sandbox.plex.item(k).title == f"Big {n}" for n, (_, k) in enumerate(scenes))


def test_sync_recent_starts_24_hours_back_then_follows_its_checkpoint(sandbox, host):
    offset = timezone(timedelta(hours=2))
    old = (datetime.now(offset) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S+02:00")
    stale, stale_key = sandbox.add_scene("Old", updated_at=old, created_at=old)
    fresh = [sandbox.add_scene(f"Fresh {n}") for n in range(3)]
    result = host.run_task_by_mode("PlexSync", "sync_recent")
    assert_progress_rises_to_one(result)
    assert result.output["scanned"] == 3 and result.output["synced"] == 3
    assert sandbox.plex.item(stale_key).title != "Old"
    time.sleep(1.1)  # Stash timestamps have whole seconds
    sandbox.stash.update_scene(fresh[0][0], title="Fresh again")
    second = host.run_task_by_mode("PlexSync", "sync_recent").output
    assert second["synced"] == 1 and second["since"] >= result.output["since"]
    assert sandbox.plex.item(fresh[0][1]).title == "Fresh again"


def test_process_queue_drains_in_the_foreground_with_progress(sandbox, host):
    scenes = [sandbox.add_scene(f"Queued {n}") for n in range(30)]
    queue = JobQueue(data_dir_for(str(sandbox.plugin_dir)))
    queue.put_many([new_job(s, "update") for s, _ in scenes])
    queue.close()
    result = host.run_task_by_mode("PlexSync", "process_queue")
    assert_progress_rises_to_one(result)
    assert result.output == {"synced": 30, "processed": 30, "in_retry": 0}
    assert sandbox.worker_pid() is None


def test_process_queue_takes_over_from_a_running_worker(sandbox, host):
    busy = sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "60"})
    scene, key = sandbox.add_scene("Handover")
    busy.scene_update(scene, title="Handover 2")
    assert wait_for(lambda: sandbox.plex.item(key).title == "Handover 2")
    worker = sandbox.worker_pid()
    assert worker is not None
    result = host.run_task_by_mode("PlexSync", "process_queue")
    assert result.error is None and result.output["processed"] == 0
    assert wait_for(lambda: not _alive(worker))


def _alive(pid):
    from plexsync.procs import process_alive

    return process_alive(pid)


def test_status_dead_letter_and_queue_tasks(sandbox, host):
    missing = sandbox.stash.add_scene(title="Nowhere", files=[(f"{STASH_ROOT}/a/n.mp4", 1)])
    sandbox.configure(max_retries=1, trigger_plex_scan=False)
    twin = sandbox.stash.add_scene(title="Twin", files=[(f"{STASH_ROOT}/x/twin.mp4", 9)])
    for folder in ("a", "b"):
        sandbox.plex.add_item(section=1, title="twin", files=[(f"{PLEX_ROOT}/{folder}/twin.mp4", 9)])
    queue = JobQueue(data_dir_for(str(sandbox.plugin_dir)))
    queue.put_many([new_job(twin, "update"), new_job(missing, "update")])
    queue.close()
    host.run_task_by_mode("PlexSync", "process_queue")
    sandbox.stop_worker()  # the worker it started for the retry would race the counts below
    status = host.run_task_by_mode("PlexSync", "status")
    assert status.error is None
    assert {"pending", "in_retry", "dead_letters", "breaker", "worker", "last_outage", "synced_today",
            "synced_total", "last_sync_at", "last_reconcile", "next_retry_at"} <= set(status.output)
    assert status.output["dead_letters"] == 1 and status.output["dead_letters_by_class"] == {"permanent": 1}
    assert status.output["in_retry"] == 1 and status.output["pending"] == 0
    assert any("queue: 0 pending, 1 waiting for a retry" in line for line in status.lines("info"))
    queue = JobQueue(data_dir_for(str(sandbox.plugin_dir)))
    queue.put_many([new_job(missing, "update"), new_job(missing, "update")])
    queue.close()
    assert host.run_task_by_mode("PlexSync", "queue_clear").output == {"cleared": 2, "retries_cleared": 1}
    retried = host.run_task_by_mode("PlexSync", "dlq_retry", {"error_class": "permanent"})
    assert retried.output == {"requeued": 1}  # the worker it starts buries the ambiguous scene again
    assert wait_for(lambda: host.run_task_by_mode("PlexSync", "status").output["dead_letters"] == 1)
    assert host.run_task_by_mode("PlexSync", "dlq_purge").output == {"deleted": 0, "retention_days": 30}
    assert host.run_task_by_mode("PlexSync", "dlq_clear").output == {"deleted": 1}
    logged = host.run_task_by_mode("PlexSync", "log")
    assert logged.output["records"] >= 0 and logged.error is None


def test_preview_and_reindex_tasks(sandbox, host):
    scene, key = sandbox.add_scene("Peek", tags=["x"])
    preview = host.run_task_by_mode("PlexSync", "preview", {"scene_id": scene})
    assert preview.error is None and preview.output[0]["match"]["rating_key"] == key
    assert any("high confidence" in line for line in preview.lines("info"))
    assert sandbox.plex.count("PUT") == 0
    reindex = host.run_task_by_mode("PlexSync", "reindex").output
    assert reindex["sections"] == {"Movies": 1} and reindex["unmatched"] == 0


def test_not_implemented_and_bad_args_are_one_clear_error(sandbox, host):
    assert host.run_task_by_mode("PlexSync", "preview", {"scene_id": "abc"}).error == "args.scene_id must be an integer, got 'abc'"
    result = host.run_task("PlexSync", None, {"mode": "bogus"})
    assert result.error.startswith("unknown task mode 'bogus'")


def _health(host):
    result = host.run_task_by_mode("PlexSync", "health")
    assert result.error is None
    return result.output, {c["name"]: c for c in result.output["checks"]}, result


def test_health_all_ok_in_the_sandbox(sandbox, host):
    sandbox.add_scene("Healthy")
    output, checks, result = _health(host)
    assert output["ok"] is True and list(checks) == ["stash", "settings", "plex_url", "plex_token", "plex_libraries", "path_map", "provider"]
    assert checks["path_map"]["detail"] == "1 of 1 sampled Stash file paths map into a Plex library folder"
    assert "before 1.43" in checks["provider"]["detail"] and output["provider"] == {"registered": False, "libraries": []}
    assert any(line.startswith("OK   stash: Stash v0.30.1") for line in result.lines("info"))
    assert result.progress[-1] == 1.0


@pytest.mark.parametrize("breakage, name, words", [
    ("plex_down", "plex_url", "connection refused"),
    ("token", "plex_token", "plex_token rejected"),
    ("library", "plex_libraries", "no Plex library named Nope"),
    ("path_map", "path_map", "set path_map"),
    ("unset", "settings", "plex_url: not set"),
])
def test_health_names_the_broken_link_and_the_fix(sandbox, host, breakage, name, words):
    sandbox.add_scene("Sick")
    if breakage == "plex_down":
        sandbox.plex.stop()
    elif breakage == "token":
        sandbox.configure(plex_token="wrong-token-123456")
    elif breakage == "library":
        sandbox.configure(plex_libraries="Nope")
    elif breakage == "path_map":
        sandbox.configure(path_map="/nowhere=>/else")
    else:
        sandbox.stash.set_plugin_settings("PlexSync", {})
    output, checks, result = _health(host)
    assert output["ok"] is False and checks[name]["ok"] is False and words in checks[name]["detail"]
    assert any(line.startswith(f"FAIL {name}:") for line in result.lines("error"))
    assert "wrong-token-123456" not in str(result.logs) + str(output)


QUICK_MODES = ["status", "dlq_retry", "dlq_clear", "dlq_purge", "queue_clear", "log", "preview", "reindex",
               "process_queue", "sync_all", "sync_recent", "reconcile", "health"]


@pytest.mark.parametrize("mode", QUICK_MODES)
def test_every_task_reports_progress_from_zero_to_one_and_a_json_object(sandbox, host, mode):
    sandbox.add_scene("Any")
    result = host.run_task_by_mode("PlexSync", mode)
    assert result.error is None, result.error
    assert isinstance(result.output, (dict, list)) and result.returncode == 0
    assert result.progress[0] == 0.0 and result.progress[-1] == 1.0 and result.progress == sorted(result.progress)


def test_no_secret_reaches_logs_or_outputs(tmp_path):
    from plexsync.sandbox.world import PLEX_TOKEN, Sandbox

    with Sandbox(root=tmp_path / "s", stash_options={"api_key": "stash-api-key-secret-42", "require_auth": True}) as sandbox:
        scene, _ = sandbox.add_scene("Secretive")
        host = sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1"})
        sandbox.configure(plex_token=PLEX_TOKEN, plex_libraries="Nope")  # health fails with the token in play
        results = [host.run_task_by_mode("PlexSync", mode) for mode in ("health", "sync_all", "status", "log")]
        sandbox.configure()
        results += [host.run_task_by_mode("PlexSync", "sync_all"), host.run_task_by_mode("PlexSync", "log")]
        text = "".join(str(r.logs) + str(r.output) + str(r.error) for r in results)
        files = "".join(p.read_text("utf-8", "replace") for p in sandbox.data_dir.glob("*.log*"))
        cookie = sandbox.stash.session_cookie
    assert "Secretive" in text  # the runs did log and answer
    for secret in (PLEX_TOKEN, "stash-api-key-secret-42", cookie):
        assert secret not in text and secret not in files
