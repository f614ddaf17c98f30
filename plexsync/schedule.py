"""Scheduled reconcile (``reconcile_interval``: never | daily | weekly), checked on every plugin run.

Hooks never ask Stash for settings, so the interval is cached in the state database by the last
process that read the settings. When a reconcile is due, one job is queued (at most once per hour,
whoever checks) and the background worker runs it: scope ``recent`` for daily, ``all`` for weekly.
"""

import time
from typing import Callable, Optional

from plexsync.jobs import Job, JobQueue
from plexsync.state import StateDB

SCHEDULE_KEY = "schedule"
LAST_RUN_KEY = "last_reconcile"
INTERVALS = {"daily": (86400, "recent"), "weekly": (7 * 86400, "all")}
REQUEST_GAP = 3600


def due_job(db: StateDB, clock: Callable[[], float] = time.time) -> Optional[Job]:
    """The reconcile job to queue now, or None; claims the request so other processes do not repeat it."""
    interval = (db.get(SCHEDULE_KEY) or {}).get("reconcile_interval", "never")
    if interval not in INTERVALS:
        return None
    period, scope = INTERVALS[interval]
    now = clock()
    last = (db.get(LAST_RUN_KEY) or {}).get("at_ts", 0)
    if now - last < period:
        return None
    with db.transaction() as conn:
        row = conn.execute("SELECT value FROM kv WHERE key = 'reconcile_requested_at'").fetchone()
        if row and now - float(row[0]) < REQUEST_GAP:
            return None
        conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES ('reconcile_requested_at', ?)", (str(now),))
    return Job(0, f"reconcile_{scope}", now, source="schedule")


def queue_if_due(db: StateDB, queue: JobQueue, clock: Callable[[], float] = time.time) -> bool:
    """Queue a due scheduled reconcile; True if one was queued."""
    job = due_job(db, clock)
    if job is not None:
        queue.put(job)
    return job is not None
