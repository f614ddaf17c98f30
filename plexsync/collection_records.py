"""Collection records: per Plex collection PlexSync has seen, whether it manages it and what it last wrote.

A collection is *managed* when PlexSync created it (its first member got the tag from PlexSync) or
when every member it had at first sight was an item PlexSync had written that title to (a collection
an earlier PlexSync version made). Only managed collections are edited, ordered or deleted; one the
user made is never touched, though scenes still join it by its title as before. ``fingerprint`` is a
hash of what would be written (cover, description, order), so an unchanged collection costs no
request. ``dirty`` marks collections whose members, order or Stash object may have changed; a
collection pass settles them. Rows are per library section and case-insensitive title, as Plex has them.
"""

import json
from dataclasses import dataclass, field
from typing import Optional

from plexsync.state import StateDB, run_script

SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    section INTEGER NOT NULL, title_key TEXT NOT NULL, title TEXT NOT NULL, rating_key INTEGER,
    managed INTEGER NOT NULL, fingerprint TEXT, written TEXT, dirty INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (section, title_key));
CREATE INDEX IF NOT EXISTS collections_dirty ON collections (dirty)
"""
_COLUMNS = "section, title, rating_key, managed, fingerprint, written, dirty"


@dataclass(frozen=True)
class CollectionRecord:
    """One collection PlexSync has seen."""

    section: int
    title: str
    rating_key: Optional[int]
    managed: bool
    fingerprint: str = ""
    written: dict = field(default_factory=dict)
    dirty: bool = False

    @property
    def source(self) -> str:
        """``group:<id>`` or ``studio:<id>``: the Stash object behind it ("" before the first pass)."""
        return self.written.get("source", "")


class CollectionRecords:
    """The ``collections`` table."""

    def __init__(self, db: StateDB) -> None:
        self.db = db
        with db.transaction() as conn:
            run_script(conn, SCHEMA)

    def get(self, section: int, title: str) -> Optional[CollectionRecord]:
        """The record of one collection, or None if PlexSync never saw it."""
        rows = self.db.query(f"SELECT {_COLUMNS} FROM collections WHERE section = ? AND title_key = ?",
                             (section, title.lower()))
        return _record(rows[0]) if rows else None

    def known(self, section: int) -> set:
        """Lower-cased titles of the section's collections PlexSync has seen."""
        return {row[0] for row in self.db.query("SELECT title_key FROM collections WHERE section = ?", (section,))}

    def claim(self, section: int, title: str, managed: bool, rating_key: Optional[int] = None, source: str = "") -> None:
        """Record a collection at first sight, dirty, with the Stash object behind it (the first claim wins)."""
        self.db.execute("INSERT OR IGNORE INTO collections (section, title_key, title, rating_key, managed, written, dirty) "
                        "VALUES (?, ?, ?, ?, ?, ?, 1)",
                        (section, title.lower(), title, rating_key, int(managed), json.dumps({"source": source} if source else {})))

    def mark_dirty(self, section: int, titles: list) -> None:
        """Ask the next collection pass to look at these collections."""
        if titles:
            marks = ",".join("?" * len(titles))
            self.db.execute(f"UPDATE collections SET dirty = 1 WHERE section = ? AND title_key IN ({marks})",
                            (section, *[t.lower() for t in titles]))

    def mark_source(self, source: str) -> int:
        """Mark every managed collection of one Stash object (``group:4``) dirty; returns how many."""
        return self.db.execute("UPDATE collections SET dirty = 1 WHERE managed = 1 AND json_extract(written, '$.source') = ?",
                               (source,))

    def mark_all(self) -> int:
        """Mark every managed collection dirty (reconcile found them stale)."""
        return self.db.execute("UPDATE collections SET dirty = 1 WHERE managed = 1")

    def dirty(self) -> list:
        """Collections waiting for a pass."""
        return [_record(row) for row in self.db.query(f"SELECT {_COLUMNS} FROM collections WHERE dirty = 1")]

    def pending(self) -> int:
        """How many collections wait for a pass."""
        return self.db.query("SELECT COUNT(*) FROM collections WHERE dirty = 1")[0][0]

    def managed(self) -> list:
        """Every collection PlexSync manages."""
        return [_record(row) for row in self.db.query(f"SELECT {_COLUMNS} FROM collections WHERE managed = 1")]

    def save(self, record: CollectionRecord) -> None:
        """Store what was written (clears ``dirty``)."""
        self.db.execute("UPDATE collections SET rating_key = ?, fingerprint = ?, written = ?, dirty = 0, managed = ? "
                        "WHERE section = ? AND title_key = ?",
                        (record.rating_key, record.fingerprint, json.dumps(record.written), int(record.managed),
                         record.section, record.title.lower()))

    def forget(self, section: int, title: str) -> None:
        """Drop a record (PlexSync deleted the collection, or Plex no longer has it)."""
        self.db.execute("DELETE FROM collections WHERE section = ? AND title_key = ?", (section, title.lower()))

    def count(self) -> dict:
        """``managed`` and ``foreign`` collections seen, and ``pending`` (dirty) ones, for ``status``."""
        rows = dict(self.db.query("SELECT managed, COUNT(*) FROM collections GROUP BY managed"))
        return {"managed": rows.get(1, 0), "foreign": rows.get(0, 0), "pending": self.pending()}


def _record(row: tuple) -> CollectionRecord:
    return CollectionRecord(row[0], row[1], row[2], bool(row[3]), row[4] or "", json.loads(row[5] or "{}"), bool(row[6]))
