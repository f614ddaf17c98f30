"""Retry policy (exponential backoff with full jitter, per error class) and the retry schedule.

A job that failed leaves the queue and waits here with its due time, so it never blocks the jobs
behind it (persist-queue's ``nack`` would put it back at the head), and its due time survives
restarts. The worker moves due jobs back into the queue.
"""

import json
import random
import time
from dataclasses import dataclass
from typing import Callable, Optional

from plexsync.jobs import Job
from plexsync.state import StateDB


@dataclass(frozen=True)
class RetryPolicy:
    """Full-jitter exponential backoff: delay = uniform(0, min(cap, base * 2**(attempt-1)))."""

    base: float
    cap: float
    max_tries: int

    def delay(self, attempt: int, rand: Callable[[float, float], float] = random.uniform) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        ceiling = min(self.cap, self.base * (2 ** max(0, attempt - 1)))
        return rand(0.0, ceiling)

    def exhausted(self, attempts: int) -> bool:
        """True once ``attempts`` tries have been spent."""
        return attempts >= self.max_tries


def policies(max_retries: int, time_scale: float = 1.0) -> dict:
    """The policy per error class: transient 5 s..80 s x ``max_retries``, not-found 30 s..600 s x 12.

    ``time_scale`` shrinks every delay (PLEXSYNC_TIME_SCALE; end-to-end tests run real processes).
    """
    return {
        "transient": RetryPolicy(base=5.0 * time_scale, cap=80.0 * time_scale, max_tries=max_retries),
        "not_found": RetryPolicy(base=30.0 * time_scale, cap=600.0 * time_scale, max_tries=12),
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

    def due(self, limit: int = 500) -> list:
        """Jobs whose time has come, oldest due first."""
        rows = self.db.query(
            "SELECT job, due_at, error_class, last_error, held FROM retries WHERE due_at <= ? ORDER BY due_at LIMIT ?",
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
        """The earliest due time, or None when nothing waits."""
        return self.db.query("SELECT MIN(due_at) FROM retries")[0][0]

    def count(self) -> int:
        """How many jobs wait for a retry."""
        return self.db.query("SELECT COUNT(*) FROM retries")[0][0]

    def clear(self) -> int:
        """Drop every waiting retry; returns how many."""
        return self.db.execute("DELETE FROM retries")
