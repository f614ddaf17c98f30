"""Retry policy (exponential backoff with full jitter, per error class) and the retry schedule.

A job that failed leaves the queue and waits here with its due time, so it never blocks the jobs
behind it (persist-queue's ``nack`` would put it back at the head), and its due time survives
restarts. The worker moves due jobs back into the queue. Jobs *held* during an outage have no due
time of their own: they wait until the circuit breaker closes (``release_held``), spending no retry.
"""

import json
import random
import time
from dataclasses import dataclass
from typing import Callable, Optional

from plexsync.jobs import Job
from plexsync.state import StateDB


# Not found yet: Plex usually adds a file within seconds of the scan request, so look again after these
# waits (each look is one incremental index refresh) before the long schedule takes over.
SCAN_LOOKS = (2.0, 3.0, 5.0, 5.0, 5.0, 5.0, 5.0)


@dataclass(frozen=True)
class RetryPolicy:
    """Full-jitter exponential backoff: delay = uniform(0, min(cap, base * 2**(attempt-1))).

    ``first``: fixed waits for the first retries, before the backoff starts (its attempts count from 1).
    """

    base: float
    cap: float
    max_tries: int
    first: tuple = ()

    def delay(self, attempt: int, rand: Callable[[float, float], float] = random.uniform) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if attempt <= len(self.first):
            return self.first[attempt - 1]
        ceiling = min(self.cap, self.base * (2 ** max(0, attempt - len(self.first) - 1)))
        return rand(0.0, ceiling)

    def exhausted(self, attempts: int) -> bool:
        """True once ``attempts`` tries have been spent."""
        return attempts >= self.max_tries


def policies(max_retries: int, time_scale: float = 1.0) -> dict:
    """The policy per error class: transient 5 s..80 s x ``max_retries``; not-found the quick looks after a
    scan request (2 s .. 30 s after it), then 30 s..600 s x 12.

    ``time_scale`` shrinks every delay (PLEXSYNC_TIME_SCALE; end-to-end tests run real processes).
    """
    looks = tuple(wait * time_scale for wait in SCAN_LOOKS)
    return {
        "transient": RetryPolicy(base=5.0 * time_scale, cap=80.0 * time_scale, max_tries=max_retries),
        "not_found": RetryPolicy(base=30.0 * time_scale, cap=600.0 * time_scale, max_tries=12 + len(looks), first=looks),
    }


@dataclass(frozen=True)
class Deferred:
    """A job waiting for its retry time."""

    job: Job
    due_at: float
    error_class: str
    last_error: str
    held: bool


class RetrySchedule:
    """The ``retries`` table: at most one waiting retry per job key (the newest wins)."""

    def __init__(self, db: StateDB, clock: Callable[[], float] = time.time) -> None:
        self.db, self.clock = db, clock

    def defer(self, job: Job, due_at: float, error_class: str, message: str, held: bool = False) -> None:
        """Park ``job`` until ``due_at``."""
        self.db.execute(
            "INSERT OR REPLACE INTO retries (job_key, job, due_at, error_class, last_error, held) VALUES (?, ?, ?, ?, ?, ?)",
            (job.key, json.dumps(job.to_dict()), due_at, error_class, message[:2000], int(held)),
        )

    def hold(self, job: Job, message: str) -> None:
        """Park ``job`` until the outage ends (no retry spent; never dead-lettered)."""
        self.defer(job, self.clock(), "transient", message, held=True)

    def due(self, limit: int = 500) -> list:
        """Jobs whose time has come, oldest due first (held jobs wait for ``release_held``)."""
        rows = self.db.query(
            "SELECT job, due_at, error_class, last_error, held FROM retries WHERE held = 0 AND due_at <= ? ORDER BY due_at LIMIT ?",
            (self.clock(), limit),
        )
        return [Deferred(Job.from_dict(json.loads(r[0])), r[1], r[2] or "", r[3] or "", bool(r[4])) for r in rows]

    def waiting(self, job_key: str) -> Optional[Deferred]:
        """The retry waiting for ``job_key`` (``scene:45``), or None."""
        rows = self.db.query("SELECT job, due_at, error_class, last_error, held FROM retries WHERE job_key = ?", (job_key,))
        return Deferred(Job.from_dict(json.loads(rows[0][0])), rows[0][1], rows[0][2] or "", rows[0][3] or "",
                        bool(rows[0][4])) if rows else None

    def remove(self, job: Job, due_at: Optional[float] = None) -> None:
        """Forget a waiting retry (only the one due at ``due_at``, if given, so a newer one survives)."""
        if due_at is None:
            self.db.execute("DELETE FROM retries WHERE job_key = ?", (job.key,))
        else:
            self.db.execute("DELETE FROM retries WHERE job_key = ? AND due_at = ?", (job.key, due_at))

    def release_held(self) -> int:
        """Make jobs held during an outage due now (Plex is back); returns how many."""
        return self.db.execute("UPDATE retries SET due_at = ?, held = 0 WHERE held = 1", (self.clock(),))

    def next_due(self) -> Optional[float]:
        """The earliest due time of a retry (held jobs have none), or None when no retry waits."""
        return self.db.query("SELECT MIN(due_at) FROM retries WHERE held = 0")[0][0]

    def count(self) -> int:
        """How many jobs wait, for a retry or for an outage to end."""
        return self.db.query("SELECT COUNT(*) FROM retries")[0][0]

    def held(self) -> int:
        """How many jobs wait for an outage to end."""
        return self.db.query("SELECT COUNT(*) FROM retries WHERE held = 1")[0][0]

    def clear(self) -> int:
        """Drop every waiting retry; returns how many."""
        return self.db.execute("DELETE FROM retries")
