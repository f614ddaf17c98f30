"""Outages end to end: real hook processes through the Stash host, real detached workers, a fake Plex or Stash
that is down and comes back. After it returns, no further hook or task is needed: the one worker that watched
the outage delivers every held job."""

import threading
import time

import pytest
from helpers import wait_for, worker_pids

from plexsync.sandbox.world import PLEX_TOKEN

WORKER_ENV = {"PLEXSYNC_IDLE_EXIT": "2"}


class ProcessSampler:
    """Every worker pid seen in the process table while it runs."""

    def __init__(self, sandbox) -> None:
        self.sandbox, self.pids, self._stop = sandbox, set(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.pids.update(worker_pids(self.sandbox))
            time.sleep(0.01)

    def __enter__(self) -> "ProcessSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def edit_all(host, scenes: list, label: str) -> list:
    """One hook per scene, in a row as a bulk edit runs them; returns the warning and error lines they logged."""
    lines = []
    for n, (scene_id, _) in enumerate(scenes):
        [result] = host.scene_update(scene_id, title=f"{label} {n}")
        assert result.output == "queued", result.error
        lines += result.lines("warning") + result.lines("error")
    return lines


def synced(sandbox, scenes: list, label: str) -> bool:
    return all(sandbox.plex.item(key).title == f"{label} {n}" for n, (_, key) in enumerate(scenes))


@pytest.fixture
def host(sandbox):
    return sandbox.host(env=WORKER_ENV)


def test_plex_down_before_the_first_hook_and_back_later_syncs_all_100_with_no_further_event(sandbox, host):
    scenes = [sandbox.add_scene(f"Restart {n}") for n in range(100)]
    sandbox.plex.stop()
    with ProcessSampler(sandbox) as sampler:
        noise = edit_all(host, scenes, "Edited")
        assert wait_for(lambda: sandbox.worker_pid() is not None, 10)  # one worker watches the outage
        sandbox.plex.restart()
        assert wait_for(lambda: synced(sandbox, scenes, "Edited"), 60)
    assert len(sampler.pids) <= 3, sampler.pids
    assert len(noise) <= 3, noise
    status = host.run_task_by_mode("PlexSync", "status").output
    assert status["dead_letters"] == 0 and status["held"] == 0 and status["last_outage"]["ended_at"]


def test_plex_refusing_the_token_holds_everything_until_the_setting_is_corrected(sandbox, host):
    scenes = [sandbox.add_scene(f"Token {n}") for n in range(100)]
    sandbox.configure(plex_token="stale-token-from-last-year")
    with ProcessSampler(sandbox) as sampler:
        noise = edit_all(host, scenes, "Fixed")
        assert wait_for(lambda: host.run_task_by_mode("PlexSync", "status").output["breaker"]["kind"] == "auth", 20)
        status = host.run_task_by_mode("PlexSync", "status").output
        sandbox.configure()  # the user saves the right token in Stash's settings; nothing else
        assert wait_for(lambda: synced(sandbox, scenes, "Fixed"), 60)
    assert len(sampler.pids) <= 3, sampler.pids
    assert len(noise) <= 3, noise
    assert status["held"] == 100 and status["dead_letters"] == 0 and "plex_token" in status["breaker"]["last_error"]
    assert "stale-token-from-last-year" not in str(status) and PLEX_TOKEN not in str(noise)


def test_stash_down_while_the_worker_runs_holds_jobs_until_it_restarts(sandbox, host):
    scenes = [sandbox.add_scene(f"Stash {n}") for n in range(30)]
    sandbox.plex.latency = 0.02
    with ProcessSampler(sandbox) as sampler:
        host.scene_update(scenes[0][0], title="Stash 0")
        assert wait_for(lambda: sandbox.worker_pid() is not None, 10)
        sandbox.stash.stop()  # Stash restarts: the worker cannot read scenes
        noise = edit_all(host, scenes, "Stash")  # hooks need no network: they keep queueing
        time.sleep(2.0)
        sandbox.stash.restart()
        assert wait_for(lambda: synced(sandbox, scenes, "Stash"), 60)
    assert len(sampler.pids) <= 3, sampler.pids
    assert len(noise) <= 3, noise
    assert host.run_task_by_mode("PlexSync", "status").output["dead_letters"] == 0


def test_sync_all_while_plex_is_down_queues_the_changed_scenes_and_the_worker_delivers_them(sandbox, host):
    scenes = [sandbox.add_scene(f"Bulk {n}") for n in range(30)]
    sandbox.plex.stop()
    result = host.run_task_by_mode("PlexSync", "sync_all")
    assert result.error is None, result.error
    assert result.output["queued"] == 30 and result.output["synced"] == 0 and result.output["held"] == 30
    assert result.output["outage"]["service"] == "plex" and result.output["outage"]["kind"] == "unreachable"
    said = [line for line in result.lines("warning") if "Plex is unreachable" in line]
    assert len(said) == 1 and "30 queued scenes will sync when it is back" in said[0]
    assert wait_for(lambda: sandbox.worker_pid() is not None, 10)  # the task left a worker watching
    sandbox.plex.restart()
    assert wait_for(lambda: all(sandbox.plex.item(key).title == f"Bulk {n}" for n, (_, key) in enumerate(scenes)), 60)


def test_reconcile_while_plex_is_down_classifies_from_records_and_queues_for_the_worker(sandbox, host):
    scenes = [sandbox.add_scene(f"Rec {n}") for n in range(20)]
    host.scene_update(scenes[0][0], title="Rec 0")  # the worker syncs one scene, building the library index
    assert wait_for(lambda: sandbox.plex.item(scenes[0][1]).title == "Rec 0", 30)
    sandbox.stop_worker()
    sandbox.plex.stop()
    result = host.run_task_by_mode("PlexSync", "reconcile")
    assert result.error is None, result.error
    assert result.output["plex_checked"] is False and result.output["never_synced"] == 19
    assert result.output["queued"] == 19 and result.output["held"] == 19
    assert any("19 queued scenes will sync when it is back" in line for line in result.lines("warning"))
    sandbox.plex.restart()
    assert wait_for(lambda: all(sandbox.plex.item(key).title == f"Rec {n}" for n, (_, key) in enumerate(scenes)), 60)


def test_process_queue_and_health_while_plex_is_down_name_the_outage(sandbox, host):
    sandbox.plex.stop()
    queued = host.run_task_by_mode("PlexSync", "process_queue").output
    assert queued["processed"] == 0 and queued["outage"]["service"] == "plex"
    health = host.run_task_by_mode("PlexSync", "health")
    failing = [check for check in health.output["checks"] if not check["ok"]]
    assert [check["name"] for check in failing] == ["plex_url"] and "reachable" in failing[0]["detail"]
