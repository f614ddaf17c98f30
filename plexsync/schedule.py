"""Scheduled work, checked on every plugin run: ``reconcile_interval`` (never | daily | weekly) and
``pull_interval`` (never | hourly | daily).

Hooks never ask Stash for settings, so the intervals are cached in the state database by the last
process that read the settings. When one is due, one job is queued (at most once per request gap,
whoever checks) and the background worker runs it: a reconcile of scope ``recent`` for daily, ``all``
for weekly; a pull of plays, resume points and ratings (``pull``) hourly or daily.
"""

import time
from typing import Callable, NamedTuple, Optional

from plexsync.jobs import Job, JobQueue
from plexsync.state import StateDB

SCHEDULE_KEY = "schedule"
LAST_RUN_KEY = "last_reconcile"
LAST_PULL_KEY = "last_pull"
REQUEST_GAP = 3600


class Schedule(NamedTuple):
    """One kind of scheduled work: its setting, where its last run is recorded, and interval -> (period, event)."""

    setting: str
    last_key: str
    request_key: str
    intervals: dict


SCHEDULES = (
    Schedule("reconcile_interval", LAST_RUN_KEY, "reconcile_requested_at",
             {"daily": (86400, "reconcile_recent"), "weekly": (7 * 86400, "reconcile_all")}),
    Schedule("pull_interval", LAST_PULL_KEY, "pull_requested_at", {"hourly": (3600, "pull"), "daily": (86400, "pull")}),
)


def _due(db: StateDB, schedule: Schedule, cached: dict, now: float) -> Optional[Job]:
    """The job ``schedule`` wants now, or None; claims the request so other processes do not repeat it."""
    interval = cached.get(schedule.setting, "never")
    if interval not in schedule.intervals:
        return None
    period, event = schedule.intervals[interval]
    last = (db.get(schedule.last_key) or {}).get("at_ts", 0)
    if now - last < period:
        return None
    gap = min(REQUEST_GAP, period / 2)
    with db.transaction() as conn:
        row = conn.execute("SELECT value FROM kv WHERE key = ?", (schedule.request_key,)).fetchone()
        if row and now - float(row[0]) < gap:
            return None
        conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (schedule.request_key, str(now)))
    return Job(0, event, now, source="schedule")


def due_jobs(db: StateDB, clock: Callable[[], float] = time.time) -> list:
    """The scheduled jobs to queue now (each claimed, so other processes do not queue them too)."""
    now, cached = clock(), db.get(SCHEDULE_KEY) or {}
    return [job for job in (_due(db, schedule, cached, now) for schedule in SCHEDULES) if job is not None]


def due_job(db: StateDB, clock: Callable[[], float] = time.time) -> Optional[Job]:
    """The reconcile job to queue now, or None (``due_jobs`` for every schedule)."""
    return _due(db, SCHEDULES[0], db.get(SCHEDULE_KEY) or {}, clock())


def queue_if_due(db: StateDB, queue: JobQueue, clock: Callable[[], float] = time.time) -> bool:
    """Queue every due scheduled job; True if one was queued."""
    jobs = due_jobs(db, clock)
    queue.put_many(jobs)
    return bool(jobs)
