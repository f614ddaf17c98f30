"""A circuit breaker persisted in the state database, so every short-lived process sees it.

CLOSED -> OPEN after ``threshold`` consecutive transient failures; OPEN -> HALF_OPEN once
``reset_after`` seconds have passed; in HALF_OPEN the next call is the probe: success closes the
breaker, failure opens it again. Not-found and ambiguous matches are not outages and never reach it.
Each opening starts an outage record (start, end, last error) for the ``status`` task.
"""

import time
from dataclasses import dataclass
from typing import Callable, Optional

from plexsync.state import StateDB

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class BreakerState:
    """A snapshot of the breaker."""

    state: str
    failures: int
    opened_at: Optional[float]
    last_error: str
    retry_at: Optional[float]


class CircuitBreaker:
    """The named breaker (``plex``)."""

    def __init__(self, db: StateDB, name: str = "plex", threshold: int = 5, reset_after: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.db, self.name, self.threshold, self.reset_after, self.clock = db, name, threshold, reset_after, clock

    def snapshot(self) -> BreakerState:
        """Current state; OPEN turns into HALF_OPEN by the passing of time."""
        rows = self.db.query("SELECT state, failures, opened_at, last_error FROM breakers WHERE name = ?", (self.name,))
        if not rows:
            return BreakerState(CLOSED, 0, None, "", None)
        state, failures, opened_at, last_error = rows[0]
        retry_at = opened_at + self.reset_after if state == OPEN and opened_at else None
        if state == OPEN and retry_at is not None and self.clock() >= retry_at:
            state = HALF_OPEN
        return BreakerState(state, failures, opened_at, last_error or "", retry_at)

    def allows(self) -> bool:
        """May a call to the protected service be made now (CLOSED, or HALF_OPEN for the probe)?"""
        return self.snapshot().state != OPEN

    def record_success(self) -> bool:
        """A call succeeded: close the breaker. Returns True if this ended an outage."""
        was = self.snapshot()
        if was.state == CLOSED and was.failures == 0:
            return False
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO breakers (name, state, failures, opened_at, last_error) VALUES (?, ?, 0, NULL, ?)",
                         (self.name, CLOSED, was.last_error))
            if was.state != CLOSED:
                conn.execute("UPDATE outages SET ended_at = ? WHERE name = ? AND ended_at IS NULL", (self.clock(), self.name))
        return was.state != CLOSED

    def record_failure(self, error: str) -> bool:
        """A transient failure: count it, open on the threshold or a failed probe. Returns True if now OPEN."""
        was = self.snapshot()
        failures = was.failures + 1
        opens = was.state == HALF_OPEN or (was.state == CLOSED and failures >= self.threshold)
        state = OPEN if opens or was.state == OPEN else CLOSED
        opened_at = self.clock() if opens else was.opened_at
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO breakers (name, state, failures, opened_at, last_error) VALUES (?, ?, ?, ?, ?)",
                         (self.name, state, failures, opened_at, error[:500]))
            if opens and was.state == CLOSED:
                conn.execute("INSERT INTO outages (name, started_at, last_error) VALUES (?, ?, ?)", (self.name, self.clock(), error[:500]))
            else:
                conn.execute("UPDATE outages SET last_error = ? WHERE name = ? AND ended_at IS NULL", (error[:500], self.name))
        return state == OPEN

    def last_outage(self) -> Optional[dict]:
        """The most recent outage: start, end (None while ongoing), duration and last error."""
        rows = self.db.query("SELECT started_at, ended_at, last_error FROM outages WHERE name = ? ORDER BY id DESC LIMIT 1", (self.name,))
        if not rows:
            return None
        started, ended, error = rows[0]
        return {"started_at": started, "ended_at": ended, "duration_s": round((ended or self.clock()) - started, 1), "last_error": error}
