"""The state machines that live in the state database: lease, breaker, retries, dead letters, queue."""

import os
import subprocess
import sys

from plexsync.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from plexsync.deadletters import DeadLetters
from plexsync.jobs import Job, JobQueue, new_job
from plexsync.lease import Lease
from plexsync.retries import RetryPolicy, RetrySchedule, policies
from plexsync.state import StateDB


def test_lease_is_exclusive_until_released(db, clock):
    first, second = Lease(db, "a", clock=clock), Lease(db, "b", clock=clock)
    assert first.acquire() and not second.acquire()
    assert first.renew()
    first.release()
    assert second.acquire() and not first.acquire()


def test_lease_of_a_dead_owner_is_free_at_once(db, clock):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    Lease(db, "ghost", clock=clock).acquire(pid=int(dead.stdout))
    assert Lease(db, "next", clock=clock).holder() is None
    assert Lease(db, "next", clock=clock).acquire()


def test_lease_expires_without_heartbeat(db, clock):
    assert Lease(db, "a", clock=clock, ttl=30).acquire(pid=os.getpid())
    clock.advance(29)
    assert not Lease(db, "b", clock=clock).acquire()
    clock.advance(2)
    assert Lease(db, "b", clock=clock).acquire()


def test_breaker_opens_after_five_transient_failures_and_probes_on_a_short_capped_backoff(db, clock):
    breaker = CircuitBreaker(db, clock=clock)
    for _ in range(4):
        assert not breaker.record_failure("refused")
    assert breaker.snapshot().state == CLOSED
    assert breaker.record_failure("refused")
    assert breaker.snapshot().state == OPEN and not breaker.allows()
    waits = []
    for _ in range(6):
        state = breaker.snapshot()
        waits.append(round(state.retry_at - clock.now, 3))
        clock.advance(waits[-1])
        assert breaker.snapshot().state == HALF_OPEN and not breaker.allows()  # a probe is due; jobs still wait
        breaker.probe_failed("still refused")
    assert waits == [0.5, 1.0, 2.0, 2.0, 2.0, 2.0]
    assert breaker.record_success()
    assert breaker.snapshot().state == CLOSED and breaker.allows()


def test_trip_opens_at_once_and_starts_one_outage(db, clock):
    breaker = CircuitBreaker(db, clock=clock)
    assert breaker.trip("Plex unreachable: connection refused")
    assert not breaker.trip("Plex refused the token (401)", kind="auth")  # the same outage, now known as auth
    state = breaker.snapshot()
    assert state.is_open and state.kind == "auth" and state.last_error.startswith("Plex refused")
    assert len(db.query("SELECT * FROM outages")) == 1
    assert not breaker.repeat_due(3600)  # the process that opened it said so just now
    clock.advance(3600)
    assert breaker.repeat_due(3600) and not breaker.repeat_due(3600)


def test_breaker_state_and_outage_are_seen_by_another_process(data_dir, db, clock):
    breaker = CircuitBreaker(db, clock=clock)
    for _ in range(5):
        breaker.record_failure("Plex unreachable: connection refused")
    script = ("import sys; from plexsync.state import StateDB; from plexsync.breaker import CircuitBreaker;"
              f"b = CircuitBreaker(StateDB(sys.argv[1]), clock=lambda: {clock.now + 0.25});"
              "print(b.snapshot().state, b.last_outage()['last_error'])")
    seen = subprocess.run([sys.executable, "-c", script, str(data_dir)], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(__file__)))
    assert seen.stdout.strip() == "open Plex unreachable: connection refused"
    clock.advance(61)
    breaker.record_success()
    outage = breaker.last_outage()
    assert outage["ended_at"] == clock.now and outage["duration_s"] == 61


def test_backoff_is_full_jitter_capped_per_class():
    policy = policies(5)
    assert policy["transient"] == RetryPolicy(5.0, 80.0, 5)
    assert policy["not_found"] == RetryPolicy(30.0, 600.0, 19, first=(2.0, 3.0, 5.0, 5.0, 5.0, 5.0, 5.0))
    top = lambda low, high: high  # noqa: E731 - the largest value the jitter may pick
    assert [policy["transient"].delay(n, top) for n in range(1, 7)] == [5, 10, 20, 40, 80, 80]
    looks = [policy["not_found"].delay(n, top) for n in range(1, 8)]
    assert looks == [2, 3, 5, 5, 5, 5, 5] and sum(looks) == 30  # quick looks after a scan request, no jitter
    assert [policy["not_found"].delay(n, top) for n in (8, 12, 13, 19)] == [30, 480, 600, 600]
    assert policy["transient"].delay(3, lambda low, high: low) == 0.0


def test_retry_waits_outside_the_queue_and_survives_reopening(data_dir, db, clock):
    schedule = RetrySchedule(db, clock)
    schedule.defer(Job(7, "update", 1.0), clock.now + 30, "transient", "timeout")
    assert schedule.due() == []
    reopened = RetrySchedule(StateDB(data_dir), clock)
    clock.advance(30)
    assert [d.job.scene_id for d in reopened.due()] == [7]
    assert reopened.next_due() == clock.now


