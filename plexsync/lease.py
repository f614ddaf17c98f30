"""The drain lease: at most one process drains the queue at a time.

A row (owner pid, token, heartbeat, expiry) in the state database. It is live while it has not expired
and its owner process is alive, so a SIGKILLed worker is replaced at the next hook instead of after the
expiry. A hook that starts a worker first writes a provisional lease in the worker's name (the token it
hands over), so a burst of concurrent hooks starts one worker, not one each.
"""

import os
import time
from typing import Callable, NamedTuple, Optional

from plexsync.procs import process_alive
from plexsync.state import StateDB

WORKER = "worker"
DEFAULT_TTL = 30.0
SPAWN_TTL = 20.0


class LeaseInfo(NamedTuple):
    """Who holds the lease and until when."""

    pid: int
    token: str
    heartbeat_at: float
    expires_at: float


def new_token() -> str:
    """A random owner token (os.urandom: importing uuid would cost the hook 2 ms)."""
    return os.urandom(16).hex()


class Lease:
    """Acquire, renew and release the named lease on behalf of one owner token."""

    def __init__(self, db: StateDB, token: str, name: str = WORKER, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.time, alive: Callable[[int], bool] = process_alive) -> None:
        self.db, self.token, self.name, self.ttl = db, token, name, ttl
        self.clock, self.alive = clock, alive

    def holder(self, conn=None) -> Optional[LeaseInfo]:
        """The live holder, or None if the lease is free, expired or its owner died."""
        sql = "SELECT pid, token, heartbeat_at, expires_at FROM lease WHERE name = ?"
        rows = conn.execute(sql, (self.name,)).fetchall() if conn else self.db.query(sql, (self.name,))
        if not rows:
            return None
        info = LeaseInfo(*rows[0])
        if info.expires_at <= self.clock() or not self.alive(info.pid):
            return None
        return info

    def acquire(self, pid: Optional[int] = None, ttl: Optional[float] = None) -> bool:
        """Take the lease if it is free or already ours; True on success."""
        with self.db.transaction() as conn:
            current = self.holder(conn)
            if current is not None and current.token != self.token:
                return False
            self._write(conn, pid or os.getpid(), ttl or self.ttl)
            return True

    def renew(self) -> bool:
        """Heartbeat: extend our lease; False if another owner has it now."""
        return self.acquire()

    def hand_over(self, pid: int) -> None:
        """Record the pid of the child the lease was reserved for (provisional spawn lease)."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE lease SET pid = ? WHERE name = ? AND token = ?", (pid, self.name, self.token))

    def release(self) -> None:
        """Give the lease up if we hold it."""
        self.db.execute("DELETE FROM lease WHERE name = ? AND token = ?", (self.name, self.token))

    def _write(self, conn, pid: int, ttl: float) -> None:
        now = self.clock()
        conn.execute(
            "INSERT OR REPLACE INTO lease (name, pid, token, heartbeat_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (self.name, pid, self.token, now, now + ttl),
        )
