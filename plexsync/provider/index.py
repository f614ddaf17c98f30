"""The Stash file index: every Stash file path -> its scene, in memory, refreshed incrementally.

A first library scan calls the provider once per file, so a match must cost no whole-library query.
The index is built once by paging through ``findScenes`` (lean fields only) and afterwards refreshed
from ``updated_at`` (ids first, then only the scenes that changed): Stash compares timestamps as text in its own offset (stash-plugin-protocol.md
§5.3), so the high-water mark is Stash's own ``updated_at`` string, never our clock. Each refresh also
asks for the total count in the same request; when the index holds more scenes than Stash has, scenes
were deleted or merged, and the index is rebuilt. Lookups take a lock only to read plain dicts.

The index also keeps every file in path order (folder, then file name, as a file browser lists them:
case-insensitive, digit runs compared as numbers), so the scene cache can ask which scenes Plex will
probably ask for next: Plex scans a library folder by folder.
"""

import logging
import re
import threading
import time
from bisect import bisect_left, insort
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable, Optional

from plexsync.errors import InvalidData
from plexsync.paths import basename, file_key
from plexsync.stash import StashClient

log = logging.getLogger(__name__)
PAGE = 1000
_DIGITS = re.compile(r"([0-9]+)")
_FIELDS = "count scenes { id title date updated_at files { path size duration } }"
BUILD_QUERY = ("query ProviderIndex($filter: FindFilterType) { findScenes(filter: $filter) { " + _FIELDS + " } }")
CHANGES_QUERY = (
    "query ProviderChanges($filter: FindFilterType, $scene_filter: SceneFilterType) {"
    " findScenes(filter: $filter, scene_filter: $scene_filter) { count scenes { id updated_at } }"
    " total: findScenes(filter: {per_page: 1}) { count } }"
)
SCENES_QUERY = "query ProviderScenes($ids: [ID!]) { findScenes(ids: $ids) { " + _FIELDS + " } }"


@dataclass(frozen=True)
class StashFile:
    """One file of a scene, as the index keeps it."""

    scene_id: int
    path: str
    size: int
    duration: float  # seconds


@dataclass(frozen=True)
class SceneSummary:
    """What a match answer needs of a scene, without fetching it."""

    id: int
    title: str
    date: str
    updated_at: str
    files: tuple  # StashFile, primary first


def _summary(raw: dict) -> SceneSummary:
    scene_id = int(raw["id"])
    files = tuple(StashFile(scene_id, f["path"], int(f.get("size") or 0), float(f.get("duration") or 0))
                  for f in raw.get("files") or [] if f.get("path"))
    return SceneSummary(scene_id, raw.get("title") or "", raw.get("date") or "", raw.get("updated_at") or "", files)


def _natural(text: str) -> tuple:
    """A sort key that puts ``scene-2`` before ``scene-10`` (str and int alternate, so keys always compare)."""
    parts = _DIGITS.split(text.lower())
    return tuple(int(part) if n % 2 else part for n, part in enumerate(parts))


def _place(entry: StashFile, folders: Optional[dict] = None) -> tuple:
    """Where a file sorts in path order: its folder, then its name (the path itself breaks ties).
    ``folders`` memoizes the folders' keys while a whole index is sorted (most files share one)."""
    key = file_key(entry.path)
    cut = key.rfind("/")
    folder = key[:cut]
    if folders is None:
        return _natural(folder), _natural(key[cut + 1:]), entry.path
    if folder not in folders:
        folders[folder] = _natural(folder)
    return folders[folder], _natural(key[cut + 1:]), entry.path


def _earlier(stamp: str, seconds: int = 1) -> str:
    """A Stash timestamp moved back, keeping Stash's text form (offset suffix) for the text comparison."""
    try:
        moment = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S") - timedelta(seconds=seconds)
    except ValueError:
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + stamp[19:]