def test_one_waiting_retry_per_scene_newest_wins(db, clock):
    schedule = RetrySchedule(db, clock)
    schedule.defer(Job(7, "update", 1.0), clock.now + 30, "transient", "a")
    schedule.defer(Job(7, "update", 2.0), clock.now + 5, "not_found", "b")
    assert schedule.count() == 1
    clock.advance(5)
    assert [(d.job.enqueued_at, d.error_class) for d in schedule.due()] == [(2.0, "not_found")]


def test_held_jobs_have_no_due_time_until_released(db, clock):
    schedule = RetrySchedule(db, clock)
    schedule.hold(Job(1, "update", 1.0), "Plex unreachable")
    clock.advance(86400)
    assert schedule.due() == [] and schedule.next_due() is None and schedule.held() == 1
    assert schedule.release_held() == 1 and len(schedule.due()) == 1 and schedule.held() == 0


def test_dead_letters_filter_take_and_purge(db, clock):
    letters = DeadLetters(db, clock)
    letters.bury(Job(1, "update", 1.0), "permanent", "ambiguous")
    clock.advance(40 * 86400)
    letters.bury(Job(2, "update", 1.0), "bug", "KeyError")
    assert letters.counts() == {"permanent": 1, "bug": 1}
    assert [d.job.scene_id for d in letters.list(error_class="bug")] == [2]
    assert letters.purge(retention_days=30) == 1
    assert [d.job.scene_id for d in letters.take(scene_id=2)] == [2]
    assert letters.counts() == {}


def test_queue_counts_see_other_processes_jobs_and_clear_spares_in_flight(data_dir):
    worker = JobQueue(data_dir, resume=True)
    hook = JobQueue(data_dir)
    for scene in (1, 2, 3):
        hook.put(new_job(scene, "update"))
    claim = worker.claim()
    assert claim.job.scene_id == 1
    assert (worker.pending(), worker.in_flight()) == (2, 1)
    assert hook.clear_pending() == 2
    assert worker.in_flight() == 1
    worker.ack(claim)
    worker.purge_acked()
    assert worker.pending() + worker.in_flight() == 0


def test_a_hook_opening_the_queue_does_not_resume_the_workers_job(data_dir):
    worker = JobQueue(data_dir, resume=True)
    JobQueue(data_dir).put(new_job(1, "update"))
    claim = worker.claim()
    JobQueue(data_dir).put(new_job(2, "update"))  # another hook opens the queue meanwhile
    assert worker.claim().job.scene_id == 2
    assert worker.claim() is None
    worker.ack(claim)


def test_a_crashed_workers_job_is_resumed_by_the_next_lease_holder(data_dir):
    JobQueue(data_dir).put(new_job(1, "update"))
    assert JobQueue(data_dir, resume=True).claim().job.scene_id == 1  # then "killed"
    assert JobQueue(data_dir, resume=True).claim().job.scene_id == 1


def test_job_round_trips_through_json_and_ignores_unknown_keys():
    job = new_job(5, "destroy", path="/x/\u202eevil.mp4", delete_file=True)
    assert Job.from_dict({**job.to_dict(), "future_key": 1}) == job
    assert job.attempted("not_found").not_found_attempts == 1 and job.attempted("transient").transient_attempts == 1


def test_acknowledged_rows_are_purged_so_the_queue_file_stays_small(data_dir):
    queue = JobQueue(data_dir, resume=True)
    for n in range(5000):
        queue.put(new_job(n, "update"))
        queue.ack(queue.claim())
        if n % 200 == 199:
            queue.purge_acked()  # what the worker does every 200 jobs and on exit
    rows = queue._sql("SELECT COUNT(*) FROM ack_queue_default")[0][0]
    wal = queue.path.with_name(queue.path.name + "-wal")
    assert rows == 0 and queue.path.stat().st_size < 100_000
    assert not wal.exists() or wal.stat().st_size < 8_000_000  # SQLite checkpoints the WAL at ~4 MB


def test_syncs_are_counted_per_hour_and_kept_a_month(db, clock):
    from plexsync.records import HOURS_KEPT, SyncRecord, SyncRecords

    records = SyncRecords(db, clock)
    clock.now = 3600 * 1_000_000 + 10  # the start of an hour, plus a little

    def write(scene_id, wrote=True):
        records.save(SyncRecord(scene_id, 1, "/f", clock(), clock(), "fp"), wrote=wrote)

    write(1)
    write(2)
    write(3, wrote=False)  # an unchanged scene is no sync
    clock.advance(2 * 3600)
    write(1)
    assert records.per_hour(3) == [(clock.now - 10 - 2 * 3600, 2), (clock.now - 10 - 3600, 0), (clock.now - 10, 1)]
    clock.advance((HOURS_KEPT + 1) * 3600)
    write(4)  # the first sync of a new hour drops the hours older than a month
    assert db.query("SELECT COUNT(*) FROM hourly_counts")[0][0] == 1
    assert sum(count for _, count in records.per_hour(10_000)) == 1
