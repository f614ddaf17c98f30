"""What the pull has done, kept in the state database, so a pull repeats nothing and loses nothing.

* ``pulled_plays``: one row per Plex history entry (Plex's own id for the play) the pull has seen, in one
  of three states: ``unmatched`` (its item maps to no scene yet; picked up again once it does),
  ``pending`` (sent to Stash in a mutation whose answer was not seen: written *before* the mutation, so
  a kill at any moment leaves either ``pending`` or ``done``) and ``done``. The next pull settles a
  ``pending`` row by comparing with the scene's ``play_history``; Stash adds a mutation's plays in one
  transaction, so they are all there or none is.
* ``pull_marks``: per Plex item, the ``lastViewedAt`` and ``lastRatedAt`` the pull last acted on, so an
  item seen again (the reads overlap) is not acted on twice.
* the checkpoint (``kv``): the newest play, view and rating times read by the last complete pull.
  Done rows are pruned once they are older than the checkpoint minus the overlap re-read every time.
"""

from collections import defaultdict
from typing import Iterable

from plexsync.pull.activity import Play
from plexsync.state import StateDB

SCHEMA = """
CREATE TABLE IF NOT EXISTS pulled_plays (
    history_id INTEGER PRIMARY KEY, rating_key INTEGER NOT NULL, viewed_at INTEGER NOT NULL,
    account_id INTEGER, scene_id INTEGER, state TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS pulled_plays_state ON pulled_plays (state, scene_id);
CREATE TABLE IF NOT EXISTS pull_marks (rating_key INTEGER PRIMARY KEY, viewed_at INTEGER, rated_at INTEGER);
"""
CHECKPOINT_KEY = "pull_checkpoint"
CHUNK = 500  # ids per SQL statement


def _chunks(values: list) -> Iterable[list]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


class Ledger:
    """The pull's tables (created on first use) and its checkpoint."""

    def __init__(self, db: StateDB) -> None:
        self.db = db
        with db.transaction() as conn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def states(self, history_ids: list) -> dict:
        """history id -> state, for the ids the ledger holds."""
        found = {}
        for chunk in _chunks(list(history_ids)):
            marks = ",".join("?" * len(chunk))
            found.update(self.db.query(f"SELECT history_id, state FROM pulled_plays WHERE history_id IN ({marks})",
                                       tuple(chunk)))
        return found

    def park(self, plays: list) -> None:
        """Remember plays whose item maps to no scene (now, or no more: a scene deleted before they reached it)."""
        with self.db.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO pulled_plays (history_id, rating_key, viewed_at, account_id, state)"
                             " VALUES (?, ?, ?, ?, 'unmatched')",
                             [(p.history_id, p.rating_key, p.viewed_at, p.account_id) for p in plays])

    def parked(self) -> list:
        """The plays waiting for their item to match a scene."""
        return [Play(*row) for row in self.db.query("SELECT history_id, rating_key, viewed_at, account_id"
                                                    " FROM pulled_plays WHERE state = 'unmatched'")]

    def begin(self, plays_by_scene: dict) -> None:
        """Write-ahead: these plays are about to be sent to these scenes."""
        rows = [(p.history_id, p.rating_key, p.viewed_at, p.account_id, scene_id)
                for scene_id, plays in plays_by_scene.items() for p in plays]
        with self.db.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO pulled_plays (history_id, rating_key, viewed_at, account_id,"
                             " scene_id, state) VALUES (?, ?, ?, ?, ?, 'pending')", rows)

    def finish(self, history_ids: list) -> None:
        """These plays are in Stash."""
        with self.db.transaction() as conn:
            conn.executemany("UPDATE pulled_plays SET state = 'done' WHERE history_id = ?", [(i,) for i in history_ids])

    def pending(self) -> dict:
        """scene id -> [Play] of the plays a killed pull sent without seeing Stash's answer."""
        found = defaultdict(list)
        for scene_id, *play in self.db.query("SELECT scene_id, history_id, rating_key, viewed_at, account_id"
                                             " FROM pulled_plays WHERE state = 'pending'"):
            found[scene_id].append(Play(*play))
        return dict(found)

    def done_times(self, scene_ids: list) -> dict:
        """scene id -> times of the plays the pull has added to it (those still in the ledger)."""
        found = defaultdict(list)
        for chunk in _chunks(list(scene_ids)):
            marks = ",".join("?" * len(chunk))
            for scene_id, viewed_at in self.db.query(
                    f"SELECT scene_id, viewed_at FROM pulled_plays WHERE state = 'done' AND scene_id IN ({marks})",
                    tuple(chunk)):
                found[scene_id].append(viewed_at)
        return dict(found)

    def marks(self, rating_keys: list) -> dict:
        """ratingKey -> (lastViewedAt, lastRatedAt) the pull last acted on."""
        found = {}
        for chunk in _chunks(list(rating_keys)):
            marks = ",".join("?" * len(chunk))
            found.update((row[0], (row[1] or 0, row[2] or 0)) for row in self.db.query(
                f"SELECT rating_key, viewed_at, rated_at FROM pull_marks WHERE rating_key IN ({marks})", tuple(chunk)))
        return found

    def mark(self, states: list) -> None:
        """The pull acted on these watch states."""
        with self.db.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO pull_marks (rating_key, viewed_at, rated_at) VALUES (?, ?, ?)",
                             [(s.rating_key, s.last_viewed_at, s.last_rated_at) for s in states])

    def checkpoint(self) -> dict:
        """The newest Plex times the last complete pull read: ``plays`` (viewedAt), ``viewed`` (lastViewedAt) and
        ``rated`` (lastRatedAt), each absent until a pull has read that kind."""
        return self.db.get(CHECKPOINT_KEY) or {}

    def save_checkpoint(self, values: dict, keep: int) -> None:
        """Record a complete pull; done plays older than ``plays - keep`` are forgotten (never read again)."""
        self.db.put(CHECKPOINT_KEY, {key: value for key, value in values.items() if value is not None})
        if values.get("plays") is not None:
            self.db.execute("DELETE FROM pulled_plays WHERE state = 'done' AND viewed_at < ?", (values["plays"] - keep,))