class _Tables:
    """The lookup tables; replaced whole by a rebuild, changed scene by scene by a refresh."""

    def __init__(self) -> None:
        self.scenes: dict = {}   # scene id -> SceneSummary
        self.by_path: dict = {}  # file_key(path) -> {scene id}
        self.by_name: dict = {}  # lower-case file name -> [StashFile]
        self.order: list = []    # every StashFile, in path order (``_place``)

    @classmethod
    def of(cls, scenes: Iterable[SceneSummary]) -> "_Tables":
        """Tables holding these scenes (distinct ids), sorted once rather than file by file."""
        tables = cls()
        for scene in scenes:
            tables._add(scene)
            tables.order.extend(scene.files)
        folders: dict = {}
        tables.order.sort(key=lambda entry: _place(entry, folders))
        return tables

    def _add(self, scene: SceneSummary) -> None:
        self.scenes[scene.id] = scene
        for entry in scene.files:
            self.by_path.setdefault(file_key(entry.path), set()).add(scene.id)
            self.by_name.setdefault(basename(entry.path).lower(), []).append(entry)

    def put(self, scene: SceneSummary) -> None:
        """Add or replace a scene and its files."""
        self.drop(scene.id)
        self._add(scene)
        for entry in scene.files:
            insort(self.order, entry, key=_place)

    def drop(self, scene_id: int) -> None:
        """Forget a scene and its files."""
        old = self.scenes.pop(scene_id, None)
        for entry in old.files if old else ():
            owners = self.by_path.get(file_key(entry.path), set())
            owners.discard(scene_id)
            if not owners:
                self.by_path.pop(file_key(entry.path), None)
            name = basename(entry.path).lower()
            kept = [e for e in self.by_name.get(name, []) if e.scene_id != scene_id]
            self.by_name[name] = kept
            if not kept:
                del self.by_name[name]
            where = self.position(entry)
            if where is not None:
                del self.order[where]

    def position(self, entry: StashFile) -> Optional[int]:
        """Where this very file is in ``order`` (None if it is not there)."""
        where = bisect_left(self.order, _place(entry), key=_place)
        while where < len(self.order) and self.order[where] is not entry:
            if self.order[where].path != entry.path:
                return None
            where += 1
        return where if where < len(self.order) else None


