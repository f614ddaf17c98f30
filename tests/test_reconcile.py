"""Reconcile: a known mix of scenes is classified exactly, the right ones are queued, and a drain fixes them."""

import pytest
from helpers import wait_for

from plexsync.jobs import JobQueue
from plexsync.sandbox.world import PLEX_ROOT, STASH_ROOT
from plexsync.state import data_dir_for

EXPECTED = {"in_sync": 50, "stale": 55, "plex_drifted": 30, "never_synced": 20, "missing_in_plex": 20,
            "ambiguous": 5, "awaiting_metadata": 10}


@pytest.fixture
def host(sandbox):
    return sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1"})


def seed(sandbox, host) -> dict:
    """The mix from the issue; returns scene ids per expected class."""
    stash, plex = sandbox.stash, sandbox.plex
    performer = stash.add_performer("Old Name")
    groups = {name: [] for name in EXPECTED}
    synced = {}
    for n in range(50):
        synced[sandbox.add_scene(f"In sync {n}", tags=["t"])[0]] = "in_sync"
    for n in range(40):
        synced[sandbox.add_scene(f"Stale {n}", tags=["t"])[0]] = "stale"
    for n in range(15):
        synced[sandbox.add_scene(f"Renamed {n}", performers=[performer])[0]] = "stale"
    drifted = [sandbox.add_scene(f"Drift {n}", tags=["a", "b"]) for n in range(30)]
    synced.update({scene: "plex_drifted" for scene, _ in drifted})
    assert host.run_task_by_mode("PlexSync", "sync_all").output["synced"] == 135
    for scene, name in synced.items():
        groups[name].append(scene)
    for scene in groups["stale"][:40]:
        stash.update_scene(scene, title=f"Stale {scene} changed")
    stash.rename_performer(performer, "New Name")
    with plex._lock:
        for n, (_, key) in enumerate(drifted):
            item = plex.item(key)
            if n < 10:
                item.fields["title"] = "Edited by someone"
            elif n < 20:
                item.locks.discard("genre")
            else:
                item.tags["genre"] = ["a"]
    groups["never_synced"] = [sandbox.add_scene(f"New {n}")[0] for n in range(20)]
    groups["missing_in_plex"] = [sandbox.add_scene(f"Missing {n}", in_plex=False)[0] for n in range(20)]
    for n in range(5):
        scene = stash.add_scene(title=f"Twin {n}", files=[(f"{STASH_ROOT}/z/twin{n}.mp4", 50 + n)])
        for folder in ("a", "b"):
            plex.add_item(section=1, title="twin", files=[(f"{PLEX_ROOT}/{folder}/twin{n}.mp4", 50 + n)])
        groups["ambiguous"].append(scene)
    groups["awaiting_metadata"] = [sandbox.add_scene(None, file_name=f"raw{n}.mp4")[0] for n in range(10)]
    return groups


def queued_scene_ids(sandbox) -> set:
    queue = JobQueue(data_dir_for(str(sandbox.plugin_dir)))
    try:
        return {job.scene_id for job in queue.waiting_jobs(10_000)}
    finally:
        queue.close()


def counts(output) -> dict:
    return {name: output[name] for name in EXPECTED}


def test_reconcile_classifies_a_known_mix_queues_the_right_scenes_and_a_drain_fixes_them(sandbox, host):
    groups = seed(sandbox, host)
    dry = host.run_task_by_mode("PlexSync", "reconcile", {"scope": "all", "dry_run": True})
    assert counts(dry.output) == EXPECTED and dry.output["queued"] == 0 and queued_scene_ids(sandbox) == set()
    result = host.run_task_by_mode("PlexSync", "reconcile", {"scope": "all"})
    assert result.error is None and result.progress[-1] == 1.0
    assert counts(result.output) == EXPECTED and result.output["queued"] == 105
    assert queued_scene_ids(sandbox) | _processed_meanwhile(sandbox) >= set(groups["stale"] + groups["plex_drifted"] + groups["never_synced"])
    assert any(line.startswith("reconcile (all): 50 in_sync, 55 stale") for line in result.lines("info"))
    assert any("plex_drifted: scene" in line and "title changed in Plex" in line for line in result.lines("info"))
    assert len(result.output["examples"]["stale"]) == 10
    host.run_task_by_mode("PlexSync", "process_queue")
    again = host.run_task_by_mode("PlexSync", "reconcile", {"scope": "all"}).output
    assert counts(again) == {**EXPECTED, "in_sync": 155, "stale": 0, "plex_drifted": 0, "never_synced": 0}
    assert again["queued"] == 0
    status = host.run_task_by_mode("PlexSync", "status").output
    assert status["last_reconcile"]["in_sync"] == 155


def _processed_meanwhile(sandbox) -> set:
    """Scenes the worker that reconcile starts may already have taken off the queue."""
    return {int(r.param("id") or 0) for r in sandbox.plex.requests if r.method == "PUT"}


def test_reconcile_killed_and_run_again_gives_the_same_result(sandbox, host):
    for n in range(400):
        sandbox.add_scene(f"Scene {n}", tags=["x"])
    running = host.start_task("PlexSync", host.task_for_mode("PlexSync", "reconcile"), {"scope": "all"})
    assert running.wait_for_progress(0.4, timeout=60)
    running.kill()
    assert running.wait(30).error == "signal: killed"
    output = host.run_task_by_mode("PlexSync", "reconcile", {"scope": "all", "dry_run": True}).output
    assert output["never_synced"] == 400 and output["in_sync"] == 0


def test_recent_scope_only_looks_at_the_last_day(sandbox, host):
    old = "2020-01-01T00:00:00+02:00"
    sandbox.add_scene("Old", updated_at=old, created_at=old)
    sandbox.add_scene("New")
    output = host.run_task_by_mode("PlexSync", "reconcile", {"scope": "recent", "dry_run": True}).output
    assert output["never_synced"] == 1 and sum(counts(output).values()) == 1
    week = host.run_task_by_mode("PlexSync", "reconcile", {"scope": "7d", "dry_run": True}).output
    assert sum(counts(week).values()) == 1
    bad = host.run_task_by_mode("PlexSync", "reconcile", {"scope": "year"})
    assert bad.error.startswith("args.scope must be one of all, recent, 7d")


def test_scheduled_reconcile_is_queued_once_when_due(db, clock):
    from plexsync.schedule import due_job

    assert due_job(db, clock) is None  # interval never cached: never
    db.put("schedule", {"reconcile_interval": "weekly"})
    job = due_job(db, clock)
    assert job.event == "reconcile_all" and job.key == "reconcile_all"
    assert due_job(db, clock) is None  # another process checks a moment later: already requested
    db.put("last_reconcile", {"at_ts": clock.now})
    clock.advance(7200)
    assert due_job(db, clock) is None  # ran recently
    clock.advance(7 * 86400)
    assert due_job(db, clock).event == "reconcile_all"


def test_daily_reconcile_runs_in_the_background_worker(sandbox, host):
    sandbox.configure(reconcile_interval="daily")
    scene, _ = sandbox.add_scene("Scheduled")
    host.run_task_by_mode("PlexSync", "reindex")  # any run that reads the settings caches the interval
    host.scene_update(scene, title="Scheduled 2")  # the next invocation finds the reconcile due
    assert wait_for(lambda: host.run_task_by_mode("PlexSync", "status").output["last_reconcile"], every=0.2)
    last = host.run_task_by_mode("PlexSync", "status").output["last_reconcile"]
    assert last["scope"] == "recent" and last["in_sync"] + last["never_synced"] + last["stale"] == 1
