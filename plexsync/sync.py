"""Syncing one job: fetch the scene's current state from Stash, match it, write what differs to Plex."""

import hashlib
import logging
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Optional

from plexsync.collection_sync import CollectionSync
from plexsync.errors import ItemMissing, MissingInPlex, NotFoundYet, PermanentError, PlexSyncError
from plexsync.jobs import Job
from plexsync.identity import scene_from_guid
from plexsync.matcher import GUID, LOW, Match, Matcher, scene_files
from plexsync.metadata import (Desired, Shaping, describe, desired_state, owned_by_provider, plan_edit, plex_view,
                               scene_groups, skip_reason)
from plexsync.missing import MissingFiles
from plexsync.paths import dirname, file_key, within
from plexsync.plex import PlexClient
from plexsync.rating import plan_push
from plexsync.records import SyncRecord, SyncRecords
from plexsync.retries import SCAN_LOOKS
from plexsync.shaper import Shaper
from plexsync.stash import StashClient, parse_time
from plexsync.stashlog import PATHS

log = logging.getLogger(__name__)
LOCK_FIELD = {"poster": "thumb.locked", "art": "art.locked"}


@dataclass(frozen=True)
class Outcome:
    """What happened to a job: ``synced``, ``unchanged``, ``gone``, ``forgotten`` or ``skipped``."""

    kind: str
    scene_id: int
    title: str = ""
    rating_key: Optional[int] = None
    detail: str = ""

    def line(self) -> str:
        """The one log line for this outcome."""
        name = f' "{self.title}"' if self.title else ""
        if self.kind == "synced":
            return f"synced scene {self.scene_id}{name} -> Plex {self.rating_key}: {self.detail or 'no field changed'}"
        return f"scene {self.scene_id}{name}: {self.kind}{' (' + self.detail + ')' if self.detail else ''}"


@dataclass
class Extras:
    """The parts a Syncer uses besides the clients: collections, shaping, missing files."""

    collections: CollectionSync
    shaper: Shaper
    missing: MissingFiles