class StashFileIndex:
    """Stash's file paths in memory; ``refresh`` brings in what changed since the last one."""

    def __init__(self, stash: StashClient, bulk: Optional[StashClient] = None, clock: Callable[[], float] = time.monotonic,
                 page: int = PAGE) -> None:
        self.stash, self.bulk, self.clock, self.page = stash, bulk or stash, clock, page
        self._tables = _Tables()
        self._lock = threading.Lock()      # guards the tables
        self._updating = threading.Lock()  # one build or refresh at a time
        self._high_water = ""
        self._started = float("-inf")
        self.refreshed_at: Optional[float] = None
        self.requests = 0

    @property
    def ready(self) -> bool:
        """True once a full build has finished."""
        return self.refreshed_at is not None

    def age(self) -> float:
        """Seconds since the last build or refresh (infinite before the first)."""
        return float("inf") if self.refreshed_at is None else self.clock() - self.refreshed_at

    def build(self) -> int:
        """List every scene (paged, sorted by id) into fresh tables and swap them in; returns scenes."""
        found, high, page = {}, "", 1
        while True:
            variables = {"filter": {"page": page, "per_page": self.page, "sort": "id", "direction": "ASC"}}
            data = self._query(BUILD_QUERY, variables, "ProviderIndex")["findScenes"]
            for raw in data["scenes"]:
                found[int(raw["id"])] = _summary(raw)
                high = max(high, raw.get("updated_at") or "")
            if not data["scenes"] or page * self.page >= data["count"]:
                break
            page += 1
        tables = _Tables.of(found.values())
        with self._lock:
            self._tables, self._high_water = tables, high
        self.refreshed_at = self.clock()
        log.info("indexed %s Stash files of %s scenes", len(tables.order), len(tables.scenes))
        return len(tables.scenes)

    def refresh(self, max_age: float = 0.0, wait: bool = True, after: Optional[float] = None) -> bool:
        """Bring the index up to date; False if skipped.

        Skipped when younger than ``max_age``, or when a refresh started after the moment ``after``
        (a request that missed uses the refresh another request started meanwhile). One caller
        updates at a time; with ``wait`` the others wait for it and then decide.
        """
        if self.age() < max_age:
            return False
        if not self._updating.acquire(blocking=wait):
            return False
        try:
            if self.age() < max_age or (after is not None and self._started > after):
                return False
            self._started = self.clock()
            if not self.ready:
                self.build()
            else:
                self._changes()
            return True
        finally:
            self._updating.release()

    def _changes(self) -> None:
        """Ids and ``updated_at`` of the scenes changed since the high-water mark (lean), then the
        summaries of those that really differ. The mark is moved back a second because Stash's
        timestamps have one-second steps; the overlap costs ids only."""
        since, page, stamps, total = _earlier(self._high_water), 1, {}, None
        while True:
            variables = {"filter": {"page": page, "per_page": self.page, "sort": "updated_at", "direction": "ASC"},
                         "scene_filter": {"updated_at": {"value": since, "modifier": "GREATER_THAN"}} if since else {}}
            data = self._query(CHANGES_QUERY, variables, "ProviderChanges")
            total = data["total"]["count"] if total is None else total
            stamps.update((int(raw["id"]), raw["updated_at"]) for raw in data["findScenes"]["scenes"])
            if not data["findScenes"]["scenes"] or page * self.page >= data["findScenes"]["count"]:
                break
            page += 1
        changed = [scene_id for scene_id, stamp in stamps.items() if getattr(self.scene(scene_id), "updated_at", None) != stamp]
        try:
            self._apply(self._fetch(changed), total)
        except InvalidData:  # a changed scene was deleted meanwhile: findScenes(ids:) fails for a missing id
            self.build()

    def _fetch(self, scene_ids: list) -> list:
        found = []
        for start in range(0, len(scene_ids), self.page):
            chunk = [str(scene_id) for scene_id in scene_ids[start:start + self.page]]
            found += [_summary(raw) for raw in self._query(SCENES_QUERY, {"ids": chunk}, "ProviderScenes")["findScenes"]["scenes"]]
        return found

    def _apply(self, changed: list, total: int) -> None:
        with self._lock:
            for scene in changed:
                self._tables.put(scene)
                self._high_water = max(self._high_water, scene.updated_at)
            count = len(self._tables.scenes)
        self.refreshed_at = self.clock()
        if count != total:  # deletions or merges: updated_at cannot show a scene that is gone
            log.info("Stash has %s scenes, the index %s: rebuilding it", total, count)
            self.build()
        elif changed:
            log.debug("index refresh: %s scenes changed", len(changed))

    def _query(self, query: str, variables: dict, operation: str) -> dict:
        """A build page through the patient client, everything else through the quick one."""
        self.requests += 1
        client = self.bulk if operation == "ProviderIndex" else self.stash
        return client.query(query, variables, operation)

    def scene(self, scene_id: int) -> Optional[SceneSummary]:
        """The indexed summary of a scene, or None."""
        with self._lock:
            return self._tables.scenes.get(scene_id)

    def scenes_at(self, stash_path: str) -> list:
        """Summaries of the scenes that have a file at exactly this Stash path."""
        with self._lock:
            ids = sorted(self._tables.by_path.get(file_key(stash_path), ()))
            return [self._tables.scenes[i] for i in ids]

    def files_named(self, name: str) -> list:
        """Every indexed file with this file name (any folder; case-insensitive)."""
        with self._lock:
            return list(self._tables.by_name.get(name.lower(), ()))

    def following(self, scene_id: int, limit: int) -> list:
        """Up to ``limit`` other scenes whose files come after this scene's first file in path order
        (the rest of its folder, then the following folders): the ones Plex probably scans next."""
        with self._lock:
            order, here = self._tables.order, self._first_file(scene_id)
            found: dict = {}  # scene id -> True, in order (a scene with several files counts once)
            for where in range(len(order) if here is None else here + 1, len(order)):
                if len(found) >= limit:
                    break
                if order[where].scene_id != scene_id:
                    found[order[where].scene_id] = True
            return list(found)

    def preceding(self, scene_id: int) -> Optional[int]:
        """The scene of the file just before this scene's first file in path order (None: first, or unknown)."""
        with self._lock:
            order, here = self._tables.order, self._first_file(scene_id)
            for where in range(here - 1 if here else -1, -1, -1):
                if order[where].scene_id != scene_id:
                    return order[where].scene_id
            return None

    def _first_file(self, scene_id: int) -> Optional[int]:
        """Where the scene's first file is in path order (call with the lock held)."""
        scene = self._tables.scenes.get(scene_id)
        return self._tables.position(scene.files[0]) if scene and scene.files else None

    def summaries(self) -> list:
        """Every indexed scene (for title searches in Fix Match)."""
        with self._lock:
            return list(self._tables.scenes.values())

    def counts(self) -> dict:
        """Scenes and files indexed."""
        with self._lock:
            scenes = self._tables.scenes
            return {"scenes": len(scenes), "files": sum(len(s.files) for s in scenes.values())}
