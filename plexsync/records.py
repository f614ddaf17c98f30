"""Sync records: per scene, which Plex item was written, from which Stash state, and what was written.

``fetched_at`` is when the worker read the scene from Stash for the write: a job queued before that
moment is already covered (latest state wins, once). ``fingerprint`` is a hash of what was written,
so an unchanged scene costs no Plex request at all; ``written`` keeps the values for ownership rules.
"""

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Optional

from plexsync.state import StateDB

HOURS_KEPT = 31 * 24  # syncs per hour are kept a month (the PlexSync page charts the last days)


@dataclass(frozen=True)
class SyncRecord:
    """What PlexSync last wrote for one scene."""

    scene_id: int
    rating_key: Optional[int]
    plex_file: Optional[str]
    fetched_at: float
    synced_at: float
    fingerprint: str
    written: dict = field(default_factory=dict)


class SyncRecords:
    """The ``sync_records`` table plus the daily counters shown by ``status`` and the hourly ones the page charts."""

    def __init__(self, db: StateDB, clock: Callable[[], float] = time.time) -> None:
        self.db, self.clock = db, clock

    def get(self, scene_id: int) -> Optional[SyncRecord]:
        """The record for a scene, or None if it was never synced."""
        rows = self.db.query(
            "SELECT scene_id, rating_key, plex_file, fetched_at, synced_at, fingerprint, written FROM sync_records WHERE scene_id = ?",
            (scene_id,),
        )
        return _record(rows[0]) if rows else None

    def many(self, scene_ids: list) -> dict:
        """Records for several scenes at once, keyed by scene id."""
        found = {}
        for start in range(0, len(scene_ids), 500):
            chunk = scene_ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.query(
                f"SELECT scene_id, rating_key, plex_file, fetched_at, synced_at, fingerprint, written FROM sync_records WHERE scene_id IN ({marks})",
                tuple(chunk),
            )
            found.update((row[0], _record(row)) for row in rows)
        return found

    def scenes_of(self, rating_keys: list) -> dict:
        """ratingKey -> the scene ids whose last write went to that Plex item (normally one)."""
        found: dict = {}
        for start in range(0, len(rating_keys), 500):
            chunk = rating_keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for rating_key, scene_id in self.db.query(
                    f"SELECT rating_key, scene_id FROM sync_records WHERE rating_key IN ({marks})", tuple(chunk)):
                found.setdefault(rating_key, []).append(scene_id)
        return found

    def save(self, record: SyncRecord, wrote: bool = True) -> None:
        """Store a record; ``wrote`` counts it in today's synced total."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sync_records (scene_id, rating_key, plex_file, fetched_at, synced_at, fingerprint, written) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record.scene_id, record.rating_key, record.plex_file, record.fetched_at, record.synced_at,
                 record.fingerprint, json.dumps(record.written)),
            )
            if wrote:
                day = datetime.fromtimestamp(self.clock()).strftime("%Y-%m-%d")
                conn.execute("INSERT INTO daily_counts (day, synced) VALUES (?, 1) ON CONFLICT(day) DO UPDATE SET synced = synced + 1", (day,))
                self._count_hour(conn)

    def _count_hour(self, conn) -> None:
        """One more sync this hour; the first sync of an hour drops hours older than ``HOURS_KEPT``."""
        hour = int(self.clock() // 3600)
        if conn.execute("INSERT OR IGNORE INTO hourly_counts (hour, synced) VALUES (?, 0)", (hour,)).rowcount:
            conn.execute("DELETE FROM hourly_counts WHERE hour < ?", (hour - HOURS_KEPT,))
        conn.execute("UPDATE hourly_counts SET synced = synced + 1 WHERE hour = ?", (hour,))

    def per_hour(self, hours: int) -> list:
        """(hour start as unix time, scenes synced) for the last ``hours`` hours, oldest first, zeros included."""
        last = int(self.clock() // 3600)
        first = last - max(1, min(hours, HOURS_KEPT)) + 1
        counts = dict(self.db.query("SELECT hour, synced FROM hourly_counts WHERE hour >= ?", (first,)))
        return [(hour * 3600, counts.get(hour, 0)) for hour in range(first, last + 1)]

    def using(self, kind: str, object_id: int) -> list:
        """Scenes whose last write came from this performer, studio or tag (``kind``)."""
        rows = self.db.query(
            "SELECT scene_id FROM sync_records, json_each(sync_records.written, ?) WHERE json_each.value = ?",
            (f"$.sources.{kind}", int(object_id)),
        )
        return [row[0] for row in rows]

    def in_collections(self, titles: set) -> dict:
        """Lower-cased title -> [(scene id, ratingKey, section, groups)] of the scenes PlexSync last wrote into
        each of these collections (one pass over the records, only the fields collections need;
        titles compared as Python lower-cases them)."""
        found: dict = {title: [] for title in titles}
        rows = self.db.query("SELECT json_each.value, scene_id, rating_key, json_extract(written, '$.section'), "
                             "json_extract(written, '$.groups') FROM sync_records, json_each(sync_records.written, '$.collection')")
        for value, scene_id, rating_key, section, groups in rows:
            key = str(value).lower()
            if key in found:
                found[key].append((scene_id, rating_key, section, json.loads(groups) if groups else {}))
        return found

    def forget(self, scene_id: int) -> bool:
        """Drop a scene's record (the scene was deleted in Stash); True if there was one."""
        return self.db.execute("DELETE FROM sync_records WHERE scene_id = ?", (scene_id,)) > 0

    def totals(self) -> dict:
        """Scenes synced today and in all, and the time of the last sync."""
        today = datetime.fromtimestamp(self.clock()).strftime("%Y-%m-%d")
        day = self.db.query("SELECT synced FROM daily_counts WHERE day = ?", (today,))
        total = self.db.query("SELECT COALESCE(SUM(synced), 0) FROM daily_counts")[0][0]
        last = self.db.query("SELECT MAX(synced_at) FROM sync_records")[0][0]
        return {"synced_today": day[0][0] if day else 0, "synced_total": total, "last_sync_at": last}


def _record(row: tuple) -> SyncRecord:
    return SyncRecord(row[0], row[1], row[2], row[3], row[4], row[5] or "", json.loads(row[6] or "{}"))
