"""Bulk syncs from Stash's Tasks page: ``sync_all`` and ``sync_recent``.

One paged pass over Stash's scenes (pages of 100 sorted by ``id``, or by ``updated_at`` for recent
changes), never one query per scene: a page's changed scenes (what would be written differs from the
last write's fingerprint) are queued with the page's data attached, then drained in the foreground
before the next page, so memory stays bounded and a SIGKILL loses nothing (queued jobs persist,
finished scenes are recorded and skipped by the next run). While Plex is down (its circuit breaker is
open, at the start or from some page on), the changed scenes are only queued: the background worker
delivers them once Plex answers again.
"""

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

from plexsync.collection_sync import PASS_KEYS
from plexsync.errors import PlexSyncError
from plexsync.jobs import Job
from plexsync.metadata import Shaping, desired_state, skip_reason
from plexsync.records import SyncRecord
from plexsync.runtime import Runtime
from plexsync.worker import drain_foreground

log = logging.getLogger(__name__)
PAGE_SIZE = 100
RECENT_KEY = "sync_recent_checkpoint"
COUNT_KEYS = ("scanned", "queued", "synced", "unchanged", "not_found", "ambiguous", "failed", "skipped")


def needs_sync(scene: dict, record: Optional[SyncRecord], settings, shaping: Optional[Shaping] = None) -> bool:
    """True unless the last write came from this very scene state (and the settings' effective values)."""
    if record is None:
        return True
    fingerprint = desired_state(scene, settings, shaping).fingerprint
    return record.fingerprint != fingerprint or record.written.get("updated_at") != scene.get("updated_at")


def tally(counts: dict, kind: str, error_class: str = "", error: str = "") -> None:
    """Fold one delivery result into the task's output counts."""
    if kind in ("synced",):
        counts["synced"] += 1
    elif kind in ("unchanged", "covered", "skipped", "gone"):
        counts["unchanged"] += 1
    elif error_class == "not_found" or kind == "missing":
        counts["not_found"] += 1
    elif error == "AmbiguousMatch":
        counts["ambiguous"] += 1
    elif kind in ("retry", "held", "dead"):
        counts["failed"] += 1


class BulkSync:
    """Pages through scenes, queues the changed ones, drains them page by page."""

    def __init__(self, runtime: Runtime, progress: Callable[[float], None], clock: Callable[[], float] = time.time) -> None:
        self.runtime, self.progress, self.clock = runtime, progress, clock
        self.counts = dict.fromkeys(COUNT_KEYS, 0)
        self.shaping: Optional[Shaping] = None

    def run(self, scene_filter: Optional[dict] = None, sort: str = "id",
            after_page: Callable[[list], None] = lambda scenes: None) -> dict:
        """The whole pass; ``after_page`` runs once a page is fully drained (checkpoints)."""
        self.progress(0.0)
        self._prepare()
        page = 1
        while True:
            fetched_at = self.clock()
            total, scenes = self.runtime.stash.scenes_page(page, PAGE_SIZE, scene_filter, sort)
            self._sync_page(scenes, fetched_at, page, total)
            after_page(scenes)
            if not scenes or page * PAGE_SIZE >= total:
                break
            page += 1
        if scene_filter is None:
            self._stale_collections()
        self.counts["collections"] = self.runtime.delivery.settle_collections() or dict.fromkeys(PASS_KEYS, 0)
        self.progress(1.0)
        return self.counts

    def _prepare(self) -> None:
        """One Shaping for the whole run; collections are listed afresh when the first new title needs it."""
        syncer = self.runtime.delivery.syncer
        self.shaping = syncer.shaping()
        if syncer.extras:
            syncer.extras.collections.forget_listings()

    def _stale_collections(self) -> None:
        """A full run also looks at every collection PlexSync manages: a group cover or studio description
        changed while no hook ran (the plugin was off) is written by the pass."""
        extras = self.runtime.delivery.syncer.extras
        if extras is None or not self.runtime.settings.collection_sources:
            return
        try:
            extras.collections.mark_stale()
        except PlexSyncError as exc:
            log.warning("sync_all: collections not checked against Stash (%s); reconcile checks them too", exc)

    def _sync_page(self, scenes: list, fetched_at: float, page: int, total: int) -> None:
        syncer = self.runtime.delivery.syncer
        records = syncer.records.many([int(s["id"]) for s in scenes])
        settings = self.runtime.settings
        kept = [s for s in scenes if not skip_reason(s, settings)]
        changed = [s for s in kept if needs_sync(s, records.get(int(s["id"])), settings, self.shaping)]
        self.counts["scanned"] += len(scenes)
        self.counts["skipped"] += len(scenes) - len(kept)
        self.counts["unchanged"] += len(kept) - len(changed)
        self.counts["queued"] += len(changed)
        pages = max(1, -(-total // PAGE_SIZE))
        step = lambda fraction: self.progress(min(0.999, (page - 1 + fraction) / pages))  # noqa: E731
        jobs = [Job(int(s["id"]), "sync", fetched_at, source="bulk") for s in changed]
        if self.runtime.delivery.blocked_until() is None:
            self._deliver(changed, jobs, fetched_at, step)
        else:
            self.runtime.queue.put_many(jobs)  # Plex is down: the background worker delivers them later
        step(1.0)

    def _deliver(self, changed: list, jobs: list, fetched_at: float, step: Callable[[float], None]) -> None:
        """Queue the page's changed scenes with their data attached and drain them now."""
        syncer = self.runtime.delivery.syncer
        syncer.prefetched.update({int(s["id"]): (s, fetched_at) for s in changed})
        syncer.prefetched_items.update(syncer.items_for(changed))
        self.runtime.queue.put_many(jobs)
        drain_foreground(self.runtime, step, on_result=self._count, settle=False)
        syncer.prefetched.clear()
        syncer.prefetched_items.clear()

    def _count(self, result) -> None:
        tally(self.counts, result.kind, result.error_class, result.error)


def sync_recent(runtime: Runtime, progress: Callable[[float], None], now: Optional[datetime] = None) -> dict:
    """Scenes updated since the last run's checkpoint (first run: the last 24 hours)."""
    db = runtime.db
    since = db.get(RECENT_KEY) or runtime.stash.server_time((now or datetime.now(timezone.utc)) - timedelta(hours=24))
    if since is None:
        progress(1.0)
        return {**dict.fromkeys(COUNT_KEYS, 0), "since": None}

    def checkpoint(scenes: list) -> None:
        if scenes:
            db.put(RECENT_KEY, max(s["updated_at"] for s in scenes)[:19])

    scene_filter = {"updated_at": {"value": since, "modifier": "GREATER_THAN"}}
    counts = BulkSync(runtime, progress).run(scene_filter, sort="updated_at", after_page=checkpoint)
    return {**counts, "since": since}