class Syncer:
    """Turns one job into at most one detail GET, one PUT and the image uploads that changed."""

    def __init__(self, stash: StashClient, plex: PlexClient, matcher: Matcher, records: SyncRecords, settings,
                 sections: Iterable, clock: Callable[[], float] = time.time, extras: Optional[Extras] = None) -> None:
        self.stash, self.plex, self.matcher, self.records = stash, plex, matcher, records
        self.settings, self.sections, self.clock = settings, sections, clock
        self.extras = extras
        self.prefetched: dict = {}  # scene id -> (scene, fetched_at): bulk syncs' pages, the worker's read-ahead
        self.prefetched_items: dict = {}  # ratingKey -> detail item, fetched with those scenes

    def shaping(self) -> Shaping:
        """Tag routes and photo URLs for this process (none without extras: tests of the bare syncer)."""
        return self.extras.shaper.current() if self.extras else Shaping()

    def covered(self, job: Job) -> bool:
        """True if the scene was already synced from a Stash state read after this job was queued."""
        record = self.records.get(job.scene_id)
        return job.event != "destroy" and record is not None and record.fetched_at > job.enqueued_at

    def sync(self, job: Job) -> Outcome:
        """Run one job; raises PlexSync errors for the delivery loop to classify."""
        if job.event == "destroy":
            return self._forget(job)
        scene, fetched_at = self._current(job)
        if scene is None:
            self.records.forget(job.scene_id)
            return Outcome("gone", job.scene_id, detail="deleted in Stash before it could be synced")
        try:
            return self.write(scene, fetched_at, job)
        except PlexSyncError as exc:
            exc.scene_title = scene.get("title") or ""
            raise

    def expand(self, job: Job) -> list:
        """The scenes a fan-out job stands for: those using the object now, and those PlexSync last
        wrote with it (after a delete or merge, Stash no longer links them). A group's or studio's
        collections are looked at too; a tag change may move tags between genres and labels."""
        kind = job.event[len("fanout_"):]
        criterion = {"value": [str(job.scene_id)], "modifier": "INCLUDES"}
        if kind in ("studio", "tag"):
            routed = kind == "tag" and (self.settings.excluded_tags or self.settings.label_parents)
            criterion["depth"] = -1 if kind == "studio" or routed else 0
        if self.extras and kind == "tag":
            self.extras.shaper.invalidate()
        if self.extras and kind in ("group", "studio"):
            self.extras.collections.touch(kind, job.scene_id)
        field = {"group": "movies"}.get(kind, f"{kind}s")
        found = {int(scene["id"]) for _, _, page in self.stash.all_scenes(250, {field: criterion}) for scene in page}
        return sorted(found | set(self.records.using(kind, job.scene_id)))

    def _current(self, job: Job) -> tuple:
        """The scene as Stash has it now: prefetched (if read after the job was queued), else one ``findScene``."""
        prefetched = self.prefetched.pop(job.scene_id, None)
        if prefetched is not None and prefetched[1] >= job.enqueued_at:
            return prefetched
        fetched_at = self.clock()
        return self.stash.find_scene(job.scene_id), fetched_at

    def items_for(self, scenes: list) -> dict:
        """The scenes' Plex items in one request per 100 (each scene is still matched and verified as it syncs)."""
        keys = []
        for scene in scenes:
            try:
                keys.append(self.matcher.match(scene).rating_key)
            except PlexSyncError:
                continue  # not found or ambiguous: the sync itself reports it
        try:
            return self.plex.fetch_items(keys) if keys else {}
        except PlexSyncError:
            return {}  # Plex trouble: each scene fetches its own item and classifies the error

    def write(self, scene: dict, fetched_at: float, job: Optional[Job] = None) -> Outcome:
        """Bring the scene's Plex item to the desired state (a no-op when nothing changed)."""
        scene_id, title = int(scene["id"]), scene.get("title") or ""
        reason = self._skipped(scene)
        if reason:
            return Outcome("skipped", scene_id, title, detail=reason)
        shaping = self.shaping()
        desired = desired_state(scene, self.settings, shaping)
        record = self.records.get(scene_id)
        same = record is not None and record.fingerprint == desired.fingerprint and not (job and job.event == "repair")
        if same and record.written.get("updated_at") == scene.get("updated_at"):
            self.records.save(replace(record, fetched_at=fetched_at), wrote=False)
            return Outcome("unchanged", scene_id, title, record.rating_key)
        images = self._changed_images(desired, record)
        if same and not images:
            written = {**record.written, "updated_at": scene.get("updated_at")}
            self.records.save(replace(record, fetched_at=fetched_at, written=written), wrote=False)
            return Outcome("unchanged", scene_id, title, record.rating_key)
        match, item = self._resolve(scene, job)
        params, owned = self._apply(desired, item, record, match, images)
        rated = self._rate(desired, item, record, scene, owned)
        section = int(item.librarySectionID or 0)
        owned.update(updated_at=scene.get("updated_at"), image_hash=_image_hash(images, record),
                     sources=_sources(scene, shaping), section=section, match=self._match_note(match),
                     **({"groups": desired.groups} if desired.groups else {}))
        self.records.save(SyncRecord(scene_id, match.rating_key, match.plex_file, fetched_at, self.clock(), desired.fingerprint, owned))
        self._after_write(scene_id, section, record, owned)
        detail = describe(params) + (", " + " and ".join(images[1]) if images else "") + (", rating" if rated else "")
        confidence = {LOW: " (low-confidence match: same file name and size)",
                      GUID: " (matched by the provider's guid)"}.get(match.confidence, "")
        return Outcome("synced", scene_id, title, match.rating_key, detail.strip(", ") + confidence)

    def _skipped(self, scene: dict) -> Optional[str]:
        """Why the scene is not written: no files, or settings that keep it out of Plex."""
        if not scene_files(scene):
            return "the scene has no files, so nothing to match in Plex"
        reason = skip_reason(scene, self.settings)
        return f"{reason}; left as it is in Plex" if reason else None

    def _apply(self, desired: Desired, item, record: Optional[SyncRecord], match, images: Optional[tuple]) -> tuple:
        """Claim the scene's collections, upload changed images, send the one edit: (params sent, values
        now PlexSync's)."""
        section = int(item.librarySectionID or 0)
        if self.extras and desired.collections and section:
            self.extras.collections.claim(section, desired.collections)
        params, owned = self._plan(desired, item, record, match)
        for kind in images[1] if images else ():
            self.plex.upload_image(item, kind, images[0])
            params[LOCK_FIELD[kind]] = 1  # lock after upload so an agent refresh keeps it
        if params:
            self.plex.edit(item, params)
        return params, owned

    def _after_write(self, scene_id: int, section: int, record: Optional[SyncRecord], owned: dict) -> None:
        """Collections the scene joined, left or moved in wait for the next pass; it is no longer missing."""
        if self.extras:
            self.extras.collections.written(section, record.written if record else {}, owned)
            if self.extras.missing.known(scene_id):
                self.extras.missing.forget(scene_id)

    def _rate(self, desired: Desired, item, record: Optional[SyncRecord], scene: dict, owned: dict) -> bool:
        """The rating part of the sync (``rating.plan_push``); records what both sides now agree on in ``owned``.
        True if a rating was sent."""
        written = record.written if record else {}
        owned.update({key: written[key] for key in ("rating", "rated_at") if key in written})
        if not self.settings.sync_rating:
            return False
        rated_at, changed_at = item.lastRatedAt, parse_time(scene.get("updated_at"))
        plex_newer = bool(rated_at and changed_at and rated_at.timestamp() > changed_at)
        push = plan_push(desired.rating, item.userRating, written.get("rating"), self.settings.preserve_plex_edits,
                         plex_newer, self.settings.pull_ratings)
        if push.send:
            self.plex.rate(item, push.value)
            owned["rated_at"] = self.clock()
        owned["rating"] = push.agreed
        return push.send

    def _plan(self, desired: Desired, item, record: Optional[SyncRecord], match) -> tuple:
        """The edit for the item; on a provider-matched item, unlocked values count as PlexSync's own."""
        view, written = plex_view(item), record.written if record else {}
        if match.confidence == GUID:
            written = owned_by_provider(view, written)
        return plan_edit(desired, view, written, self.settings.preserve_plex_edits)

    def _resolve(self, scene: dict, job: Optional[Job]) -> tuple:
        """Match and fetch the item's detail; a stale match (re-keyed item) is re-resolved once."""
        try:
            match = self.matcher.match(scene)
        except NotFoundYet:
            self._not_found(scene, job)
            self._ask_for_scan(scene, job)
            raise
        try:
            item = self.prefetched_items.pop(match.rating_key, None) or self.plex.fetch_item(match.rating_key)
        except ItemMissing:
            item = None
        if item is None or not any(file_key(path) == file_key(match.plex_file) for path in item.locations) \
                or (match.confidence == GUID and scene_from_guid(item.guid) != int(scene["id"])):
            self.matcher.index.forget(match.rating_key)
            self.matcher.index.refresh(force=True)
            match = self.matcher.match(scene)
            item = self.plex.fetch_item(match.rating_key)
        return match, item

    def _changed_images(self, desired: Desired, record: Optional[SyncRecord]) -> Optional[tuple]:
        """(bytes, kinds) when the cover must be uploaded, else None (hash unchanged or disabled)."""
        if not desired.image_url or not desired.image_kinds:
            return None
        data = self.stash.image(desired.image_url)
        if not data:
            return None
        digest = hashlib.sha256(data).hexdigest()
        if record and record.written.get("image_hash") == digest:
            return None
        return data, desired.image_kinds

    def _ask_for_scan(self, scene: dict, job: Optional[Job]) -> None:
        """First miss of a job: ask Plex to scan the scene's folder, then let the not-found schedule retry."""
        if not self.settings.trigger_plex_scan or (job and job.not_found_attempts > 0):
            return
        plex_path = self.matcher.mapper.to_plex(scene_files(scene)[0][0])
        section = self._section_for(plex_path)
        if section is None:
            folders = "; ".join(PATHS.shown(loc) for s in self.sections for loc in s.locations)
            raise PermanentError(f"{PATHS.shown(plex_path)} is in no Plex library folder ({folders}): set path_map")
        self.plex.scan(section.key, dirname(plex_path))
        log.debug("asked Plex library %s to scan %s", section.title, PATHS.shown(dirname(plex_path)))

    def _not_found(self, scene: dict, job: Optional[Job]) -> None:
        """Under ``ignore`` the file may count as missing (``MissingInPlex``); under ``retry`` (switched back
        from ``ignore``) a record of it goes, and the scene follows the retry schedule."""
        if self.settings.missing_in_plex == "ignore":
            self._missing(scene, job)
        elif self.extras is not None and self.extras.missing.known(int(scene["id"])):
            self.extras.missing.forget(int(scene["id"]))

    def _missing(self, scene: dict, job: Optional[Job]) -> None:
        """``missing_in_plex: ignore``: a file outside every library folder, one already recorded, or one
        Plex still lacks after the quick looks that follow a scan request is missing, not retried."""
        plex_path = self.matcher.mapper.to_plex(scene_files(scene)[0][0])
        if self._section_for(plex_path) is None:
            raise MissingInPlex(f"{PATHS.shown(plex_path)} is in no Plex library folder")
        recorded = self.extras is not None and self.extras.missing.known(int(scene["id"]))
        if recorded or (job is not None and job.not_found_attempts >= len(SCAN_LOOKS)):
            raise MissingInPlex(f"Plex has no item for {PATHS.shown(plex_path)}")

    def _section_for(self, plex_path: str):
        return next((s for s in self.sections if within(plex_path, s.locations)), None)

    def _match_note(self, match: Match) -> dict:
        """How the item was matched, kept with the record for the scene's Plex tab (no Plex request there)."""
        section = self._section_for(match.plex_file)
        return {"by": "provider" if match.confidence == GUID else "path", "confidence": match.confidence,
                "library": section.title if section else None}

    def _forget(self, job: Job) -> Outcome:
        """A scene deleted in Stash: forget its record; with delete_file, let Plex notice. Never delete in Plex."""
        self.records.forget(job.scene_id)
        if job.path and job.delete_file and self.settings.trigger_plex_scan:
            plex_path = self.matcher.mapper.to_plex(job.path)
            section = self._section_for(plex_path)
            if section is not None:
                self.plex.scan(section.key, dirname(plex_path))
        return Outcome("forgotten", job.scene_id, detail="deleted in Stash; the Plex item is left as it is")


def _image_hash(images: Optional[tuple], record: Optional[SyncRecord]) -> Optional[str]:
    if images:
        return hashlib.sha256(images[0]).hexdigest()
    return record.written.get("image_hash") if record else None


def _sources(scene: dict, shaping: Shaping) -> dict:
    """The ids of the performers, studio, groups and tags a write came from (for fan-out after a delete):
    the parent studio too, and the named tags that routed a tag (``exclude_tags``, ``label_tags``)."""
    tags = [int(t["id"]) for t in scene.get("tags") or []]
    studio = scene.get("studio") or {}
    parent = studio.get("parent_studio") or {}
    return {"performer": [int(p["id"]) for p in scene.get("performers") or []],
            "tag": list(dict.fromkeys(tags + [shaping.routes.via[t] for t in tags if t in shaping.routes.via])),
            "studio": [int(s["id"]) for s in (studio, parent) if s.get("id") is not None],
            "group": [group_id for group_id, _, _ in scene_groups(scene)]}

