"""A brief cache of Stash scene documents, filled ahead of the metadata requests Plex is about to send.

Plex asks for an item's metadata right after matching it, and scans a library folder by folder. So
when a scene is asked for (its match, or its metadata) and is neither cached nor on its way, the
cache starts two background requests: ``findScene`` for that scene alone, so its own answer waits
for one small round trip, and ONE ``findScenes(ids:)`` for up to ``batch`` scenes that come next in
path order (``following``, from the file index) and are neither cached nor on their way. The scene
in the middle of such a batch carries a mark: when Plex reaches it, the next batch starts from the
end of this one, so a scan in path order finds every scene cached before it asks (read-ahead, as a
kernel reads ahead of a file read in order). A scan in another order still gets a batch per miss.

One fetch per scene, however many ask: a request finds its scene cached or waits for the fetch under
way. Entries live ``ttl`` seconds from the start of their fetch, so a later "Refresh metadata" in
Plex reads Stash afresh. At most ``size`` entries are kept (the oldest go first), which bounds the
memory. Failures are not cached: the scenes of a batch that failed because Stash did not answer are
fetched again when asked.

Stash's ``findScenes(ids:)`` fails the whole request when one id is missing (a scene deleted since
the index last saw it; stash-plugin-protocol.md §5.3). Such a batch is split in halves and each half
fetched again, down to single ``findScene`` requests, which answer None for the missing scene: about
2 log2(batch) requests find it, and every other scene of the batch is still fetched in batches.
"""

import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Callable, Optional

from plexsync.errors import InvalidData, StashUnavailable
from plexsync.stash import SCENE_FIELDS, StashClient

log = logging.getLogger(__name__)
BATCH = 100
PREFETCH_QUERY = "query ProviderPrefetch($ids: [ID!]) { findScenes(ids: $ids) { scenes { ...SyncScene } } }" + SCENE_FIELDS


def fetch_scenes(stash: StashClient, scene_ids: list) -> dict:
    """Scene id -> scene document, in one request; InvalidData when Stash has no scene for one of the ids."""
    data = stash.query(PREFETCH_QUERY, {"ids": [str(scene_id) for scene_id in scene_ids]}, "ProviderPrefetch")
    return {int(raw["id"]): raw for raw in data["findScenes"]["scenes"]}


def _settle(future: Future, outcome) -> None:
    """Resolve a fetch with its result (or exception), unless a waiter cancelled it meanwhile."""
    try:
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except InvalidStateError:  # cancelled: nobody waits for it, and a batch's other scenes must still be settled
        return


@dataclass(eq=False)
class _Entry:
    """One cached scene: its fetch, when the fetch started, and the read-ahead mark."""

    started: float
    future: Future = field(default_factory=Future)
    ahead_from: Optional[int] = None  # set on the middle scene of a batch: read ahead from this scene when asked


