"""Scenes whose file Plex does not have, recorded once under ``missing_in_plex: ignore``.

For a Plex library that holds only part of Stash on purpose: such a scene is not retried and not
dead-lettered; it is listed here (``status`` counts it, ``reconcile`` reports it) until a sync finds
its file in Plex after all, which removes it.
"""

import time
from typing import Callable

from plexsync.state import StateDB

SCHEMA = ("CREATE TABLE IF NOT EXISTS missing_in_plex (scene_id INTEGER PRIMARY KEY, path TEXT, reason TEXT, "
          "first_seen REAL, last_seen REAL)")


class MissingFiles:
    """The ``missing_in_plex`` table."""

    def __init__(self, db: StateDB, clock: Callable[[], float] = time.time) -> None:
        self.db, self.clock = db, clock
        db.execute(SCHEMA)

    def record(self, scene_id: int, path: str, reason: str) -> bool:
        """Note a missing scene; True the first time (the caller logs it then, and only then)."""
        with self.db.transaction() as conn:
            known = conn.execute("SELECT 1 FROM missing_in_plex WHERE scene_id = ?", (scene_id,)).fetchone()
            if known:
                conn.execute("UPDATE missing_in_plex SET last_seen = ?, path = ?, reason = ? WHERE scene_id = ?",
                             (self.clock(), path, reason, scene_id))
            else:
                conn.execute("INSERT INTO missing_in_plex VALUES (?, ?, ?, ?, ?)",
                             (scene_id, path, reason, self.clock(), self.clock()))
        return not known

    def known(self, scene_id: int) -> bool:
        """True if the scene is recorded as missing."""
        return bool(self.db.query("SELECT 1 FROM missing_in_plex WHERE scene_id = ?", (scene_id,)))

    def forget(self, scene_id: int) -> None:
        """The scene's file reached Plex (or the scene is gone)."""
        self.db.execute("DELETE FROM missing_in_plex WHERE scene_id = ?", (scene_id,))

    def count(self) -> int:
        """How many scenes are recorded as missing."""
        return self.db.query("SELECT COUNT(*) FROM missing_in_plex")[0][0]

    def examples(self, limit: int = 10) -> list:
        """The first recorded scenes: ``scene <id>: <reason>``."""
        rows = self.db.query("SELECT scene_id, reason FROM missing_in_plex ORDER BY scene_id LIMIT ?", (limit,))
        return [f"scene {scene_id}: {reason}" for scene_id, reason in rows]
