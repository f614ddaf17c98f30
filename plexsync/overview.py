"""The PlexSync page's data, from PlexSync's own files alone: one answer for the whole page.

The ``status`` report (queue and retry counts, both circuit breakers, the last outage, the worker),
the dead letters with the fix for each, the last reconcile's classes with examples, the last health
check with its fixes, and syncs per hour over the last days. No Stash or Plex request: the page
answers while both are down. The keys are an interface (README, "Operations").
"""

import time
from pathlib import Path
from typing import Callable, Optional

from plexsync import status
from plexsync.deadletters import DeadLetters
from plexsync.records import SyncRecords
from plexsync.scene_state import letter_row
from plexsync.schedule import LAST_RUN_KEY
from plexsync.state import StateDB

HEALTH_KEY = "last_health"  # written by the ``health`` task
EXAMPLES_KEY = "last_reconcile_examples"  # written by ``reconcile``; ``status`` keeps only the counts
DEAD_LETTER_ROWS = 200
MAX_DAYS = 31


def _last_reconcile(db: StateDB) -> Optional[dict]:
    last = db.get(LAST_RUN_KEY)
    if not last or "scope" not in last:  # a bare schedule stamp, no report yet
        return None
    return {**{k: v for k, v in last.items() if k != "at_ts"}, "examples": db.get(EXAMPLES_KEY) or {}}


def _health(db: StateDB) -> Optional[dict]:
    health = db.get(HEALTH_KEY)
    return health and {**health, "checked_at": status.iso(health.get("checked_at"))}


def _per_hour(db: StateDB, days: int, clock: Callable[[], float]) -> list:
    hours = SyncRecords(db, clock).per_hour(24 * max(1, min(days, MAX_DAYS)))
    return [{"hour": status.iso(start), "synced": count} for start, count in hours]


def overview(data_dir: Path, db: StateDB, days: int = 3, clock: Callable[[], float] = time.time) -> dict:
    """Everything the PlexSync page shows (see the module docstring)."""
    letters = DeadLetters(db, clock)
    return {
        "status": status.collect(data_dir, clock),
        "dead_letters": [letter_row(letter) for letter in letters.list(limit=DEAD_LETTER_ROWS, newest_first=True)],
        "last_reconcile": _last_reconcile(db),
        "health": _health(db),
        "syncs_per_hour": _per_hour(db, days, clock),
        "generated_at": status.iso(clock()),
    }
