"""Outages with an injected clock: a worker holds jobs while Plex or Stash is down, probes on a short capped
backoff, and delivers everything at the first probe that finds the service back. No test sleeps."""

import json
import logging

from plexsync.jobs import new_job
from plexsync.lease import Lease
from plexsync.sandbox.world import PLEX_ROOT, PLEX_TOKEN, STASH_ROOT
from plexsync.worker import Worker


def queue(runtime, clock, *scene_ids, event="update"):
    clock.advance(0.001)
    for scene_id in scene_ids:
        runtime.queue.put(new_job(scene_id, event, clock=clock))
    clock.advance(0.001)


def stepper(runtime, clock) -> Worker:
    """The background worker's loop, driven one step at a time on the test's clock."""
    worker = Worker(lambda stop: runtime, Lease(runtime.db, "test-worker", clock=clock), clock=clock)
    worker.runtime = runtime
    return worker


def run_until_idle(worker: Worker, limit: int = 1000) -> int:
    done = 0
    while done < limit and worker.step():
        done += 1
    return done


def until_next_probe(runtime, clock, service="plex") -> float:
    """Move the clock to the breaker's next probe; returns the wait."""
    due = runtime.outages.breakers[service].snapshot().retry_at
    wait = due - clock.now
    clock.now = due
    return round(wait, 3)


def held_jobs(runtime) -> list:
    return [json.loads(row[0]) for row in runtime.db.query("SELECT job FROM retries WHERE held = 1")]


def test_plex_down_from_the_start_holds_the_first_job_without_spending_a_retry(sandbox, runtime_for, clock):
    scenes = [sandbox.add_scene(f"Held {n}")[0] for n in range(8)]
    sandbox.plex.stop()
    runtime = runtime_for()  # starts without Plex: only Stash is asked for the settings
    queue(runtime, clock, *scenes)
    worker = stepper(runtime, clock)
    assert worker.step()  # the first job: Plex refuses, the probe confirms it, the breaker opens
    assert runtime.outages.open_kinds() == {"plex": "unreachable"}
    assert [job["transient_attempts"] for job in held_jobs(runtime)] == [0]
    assert runtime.queue.pending() == 7 and runtime.delivery.retries.next_due() is None
    assert not worker.step() and runtime.queue.pending() == 7  # nothing is claimed while Plex is down


def test_probes_back_off_from_1_to_5_s_and_the_first_after_plex_returns_delivers_every_held_job(sandbox, runtime_for, clock):
    scenes = [sandbox.add_scene(f"Back {n}") for n in range(8)]
    sandbox.plex.stop()
    runtime = runtime_for()
    queue(runtime, clock, *[s for s, _ in scenes])
    worker = stepper(runtime, clock)
    worker.step()
    waits = []
    for _ in range(6):
        waits.append(until_next_probe(runtime, clock))
        assert not worker.step()  # the probe fails: Plex is still down
    assert waits == [0.5, 1.0, 2.0, 2.0, 2.0, 2.0]
    assert [job["transient_attempts"] for job in held_jobs(runtime)] == [0]
    sandbox.plex.restart()
    assert until_next_probe(runtime, clock) == 2.0
    assert run_until_idle(worker) == 8  # the probe closes the breaker; the held job and the queue drain
    assert all(sandbox.plex.item(key).title.startswith("Back") for _, key in scenes)
    assert runtime.delivery.letters.counts() == {} and runtime.delivery.retries.count() == 0
    outage = runtime.outages.breakers["plex"].last_outage()
    assert outage["ended_at"] == clock.now and outage["duration_s"] == 11.5


def test_outage_is_said_once_when_it_starts_and_once_when_it_ends(sandbox, runtime_for, clock, caplog):
    scenes = [sandbox.add_scene(f"Once {n}")[0] for n in range(5)]
    sandbox.plex.stop()
    runtime = runtime_for()
    queue(runtime, clock, *scenes)
    worker = stepper(runtime, clock)
    with caplog.at_level(logging.INFO, logger="plexsync"):
        worker.step()
        for _ in range(20):
            until_next_probe(runtime, clock)
            worker.step()
        sandbox.plex.restart()
        until_next_probe(runtime, clock)
        run_until_idle(worker)
    outage_lines = [r for r in caplog.records if r.name == "plexsync.outage"]
    assert [r.levelname for r in outage_lines] == ["WARNING", "INFO"]
    assert "Plex unreachable since" in outage_lines[0].getMessage() and "5 jobs held" in outage_lines[0].getMessage()
    assert "answers again after 40 s down" in outage_lines[1].getMessage() and "5 held jobs resume" in outage_lines[1].getMessage()


