"""Collections as Plex objects: Stash's groups and studios with their cover, description and scene order.

Membership travels with the scenes: each scene's edit carries its ``collection`` tags (PMS makes a
collection of a new title), and a tag PlexSync wrote goes when the scene leaves the group. What a
collection is beyond its members (poster, summary, the group's order as the custom order) is written
here, once per changed collection, by a *pass* over the collections marked dirty:

1. Stash's groups and studios behind them, one query for each kind;
2. per collection, a fingerprint of the cover URL, description and member order: unchanged costs nothing;
3. changed: the cover downloaded and uploaded only when its bytes changed, one edit for the summary,
   and for a group the custom order (``collectionSort=2`` once, then the fewest moves);
4. a managed collection left with no members (the group was deleted or renamed, the setting changed)
   is deleted once Plex shows it empty.

Collections the user made are never edited, ordered, renamed or deleted (``collection_records``).
"""

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, replace
from typing import Optional

from plexsync.collection_records import CollectionRecord, CollectionRecords
from plexsync.errors import ItemMissing, PermanentError
from plexsync.imagelinks import stash_image
from plexsync.metadata import SUMMARY_MAX, clean
from plexsync.plex import PlexClient
from plexsync.plex_collections import CollectionsClient, moves
from plexsync.records import SyncRecords
from plexsync.stash import StashClient

log = logging.getLogger(__name__)
PASS_KEYS = ("updated", "unchanged", "deleted", "failed")


@dataclass(frozen=True)
class WantedCollection:
    """What a managed collection should show: summary, cover URL, and (groups) member order."""

    summary: str
    image_url: str
    order: Optional[tuple]  # ratingKeys in the group's scene order; None for a studio
    members: int

    @property
    def fingerprint(self) -> str:
        """A hash of what would be written (the cover URL carries Stash's ``?t=`` version)."""
        payload = {"s": self.summary, "i": self.image_url, "o": self.order}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]

    def changed_parts(self, written: dict) -> list:
        """Which of ``poster``, ``summary`` and ``order`` differ from what was written last."""
        parts = []
        if self.image_url and self.image_url != written.get("image_url"):
            parts.append("poster")
        if self.summary != written.get("summary", "") and (self.summary or written.get("summary")):
            parts.append("summary")
        if self.order is not None and list(self.order) != written.get("order"):
            parts.append("order")
        return parts


def _index(groups: dict, title: str) -> Optional[int]:
    """The scene's place in the group behind ``title`` (``groups`` keys keep Stash's spelling)."""
    return next((index for name, index in groups.items() if name.lower() == title.lower()), None)


