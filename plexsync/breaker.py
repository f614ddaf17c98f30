"""A circuit breaker persisted in the state database, so every short-lived process sees it.

CLOSED -> OPEN when a service is found down: at once when a probe confirms it (``trip``), or after
``threshold`` consecutive transient failures of jobs while the service still answers probes. While
OPEN, no job calls the service; the process holding the drain lease probes it with its cheapest
request on a short, capped backoff (``probe_base`` doubling to ``probe_cap``), and the breaker reads
HALF_OPEN once a probe is due. A successful probe closes it. Not-found and ambiguous matches are not
outages and never reach it.

Each opening starts an outage record (start, end, last error) for the ``status`` task. ``kind`` says
what the outage is: ``unreachable`` (waiting heals it), or ``auth``/``settings`` (a configuration outage:
jobs are held until the user fixes a setting; the bad news is repeated at most once an hour).
"""

import time
from dataclasses import dataclass
from typing import Callable, Optional

from plexsync.state import StateDB

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
UNREACHABLE, AUTH, SETTINGS = "unreachable", "auth", "settings"
PROBE_BASE, PROBE_CAP = 0.5, 2.0  # seconds: held jobs move within ~2 s of the service answering again
_COLUMNS = "state, failures, opened_at, last_error, kind, probes, probe_at, said_at"


@dataclass(frozen=True)
class BreakerState:
    """A snapshot of the breaker; ``retry_at`` is when the next probe is due (None while closed)."""

    state: str
    failures: int
    opened_at: Optional[float]
    last_error: str
    retry_at: Optional[float]
    kind: str = UNREACHABLE
    probes: int = 0
    said_at: Optional[float] = None

    @property
    def is_open(self) -> bool:
        """True while calls to the service are held (OPEN, or HALF_OPEN waiting for its probe)."""
        return self.state != CLOSED


class CircuitBreaker:
    """The named breaker (``plex`` or ``stash``)."""

    def __init__(self, db: StateDB, name: str = "plex", threshold: int = 5, clock: Callable[[], float] = time.time,
                 probe_base: float = PROBE_BASE, probe_cap: float = PROBE_CAP) -> None:
        self.db, self.name, self.threshold, self.clock = db, name, threshold, clock
        self.probe_base, self.probe_cap = probe_base, probe_cap

    def snapshot(self, conn=None) -> BreakerState:
        """Current state; OPEN reads HALF_OPEN once its probe is due."""
        sql = f"SELECT {_COLUMNS} FROM breakers WHERE name = ?"
        rows = conn.execute(sql, (self.name,)).fetchall() if conn else self.db.query(sql, (self.name,))
        if not rows:
            return BreakerState(CLOSED, 0, None, "", None)
        state, failures, opened_at, last_error, kind, probes, probe_at, said_at = rows[0]
        retry_at = probe_at if state == OPEN else None
        if state == OPEN and retry_at is not None and self.clock() >= retry_at:
            state = HALF_OPEN
        return BreakerState(state, failures, opened_at, last_error or "", retry_at, kind or UNREACHABLE,
                            probes or 0, said_at)

    def allows(self) -> bool:
        """May a job call the protected service now? Only while CLOSED: an open breaker is probed, not tried."""
        return not self.snapshot().is_open

    def record_success(self) -> bool:
        """The service answered: close the breaker. Returns True if this ended an outage."""
        was = self.snapshot()
        if was.state == CLOSED and was.failures == 0:
            return False
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO breakers (name, state, failures, last_error) VALUES (?, ?, 0, ?)",
                         (self.name, CLOSED, was.last_error))
            if was.is_open:
                conn.execute("UPDATE outages SET ended_at = ? WHERE name = ? AND ended_at IS NULL", (self.clock(), self.name))
        return was.is_open

    def record_failure(self, error: str) -> bool:
        """A job failed transiently while the service still answers probes: count it, open on the threshold.

        Returns True if this opened the breaker.
        """
        with self.db.transaction() as conn:
            was = self.snapshot(conn)
            if was.is_open:
                return False
            failures = was.failures + 1
            if failures < self.threshold:
                conn.execute("INSERT OR REPLACE INTO breakers (name, state, failures, last_error) VALUES (?, ?, ?, ?)",
                             (self.name, CLOSED, failures, error[:500]))
                return False
            self._open(conn, error, UNREACHABLE, failures)
            return True

    def trip(self, error: str, kind: str = UNREACHABLE) -> bool:
        """The service is down (a probe confirmed it): open now. Returns True if this started an outage."""
        with self.db.transaction() as conn:
            was = self.snapshot(conn)
            if was.is_open:
                conn.execute("UPDATE breakers SET last_error = ?, kind = ? WHERE name = ?", (error[:500], kind, self.name))
                conn.execute("UPDATE outages SET last_error = ? WHERE name = ? AND ended_at IS NULL", (error[:500], self.name))
                return False
            self._open(conn, error, kind, was.failures + 1)
            return True

    def _open(self, conn, error: str, kind: str, failures: int) -> None:
        now = self.clock()
        conn.execute(f"INSERT OR REPLACE INTO breakers (name, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
                     (self.name, OPEN, failures, now, error[:500], kind, now + self.probe_delay(0), now))
        conn.execute("INSERT INTO outages (name, started_at, last_error) VALUES (?, ?, ?)", (self.name, now, error[:500]))

    def probe_delay(self, probes: int) -> float:
        """Seconds before the next probe after ``probes`` failed ones: base doubling, capped."""
        return min(self.probe_cap, self.probe_base * (2 ** probes))

    def probe_failed(self, error: str, kind: Optional[str] = None) -> BreakerState:
        """A probe failed: schedule the next one; returns the new state."""
        with self.db.transaction() as conn:
            was = self.snapshot(conn)
            probes = was.probes + 1
            conn.execute("UPDATE breakers SET probes = ?, probe_at = ?, last_error = ?, kind = ? WHERE name = ?",
                         (probes, self.clock() + self.probe_delay(probes), error[:500], kind or was.kind, self.name))
            conn.execute("UPDATE outages SET last_error = ? WHERE name = ? AND ended_at IS NULL", (error[:500], self.name))
        return self.snapshot()

    def repeat_due(self, every: float) -> bool:
        """True (and remembered) if the outage was last announced ``every`` seconds ago or more."""
        with self.db.transaction() as conn:
            said = self.snapshot(conn).said_at
            if said is not None and self.clock() - said < every:
                return False
            conn.execute("UPDATE breakers SET said_at = ? WHERE name = ?", (self.clock(), self.name))
            return True

    def last_outage(self) -> Optional[dict]:
        """The most recent outage: start, end (None while ongoing), duration and last error."""
        rows = self.db.query("SELECT started_at, ended_at, last_error FROM outages WHERE name = ? ORDER BY id DESC LIMIT 1", (self.name,))
        if not rows:
            return None
        started, ended, error = rows[0]
        return {"started_at": started, "ended_at": ended, "duration_s": round((ended or self.clock()) - started, 1), "last_error": error}