def test_a_job_specific_failure_is_retried_with_backoff_while_plex_answers_probes(sandbox, runtime_for, clock):
    from plexsync.sandbox.fake_plex import Fault

    scene, key = sandbox.add_scene("Flaky")
    runtime = runtime_for()
    runtime.index.build()
    sandbox.plex.add_fault(Fault(method="GET", path=rf"^/library/metadata/{key}$", times=2, status=503))
    queue(runtime, clock, scene)
    worker = stepper(runtime, clock)
    worker.step()
    assert runtime.outages.open_kinds() == {}  # /identity answered: not an outage
    assert runtime.delivery.retries.count() == 1 and runtime.delivery.retries.held() == 0
    clock.now = runtime.delivery.retries.next_due()
    assert run_until_idle(worker) == 1 and sandbox.plex.item(key).title == "Flaky"


def test_401_holds_the_jobs_says_so_once_and_resumes_when_the_token_setting_is_fixed(sandbox, runtime_for, clock, caplog):
    scenes = [sandbox.add_scene(f"Token {n}") for n in range(3)]
    sandbox.plex.token = "rotated-plex-token-9876"
    runtime = runtime_for()
    queue(runtime, clock, *[s for s, _ in scenes])
    worker = stepper(runtime, clock)
    with caplog.at_level(logging.DEBUG, logger="plexsync"):
        worker.step()
        for _ in range(36):  # three minutes of probes with the wrong token
            until_next_probe(runtime, clock)
            worker.step()
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        refusals = sandbox.plex.count(path="/library/sections$") + sandbox.plex.count(path="^/$")
        sandbox.configure(plex_token="rotated-plex-token-9876")  # the user saves the right token
        until_next_probe(runtime, clock)
        delivered = run_until_idle(worker)
    assert len(errors) == 1 and "401" in errors[0] and "plex_token" in errors[0] and "3 jobs are held" in errors[0]
    assert refusals <= 5  # with unchanged settings Plex is asked again about once a minute, not every probe
    assert runtime.delivery.letters.counts() == {}
    assert delivered == 3 and all(sandbox.plex.item(key).title.startswith("Token") for _, key in scenes)
    assert "rotated-plex-token-9876" not in caplog.text and PLEX_TOKEN not in caplog.text
    assert b"rotated-plex-token-9876" not in (sandbox.data_dir / "state.db").read_bytes()


def test_stash_down_mid_drain_holds_jobs_until_the_first_probe_after_it_restarts(sandbox, runtime_for, clock):
    scenes = [sandbox.add_scene(f"Stash {n}") for n in range(4)]
    runtime = runtime_for()
    queue(runtime, clock, *[s for s, _ in scenes])
    worker = stepper(runtime, clock)
    sandbox.stash.stop()
    worker.step()
    assert runtime.outages.open_kinds() == {"stash": "unreachable"}
    for _ in range(3):
        until_next_probe(runtime, clock, "stash")
        assert not worker.step()
    sandbox.stash.restart()
    until_next_probe(runtime, clock, "stash")
    assert run_until_idle(worker) == 4
    assert all(sandbox.plex.item(key).title.startswith("Stash") for _, key in scenes)
    assert runtime.delivery.letters.counts() == {}


def test_a_new_file_is_synced_at_the_first_look_after_plex_adds_it(sandbox, runtime_for, clock):
    scene = sandbox.stash.add_scene(title="Fresh", files=[(f"{STASH_ROOT}/new/fresh.mp4", 5)])
    sandbox.plex.add_pending_file(section=1, path=f"{PLEX_ROOT}/new/fresh.mp4", size=5, title="fresh")
    sandbox.plex.scan_delay = 3600.0  # Plex is slow to add the file
    runtime = runtime_for()
    queue(runtime, clock, scene, event="create")
    worker = stepper(runtime, clock)
    worker.step()
    assert sandbox.plex.scans == [(1, f"{PLEX_ROOT}/new", False)]
    waits = []
    for _ in range(2):  # two looks find nothing
        waits.append(runtime.delivery.retries.next_due() - clock.now)
        clock.now = runtime.delivery.retries.next_due()
        worker.step()
    sandbox.plex.scan_delay = 0.0
    sandbox.plex.add_pending_file(section=1, path=f"{PLEX_ROOT}/new/fresh.mp4", size=5, title="fresh")
    runtime.plex.scan(1, f"{PLEX_ROOT}/new")  # Plex adds the file now
    waits.append(runtime.delivery.retries.next_due() - clock.now)
    clock.now = runtime.delivery.retries.next_due()
    assert run_until_idle(worker) == 1
    assert [item.title for item in sandbox.plex.items()] == ["Fresh"]
    assert waits == [2.0, 3.0, 5.0]  # synced 5 s after Plex added it (the third look)


def test_a_task_run_after_the_token_is_fixed_ends_the_outage_at_once(sandbox, runtime_for, clock):
    from plexsync.runtime import plex_outage

    sandbox.plex.token = "rotated-plex-token-5555"
    runtime = runtime_for()
    assert plex_outage(runtime) and runtime.outages.open_kinds() == {"plex": "auth"}
    sandbox.configure(plex_token="rotated-plex-token-5555")
    fixed = runtime_for()  # the next task reads the corrected settings
    assert not plex_outage(fixed) and fixed.outages.open_kinds() == {}
