"""Reconcile gaps: find where Stash and Plex disagree, including changes no hook ever announced.

One paged pass over Stash's scenes (pages of 100 sorted by ``id``), the library index (refreshed
incrementally once), and one batched detail request per page for the scenes that have a sync record:
never one Plex search per scene. Every scene in scope gets exactly one class:

- ``in_sync``: Plex shows what the last sync wrote and Stash has not changed since;
- ``stale``: what would be written now differs from the last write's fingerprint, or the scene was
  updated after it (renames of a performer, studio or tag change the fingerprint without touching
  the scene's ``updated_at``);
- ``plex_drifted``: Plex no longer shows what PlexSync wrote (changed, emptied, unlocked, re-keyed);
- ``never_synced``: a HIGH-confidence match and no sync record;
- ``missing_in_plex``: no Plex item for any of the scene's files;
- ``ambiguous``: several candidates (or only a low-confidence one under strict matching);
- ``awaiting_metadata``: no title, details, studio, performers, tags or date yet; never queued, so a
  reconcile never overwrites good Plex data with nothing;
- ``excluded``: kept out of Plex by ``only_organized`` or ``skip_scene_tags``; never queued.

Under ``missing_in_plex: ignore`` the ``missing_in_plex`` scenes are recorded (``status`` counts them).
Collections PlexSync manages are checked too (``collections`` in the report): ``stale`` when their
Stash group or studio changed (cover, description, order), ``plex_drifted`` when Plex no longer shows
the description PlexSync wrote, ``missing_in_plex`` when Plex no longer has them; the first two are
marked for the next collection pass (the background worker runs it).

The first four scene classes are queued (``plex_drifted`` only without ``preserve_plex_edits``); ``dry_run`` queues nothing.
While Plex is down (its breaker is open, or it fails during the pass), scenes are classified from
Stash, the library index as it is and PlexSync's own records; drift is not checked (``plex_checked``
is false) and the queued scenes wait for the background worker.
"""

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

from plexsync.errors import AmbiguousMatch, AuthError, BadInput, ConfigError, NotFoundYet, PlexSyncError, TransientError
from plexsync.jobs import Job
from plexsync.metadata import desired_state, drift, plex_view, skip_reason
from plexsync.overview import EXAMPLES_KEY
from plexsync.runtime import Runtime
from plexsync.schedule import LAST_RUN_KEY

log = logging.getLogger(__name__)
CLASSES = ("in_sync", "stale", "plex_drifted", "never_synced", "missing_in_plex", "ambiguous", "awaiting_metadata",
           "excluded")
COLLECTION_CLASSES = ("in_sync", "stale", "plex_drifted", "missing_in_plex")
QUEUED_CLASSES = ("stale", "plex_drifted", "never_synced")
SCOPES = {"all": None, "recent": timedelta(hours=24), "7d": timedelta(days=7)}
PAGE_SIZE = 100
EXAMPLES = 10


def awaiting_metadata(scene: dict) -> bool:
    """True for a scene nobody has identified yet (only a file)."""
    return not any(scene.get(key) for key in ("title", "details", "studio", "performers", "tags", "date"))