class SceneCache:
    """Scene id -> the scene document (or None for a scene Stash does not have), for ``ttl`` seconds.

    ``fetch``: one scene (None if Stash has none); ``fetch_many``: scene ids -> {id: scene} in one
    request; ``following``: (scene id, how many) -> the scene ids Plex probably asks for next.
    """

    def __init__(self, fetch: Callable[[int], Optional[dict]], fetch_many: Callable[[list], dict],
                 following: Callable[[int, int], list], ttl: float = 30.0, size: int = 2048,
                 clock: Callable[[], float] = time.monotonic, workers: int = 16, batch: int = BATCH) -> None:
        self.fetch, self.fetch_many, self.following = fetch, fetch_many, following
        self.ttl, self.size, self.clock, self.batch = ttl, size, clock, batch
        self._entries: OrderedDict = OrderedDict()  # scene id -> _Entry, oldest fetch first
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scene-prefetch")

    # ------------------------------------------------------------------ entries (called with the lock held)

    def _live(self, entry: Optional[_Entry]) -> bool:
        return entry is not None and (not entry.future.done() or self.clock() - entry.started < self.ttl)

    def _new(self, scene_id: int) -> _Entry:
        entry = self._entries[scene_id] = _Entry(self.clock())
        self._entries.move_to_end(scene_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return entry

    def _claim(self, scene_id: int) -> tuple:
        """(entry, True if this call created it and must start its fetch, the scene to read ahead from or
        None): a new entry reads ahead from itself; a cached one hands over its mark, once."""
        with self._lock:
            entry = self._entries.get(scene_id)
            if not self._live(entry):
                return self._new(scene_id), True, scene_id
            ahead_from, entry.ahead_from = entry.ahead_from, None
            return entry, False, ahead_from

    # ------------------------------------------------------------------ asking

    def future(self, scene_id: int) -> Future:
        """The scene's future: cached, on its way, or started now (with a read-ahead batch) on the prefetch threads."""
        entry, mine, ahead_from = self._claim(scene_id)
        if mine:
            self._start([(scene_id, entry)])
        if ahead_from is not None:
            self._read_ahead(ahead_from)
        return entry.future

    def prefetch(self, scene_id: int) -> None:
        """Start fetching a scene and the ones after it in the background unless they are cached or on their way."""
        self.future(scene_id)

    def get(self, scene_id: int, timeout: float) -> Optional[dict]:
        """The scene (cached, fetched now, or awaited); StashUnavailable after ``timeout`` seconds."""
        try:
            return self.future(scene_id).result(timeout=timeout)
        except FutureTimeout:
            raise StashUnavailable(f"Stash did not answer for scene {scene_id} within {timeout:.0f} s") from None

    # ------------------------------------------------------------------ fetching

    def _read_ahead(self, scene_id: int) -> None:
        """One batch of the next scenes after ``scene_id`` that are neither cached nor on their way; its middle
        scene is marked to start the batch after it."""
        wanted = self.following(scene_id, 2 * self.batch)
        with self._lock:
            claimed = []
            for other in wanted:
                if len(claimed) == self.batch:
                    break
                if not self._live(self._entries.get(other)):
                    claimed.append((other, self._new(other)))
            if claimed:
                claimed[0][1].ahead_from = claimed[-1][0]
        self._start(claimed)

    def _start(self, claimed: list) -> None:
        """Fetch claimed (scene id, entry) pairs on the prefetch threads: one alone, several in one request."""
        if len(claimed) == 1:
            self._pool.submit(self._run, *claimed[0])
        elif claimed:
            self._pool.submit(self._run_batch, claimed)

    def _run(self, scene_id: int, entry: _Entry) -> None:
        try:
            _settle(entry.future, self.fetch(scene_id))
        except BaseException as exc:  # handed to every waiter; never cached
            self._fail(scene_id, entry, exc)

    def _run_batch(self, claimed: list) -> None:
        try:
            found = self.fetch_many([scene_id for scene_id, _ in claimed])
        except InvalidData as exc:  # a scene of the batch is gone (protocol §5.3): halve until it is alone
            log.debug("prefetch of %s scenes refused (%s): fetching them in halves", len(claimed), exc)
            middle = len(claimed) // 2
            self._start(claimed[:middle])
            self._start(claimed[middle:])
            return
        except BaseException as exc:  # Stash down or slow: every waiter gets it; nothing cached
            for scene_id, entry in claimed:
                self._fail(scene_id, entry, exc)
            return
        for scene_id, entry in claimed:
            if scene_id in found:
                _settle(entry.future, found[scene_id])
            else:  # not what Stash does; a single findScene settles it
                self._start([(scene_id, entry)])

    def _fail(self, scene_id: int, entry: _Entry, exc: BaseException) -> None:
        with self._lock:
            if self._entries.get(scene_id) is entry:
                del self._entries[scene_id]
        _settle(entry.future, exc)

    def close(self) -> None:
        """Stop the prefetch threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