class CollectionSync:
    """Claims collections at first sight, marks them dirty, and settles dirty ones in a pass."""

    def __init__(self, stash: StashClient, plex: PlexClient, records: CollectionRecords, scenes: SyncRecords) -> None:
        self.stash, self.client, self.records, self.scenes = stash, CollectionsClient(plex), records, scenes
        self._listings: dict = {}  # section -> {lower title: PlexCollection}: listed when first needed, kept until a pass
        self._listing_lock = threading.Lock()  # one listing per section however many threads need it
        self._claimed: set = set()  # (section, lower title) whose owner is settled since the last pass
        self._marked: set = set()  # (section, lower title) marked dirty since the last pass

    # ------------------------------------------------------------------ while scenes are written

    def forget_listings(self) -> None:
        """Drop the listings and marks kept since the last pass (a bulk run starts afresh)."""
        with self._listing_lock:
            self._listings.clear()
            self._claimed.clear()
            self._marked.clear()

    def claim(self, section: int, refs: tuple) -> None:
        """First sight of collections a scene is about to join: whose are they? (see collection_records)."""
        fresh = [ref for ref in refs if (section, ref.title.lower()) not in self._claimed]
        known = self.records.known(section) if fresh else set()
        for ref in fresh:
            self._claimed.add((section, ref.title.lower()))
            if ref.title.lower() in known:
                continue
            self._marked.add((section, ref.title.lower()))  # a new record starts dirty
            existing = self._find(section, ref.title)
            managed = existing is None or self._was_ours(existing.rating_key, ref.title)
            self.records.claim(section, ref.title, managed, existing.rating_key if existing else None, f"{ref.kind}:{ref.id}")

    def _was_ours(self, rating_key: int, title: str) -> bool:
        """An existing collection is PlexSync's if every member is an item PlexSync wrote that title to."""
        members = set(self.client.members(rating_key))
        ours = {member[1] for member in self.scenes.in_collections({title.lower()})[title.lower()]}
        return bool(members) and members <= ours

    def written(self, section: int, before: dict, after: dict) -> None:
        """After a scene's write: collections it joined, left or moved in are marked for the next pass."""
        old, new = set(before.get("collection") or []), set(after.get("collection") or [])
        moved = {title for title, index in (after.get("groups") or {}).items() if (before.get("groups") or {}).get(title) != index}
        changed = [title for title in sorted(old ^ new | moved) if (section, title.lower()) not in self._marked]
        self.records.mark_dirty(section, changed)
        self._marked.update((section, title.lower()) for title in changed)

    def touch(self, kind: str, object_id: int) -> int:
        """A group or studio changed in Stash (cover, description, name): its collections are looked at."""
        return self.records.mark_source(f"{kind}:{int(object_id)}")

    def pending(self) -> int:
        """Collections waiting for a pass."""
        return self.records.pending()

    # ------------------------------------------------------------------ the pass

    def run(self) -> dict:
        """Settle every dirty collection; counts per outcome. TransientError ends the pass (the rest stay dirty)."""
        counts = dict.fromkeys(PASS_KEYS, 0)
        dirty = self.records.dirty()
        if not dirty:
            return counts
        self.forget_listings()  # a bulk run's listing predates the collections its writes made
        sources = self._sources([r for r in dirty if r.managed])
        sources["members"] = self.scenes.in_collections({r.title.lower() for r in dirty if r.managed})
        try:
            for record in dirty:
                counts[self._settle_guarded(record, sources)] += 1
        finally:
            self.forget_listings()
        if counts["updated"] or counts["deleted"] or counts["failed"]:
            log.info("collections: %s", ", ".join(f"{v} {k}" for k, v in counts.items() if v))
        return counts

    def _settle_guarded(self, record: CollectionRecord, sources: dict) -> str:
        try:
            return self._settle(record, sources)
        except ItemMissing:
            log.info('collection "%s": Plex no longer has it; PlexSync forgets it', record.title)
            self.records.forget(record.section, record.title)
            return "deleted"
        except PermanentError as exc:  # TransientError and AuthError end the pass: the caller routes them
            log.error('collection "%s": not updated: %s', record.title, exc)
            self.records.save(replace(record, written={**record.written, "error": str(exc)[:300]}))
            return "failed"

    def _settle(self, record: CollectionRecord, sources: dict) -> str:
        if not record.managed:
            self.records.save(record)
            return "unchanged"
        wanted = self.wanted(record, sources)
        if wanted.members == 0:
            return self._maybe_delete(record)
        if wanted.fingerprint == record.fingerprint and record.rating_key:
            self.records.save(record)
            return "unchanged"
        found = self._rating_key(record)
        if found is None:
            self.records.save(record)  # no member reached Plex yet; the next write marks it again
            return "unchanged"
        written = self._write(replace(record, rating_key=found), wanted)
        self.records.save(replace(record, rating_key=found, fingerprint=wanted.fingerprint, written=written))
        return "updated"

    def wanted(self, record: CollectionRecord, sources: dict) -> WantedCollection:
        """What the collection should show, from its Stash object and PlexSync's records of its members."""
        source = sources.get(record.source) or {}
        listed = sources.get("members", {}).get(record.title.lower())
        if listed is None:
            listed = self.scenes.in_collections({record.title.lower()})[record.title.lower()]
        members = [(_index(groups, record.title), scene_id, key) for scene_id, key, section, groups in listed
                   if section in (None, record.section)]
        order = None
        if record.source.startswith("group:"):
            order = tuple(key for _, _, key in sorted(members, key=lambda m: (m[0] is None, m[0] or 0, m[1])))
        summary = clean(source.get("synopsis") or source.get("details"), SUMMARY_MAX)
        image = stash_image(source.get("front_image_path") or source.get("image_path"))
        return WantedCollection(summary, image, order, len(members))

    def _write(self, record: CollectionRecord, wanted: WantedCollection) -> dict:
        """Poster, summary and order, each only when changed; returns what is now written."""
        written = dict(record.written)
        written.pop("error", None)
        parts = wanted.changed_parts(written)
        if "poster" in parts:
            written.update(self._poster(record.rating_key, wanted.image_url, written.get("image_hash")))
        if "summary" in parts:
            self.client.edit(record.section, record.rating_key, {"summary.value": wanted.summary,
                                                                 "summary.locked": 1 if wanted.summary else 0})
            written["summary"] = wanted.summary
        if "order" in parts:
            self._order(record, list(wanted.order), written)
        return written

    def _poster(self, rating_key: int, url: str, had: Optional[str]) -> dict:
        data = self.stash.image(url)
        digest = hashlib.sha256(data).hexdigest() if data else None
        if data and digest != had:
            self.client.upload_poster(rating_key, data)
        return {"image_url": url, "image_hash": digest or had}

    def _order(self, record: CollectionRecord, order: list, written: dict) -> None:
        if not written.get("custom"):
            self.client.custom_order(record.rating_key)
            written["custom"] = True
        for item, after in moves(self.client.members(record.rating_key), order):
            self.client.move(record.rating_key, item, after)
        written["order"] = order

    def _maybe_delete(self, record: CollectionRecord) -> str:
        """No scene of PlexSync's is in it any more: delete it once Plex shows it empty."""
        found = self._find(record.section, record.title, refresh=True)
        if found is None:
            self.records.forget(record.section, record.title)
            return "deleted"
        if found.child_count:
            self.records.save(replace(record, rating_key=found.rating_key))  # someone added items by hand: kept
            return "unchanged"
        self.client.delete(found.rating_key)
        self.records.forget(record.section, record.title)
        log.info('collection "%s": deleted (empty; PlexSync created it)', record.title)
        return "deleted"

    def _rating_key(self, record: CollectionRecord) -> Optional[int]:
        if record.rating_key:
            return record.rating_key
        found = self._find(record.section, record.title)
        return found.rating_key if found else None

    # ------------------------------------------------------------------ reconcile and preview

    def check(self, plex_checked: bool = True) -> list:
        """(record, class, reason) per managed collection: ``in_sync``, ``stale`` (Stash changed),
        ``plex_drifted`` (Plex lost the summary or poster written) or ``missing_in_plex``."""
        managed = self.records.managed()
        if not managed:
            return []
        sources = self._sources(managed)
        sources["members"] = self.scenes.in_collections({r.title.lower() for r in managed})
        try:
            listings = {s: self._listing(s, refresh=True) for s in {r.section for r in managed}} if plex_checked else {}
            return [(record, *self._verdict(record, self.wanted(record, sources), listings)) for record in managed]
        finally:
            self.forget_listings()

    @staticmethod
    def _verdict(record: CollectionRecord, wanted: WantedCollection, listings: dict) -> tuple:
        found = listings[record.section].get(record.title.lower()) if record.section in listings else None
        if record.section in listings and found is None:
            return "missing_in_plex", "Plex no longer has it"
        if wanted.fingerprint != record.fingerprint:
            return "stale", f"its Stash {record.source.partition(':')[0] or 'object'} or member order changed"
        if found is not None and record.written.get("summary") and found.summary != record.written["summary"]:
            return "plex_drifted", "summary changed in Plex"
        if found is not None and record.written.get("image_hash") and not found.thumb:
            return "plex_drifted", "poster removed in Plex"
        return "in_sync", ""

    def mark_stale(self) -> int:
        """Mark the managed collections whose Stash object or order changed (no Plex request); how many."""
        stale = [record for record, verdict, _ in self.check(plex_checked=False) if verdict == "stale"]
        for record in stale:
            self.records.mark_dirty(record.section, [record.title])
        return len(stale)

    def preview(self, section: int, refs: tuple) -> list:
        """What a sync would do to the scene's collections: whose each is, and what would change."""
        entries = []
        records = {ref.title: self.records.get(section, ref.title) for ref in refs}
        sources = self._sources([r for r in records.values() if r is not None and r.managed])
        for ref in refs:
            record = records[ref.title]
            if record is None:
                entries.append({"title": ref.title, "state": "new", "changes": ["created by PlexSync when the scene joins"
                                                                                 " (unless Plex has one by that title)"]})
            elif not record.managed:
                entries.append({"title": ref.title, "state": "not PlexSync's", "changes": ["the scene joins; nothing else changes"]})
            else:
                entries.append({"title": ref.title, "state": "managed", "changes": self._changes(record, sources)})
        return entries

    def _changes(self, record: CollectionRecord, sources: dict) -> list:
        parts = self.wanted(record, sources).changed_parts(record.written)
        return ["poster (if the cover's bytes changed)" if part == "poster" else part for part in parts]

    # ------------------------------------------------------------------ lookups

    def _find(self, section: int, title: str, refresh: bool = False):
        """The collection titled so in the section (case-insensitive), from the listing."""
        return self._listing(section, refresh).get(title.lower())

    def _listing(self, section: int, refresh: bool = False) -> dict:
        with self._listing_lock:
            cached = self._listings.get(section)
            if cached is not None and not refresh:
                return cached
            listing = {c.title.lower(): c for c in self.client.listing(section) if not c.smart}
            self._listings[section] = listing
            return listing

    def _sources(self, records: list) -> dict:
        """The Stash groups and studios behind these collections, keyed ``group:<id>``/``studio:<id>``."""
        wanted: dict = {"group": set(), "studio": set()}
        for record in records:
            kind, _, object_id = record.source.partition(":")
            if kind in wanted and object_id.isdigit():
                wanted[kind].add(int(object_id))
        found = {f"group:{g['id']}": g for g in self.stash.groups(sorted(wanted["group"]))} if wanted["group"] else {}
        if wanted["studio"]:
            found.update({f"studio:{s['id']}": s for s in self.stash.studios(sorted(wanted["studio"]))})
        return found
