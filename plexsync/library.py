"""The library index: Plex file path -> item, kept in the state database.

Each row also records the scene an item's guid names when Plex matched the item through PlexSync's
metadata provider (``tv.plex.agents.custom.plexsync://movie/scene-<id>``), the strongest identity
the matcher knows.

Plex has no path filter (plex-api-notes.md §2.8), so PlexSync lists each configured section once
(paged, parsed lean) and afterwards refreshes incrementally with ``updatedAt>>=`` (items added or
changed since the last refresh). Stale entries (ratingKeys Plex changed) are caught by verifying the
item before writing; "not found" is never cached.
"""

import logging
import threading
import time
from typing import Callable, Iterable, Optional

from plexsync.identity import scene_from_guid
from plexsync.paths import basename, file_key
from plexsync.plex import PlexClient, Section
from plexsync.state import StateDB, run_script

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS plex_index (
    file_key TEXT PRIMARY KEY, file TEXT NOT NULL, name_key TEXT NOT NULL, size INTEGER,
    rating_key INTEGER NOT NULL, section INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS plex_index_name ON plex_index (name_key, size);
CREATE INDEX IF NOT EXISTS plex_index_item ON plex_index (rating_key);
"""
SCENE_COLUMN = "CREATE INDEX IF NOT EXISTS plex_index_scene ON plex_index (scene_id)"
REFRESH_MIN_INTERVAL = 2.0  # seconds: at most one incremental listing per 2 s, however many jobs miss
SLACK = 2  # seconds re-listed before the last refresh, against clock skew between us and Plex


class Sections:
    """The Plex libraries to match in, listed on first use (Plex may be down when a worker starts).

    Iterating lists them once (``plex_libraries`` names, or every movie library) and keeps the answer.
    """

    def __init__(self, plex: PlexClient, names: list) -> None:
        self.plex, self.names = plex, names
        self._found: Optional[list] = None
        self._lock = threading.Lock()

    def __iter__(self):
        with self._lock:
            if self._found is None:
                self._found = self.plex.sections(self.names)
        return iter(self._found)


class LibraryIndex:
    """File path -> ratingKey for the configured sections."""

    def __init__(self, db: StateDB, plex: PlexClient, sections: Iterable, clock: Callable[[], float] = time.time) -> None:
        self.db, self.plex, self.sections, self.clock = db, plex, sections, clock
        self._last_refresh = float("-inf")
        self._refreshing = threading.Lock()
        self._generation = 0
        self.offline = False  # while Plex is down: lookups use the index as it is, never refreshing it
        with db.transaction() as conn:
            run_script(conn, SCHEMA)
            if "scene_id" not in {row[1] for row in conn.execute("PRAGMA table_info(plex_index)")}:
                conn.execute("ALTER TABLE plex_index ADD COLUMN scene_id INTEGER")  # indexes built before the provider
            conn.execute(SCENE_COLUMN)

    def _stamp_key(self, section: Section) -> str:
        return f"index:{section.key}"

    def build(self, force: bool = False) -> dict:
        """List every section not indexed yet (or all, with ``force``); returns items per section title."""
        counts = {}
        for section in self.sections:
            if force or self.db.get(self._stamp_key(section)) is None:
                counts[section.title] = self._relist(section)
        return counts

    def _relist(self, section: Section) -> int:
        started = int(self.clock())
        items = list(self.plex.list_items(section.key))
        with self.db.transaction() as conn:  # one transaction: lookups never see a half-built index
            conn.execute("DELETE FROM plex_index WHERE section = ?", (section.key,))
            self._insert(conn, items)
        count = len(items)
        self.db.put(self._stamp_key(section), started)
        log.debug("indexed %s items of Plex library %s", count, section.title)
        return count

    def refresh(self, force: bool = False) -> int:
        """Add items changed since the last refresh; rate-limited unless forced. Returns items seen.

        Serialized: a thread that finds a refresh under way waits for it and then uses its result.
        """
        if self.offline:
            return 0
        generation = self._generation
        with self._refreshing:
            if self._generation != generation:  # another thread refreshed while we waited
                return 0
            if not force and self.clock() - self._last_refresh < REFRESH_MIN_INTERVAL:
                return 0
            self._last_refresh = self.clock()
            seen = self._refresh_sections()
            self._generation += 1
            return seen

    def _refresh_sections(self) -> int:
        seen = 0
        for section in self.sections:
            since = self.db.get(self._stamp_key(section))
            if since is None:
                seen += self._relist(section)
                continue
            started = int(self.clock())
            seen += self._store(self.plex.list_items(section.key, since=max(0, since - SLACK)))
            self.db.put(self._stamp_key(section), started)
        return seen

    def _store(self, items) -> int:
        count, batch = 0, []
        for item in items:
            count += 1
            batch.append(item)
            if len(batch) >= 500:
                self._write(batch)
                batch = []
        self._write(batch)
        return count

    def _write(self, items: list) -> None:
        if items:
            with self.db.transaction() as conn:
                self._insert(conn, items)

    @staticmethod
    def _insert(conn, items: list) -> None:
        conn.executemany("DELETE FROM plex_index WHERE rating_key = ?", [(i.rating_key,) for i in items])
        conn.executemany(
            "INSERT OR REPLACE INTO plex_index (file_key, file, name_key, size, rating_key, section, scene_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(file_key(path), path, basename(path).lower(), size, i.rating_key, i.section, scene_from_guid(i.guid))
             for i in items for path, size in i.files],
        )

    def by_path(self, plex_path: str) -> list:
        """ratingKeys whose file is exactly this path."""
        return [r[0] for r in self.db.query("SELECT DISTINCT rating_key FROM plex_index WHERE file_key = ?", (file_key(plex_path),))]

    def by_name(self, name: str, size: Optional[int]) -> list:
        """(ratingKey, file) pairs with this file name and size."""
        rows = self.db.query("SELECT rating_key, file FROM plex_index WHERE name_key = ? AND size = ?", (name.lower(), size or 0))
        return sorted(set(rows))

    def by_scene(self, scene_id: int) -> list:
        """(ratingKey, file) of the items whose provider guid names this scene, one file per item."""
        rows = self.db.query("SELECT rating_key, MIN(file) FROM plex_index WHERE scene_id = ? GROUP BY rating_key",
                             (int(scene_id),))
        return sorted(rows)

    def scene_of(self, rating_key: int):
        """The scene an item's provider guid names, or None."""
        rows = self.db.query("SELECT scene_id FROM plex_index WHERE rating_key = ? LIMIT 1", (rating_key,))
        return rows[0][0] if rows else None

    def forget(self, rating_key: int) -> None:
        """Drop an item Plex no longer has."""
        self.db.execute("DELETE FROM plex_index WHERE rating_key = ?", (rating_key,))

    def files_in(self) -> dict:
        """Items per section (for ``reindex``)."""
        return dict(self.db.query("SELECT section, COUNT(DISTINCT rating_key) FROM plex_index GROUP BY section"))
