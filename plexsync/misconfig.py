"""A worker that stopped on a configuration error, and when the next one may try (spawn backoff).

Settings that no waiting can fix (no ``plex_url``, a malformed one) stop the background worker with one
line. Hooks cannot read settings (no network), so instead of starting a worker per save only to fail
again, they skip the start until ``retry_at``; the wait doubles per failed start (30 s up to 10 min).
Any process that finds the settings usable clears the record, so fixing them and running any task, or
the next start after the wait, resumes the queue. The message names a key, never a secret.
"""

import json
import time
from typing import Callable, Optional

from plexsync.state import StateDB

KEY = "misconfigured"
FIRST_WAIT, MAX_WAIT = 30.0, 600.0
REPEAT_EVERY = 3600.0


def record(db: StateDB, message: str, clock: Callable[[], float] = time.time, scale: float = 1.0) -> bool:
    """Remember a start that failed on ``message``; True if it should be logged (new, or not said for an hour)."""
    now = clock()
    with db.transaction() as conn:
        row = conn.execute("SELECT value FROM kv WHERE key = ?", (KEY,)).fetchone()
        previous = json.loads(row[0]) if row else None
        same = previous is not None and previous.get("message") == message
        failures = previous.get("failures", 0) + 1 if same else 1
        say = not same or now - previous.get("said_at", 0) >= REPEAT_EVERY
        value = {"message": message, "failures": failures, "said_at": now if say else previous.get("said_at", now),
                 "retry_at": now + min(MAX_WAIT, FIRST_WAIT * 2 ** (failures - 1)) * scale}
        conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (KEY, json.dumps(value)))
    return say


def spawn_allowed(db: StateDB, clock: Callable[[], float] = time.time) -> bool:
    """False while a worker that stopped on a configuration error asked the next one to wait."""
    value = db.get(KEY)
    return not value or clock() >= value.get("retry_at", 0)


def current(db: StateDB) -> Optional[str]:
    """The configuration error the last worker stopped on, if it has not been fixed since."""
    value = db.get(KEY)
    return value.get("message") if value else None


def clear(db: StateDB) -> None:
    """The settings work (again): workers may start at once."""
    db.execute("DELETE FROM kv WHERE key = ?", (KEY,))