class Reconcile:
    """Classifies every scene in scope and queues the ones a sync would fix."""

    def __init__(self, runtime: Runtime, progress: Callable[[float], None], dry_run: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.runtime, self.progress, self.dry_run, self.clock = runtime, progress, dry_run, clock
        self.counts = dict.fromkeys(CLASSES, 0)
        self.examples: dict = {name: [] for name in CLASSES}
        self.queued = 0

    def run(self, scope: str = "all") -> dict:
        """The whole pass; returns counts per class plus ``queued``."""
        scene_filter = self._filter(scope)
        self._refresh_index()
        self.progress(0.0)
        self.shaping = self.runtime.delivery.syncer.shaping()
        for page, total, scenes in self.runtime.stash.all_scenes(PAGE_SIZE, scene_filter):
            self._page(scenes, self.clock())
            self.progress(min(1.0, page * PAGE_SIZE / max(1, total)))
        report = {**self.counts, "queued": self.queued, "scope": scope, "dry_run": self.dry_run,
                  "plex_checked": not self.runtime.index.offline, "collections": self._collections(),
                  "examples": {k: v for k, v in self.examples.items() if v}}
        self.progress(1.0)
        self.runtime.db.put(LAST_RUN_KEY, {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "at_ts": self.clock(),
                                           **{k: v for k, v in report.items() if k != "examples"}})
        self.runtime.db.put(EXAMPLES_KEY, report["examples"])  # for the PlexSync page; status stays small
        return report

    def _refresh_index(self) -> None:
        self.runtime.index.offline = self.runtime.delivery.blocked_until() is not None
        if self.runtime.index.offline:
            return
        try:
            self.runtime.index.refresh(force=True)
        except (TransientError, AuthError, ConfigError) as exc:
            self._plex_down(exc)

    def _plex_down(self, exc: PlexSyncError) -> None:
        """Plex failed during the pass: open its breaker and go on from Stash and PlexSync's records."""
        self.runtime.outages.trip("plex", exc)
        self.runtime.index.offline = True

    def _filter(self, scope: str) -> Optional[dict]:
        if scope not in SCOPES:
            raise BadInput(f"args.scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        window = SCOPES[scope]
        if window is None:
            return None
        since = self.runtime.stash.server_time(datetime.now(timezone.utc) - window)
        return {"updated_at": {"value": since, "modifier": "GREATER_THAN"}} if since else None

    def _page(self, scenes: list, fetched_at: float) -> None:
        records = self.runtime.delivery.syncer.records.many([int(s["id"]) for s in scenes])
        verdicts = {int(scene["id"]): self._match(scene) for scene in scenes}
        items = self._items([key for sid, key in verdicts.items() if isinstance(key, int) and sid in records])
        jobs = []
        for scene in scenes:
            scene_id = int(scene["id"])
            name, reason, event = self._classify(scene, verdicts[scene_id], records.get(scene_id), items)
            self._note(name, scene, reason)
            if event and not self.dry_run:
                jobs.append(Job(scene_id, event, fetched_at, source="reconcile"))
        self.queued += len(jobs)
        self.runtime.queue.put_many(jobs)

    def _match(self, scene: dict):
        """The ratingKey, or the (class, reason) it falls into instead."""
        if awaiting_metadata(scene):
            return ("awaiting_metadata", "no title, details, studio, performers, tags or date yet")
        excluded = skip_reason(scene, self.runtime.settings)
        if excluded:
            return ("excluded", excluded)
        try:
            return self.runtime.delivery.syncer.matcher.match(scene).rating_key
        except NotFoundYet as exc:
            self._note_missing(scene, str(exc))
            return ("missing_in_plex", str(exc))
        except AmbiguousMatch as exc:
            return ("ambiguous", str(exc))
        except (TransientError, AuthError, ConfigError) as exc:
            self._plex_down(exc)
            return self._match(scene)

    def _items(self, keys: list) -> dict:
        if self.runtime.index.offline:
            return {}
        try:
            return self.runtime.plex.fetch_items(keys) if keys else {}
        except PlexSyncError as exc:
            log.warning("reconcile: could not read Plex items (%s); their drift is not checked", exc)
            return {}

    def _classify(self, scene: dict, key, record, items: dict) -> tuple:
        """(class, reason, job event or None); ``key`` is the match's ratingKey or a (class, reason)."""
        if not isinstance(key, int):
            return key[0], key[1], None
        if record is None:
            return "never_synced", f"Plex item {key} matches, but PlexSync never wrote it", "sync"
        desired = desired_state(scene, self.runtime.settings, self.shaping)
        if record.fingerprint != desired.fingerprint or record.written.get("updated_at") != scene.get("updated_at"):
            return "stale", "Stash changed after the last sync", "sync"
        problems = self._drift(key, record, items.get(key))
        if problems:
            event = None if self.runtime.settings.preserve_plex_edits else "repair"
            return "plex_drifted", "; ".join(problems), event
        return "in_sync", "", None

    @staticmethod
    def _drift(key: int, record, item) -> list:
        if record.rating_key != key:
            return [f"Plex re-added the file (item {record.rating_key} is now {key})"]
        if item is None:
            return []
        return drift(record.written, plex_view(item))

    def _note_missing(self, scene: dict, reason: str) -> None:
        extras = self.runtime.delivery.syncer.extras
        if self.runtime.settings.missing_in_plex == "ignore" and extras and not self.dry_run:
            extras.missing.record(int(scene["id"]), "", reason)

    def _collections(self) -> dict:
        """Classify the managed collections; mark the stale and drifted ones for the next pass."""
        extras = self.runtime.delivery.syncer.extras
        counts = dict.fromkeys(COLLECTION_CLASSES, 0)
        if extras is None:
            return {**counts, "queued": 0}
        try:
            verdicts = extras.collections.check(plex_checked=not self.runtime.index.offline)
        except (TransientError, AuthError, ConfigError) as exc:
            log.warning("reconcile: collections not checked (%s)", exc)
            return {**counts, "queued": 0}
        queued = 0
        for record, verdict, reason in verdicts:
            counts[verdict] += 1
            if verdict != "in_sync" and len(self.examples.setdefault("collections", [])) < EXAMPLES:
                self.examples["collections"].append(f'collection "{record.title}": {verdict}: {reason}')
            if verdict in ("stale", "plex_drifted") and not self.dry_run:
                extras.collections.records.mark_dirty(record.section, [record.title])
                queued += 1
        return {**counts, "queued": queued}

    def _note(self, name: str, scene: dict, reason: str) -> None:
        self.counts[name] += 1
        if name != "in_sync" and len(self.examples[name]) < EXAMPLES:
            self.examples[name].append(f'scene {scene["id"]} "{scene.get("title") or ""}": {reason}')


def log_report(report: dict) -> None:
    """Counts, then up to 10 examples per class, in Stash's log."""
    log.info("reconcile (%s%s): %s; %s queued", report["scope"], ", dry run" if report["dry_run"] else "",
             ", ".join(f"{report[name]} {name}" for name in CLASSES), report["queued"])
    collections = report.get("collections") or {}
    if any(collections.values()):
        log.info("reconcile: collections %s; %s queued", ", ".join(f"{collections[name]} {name}" for name in COLLECTION_CLASSES),
                 collections["queued"])
    for name, examples in report["examples"].items():
        for example in examples:
            log.info("  %s: %s", name, example)
