"""A brief cache of Stash scene documents, filled ahead of the metadata requests Plex is about to send.

Plex asks for an item's metadata right after matching it, and a library scan goes through the files
folder by folder. So when a scene is asked for (by its match, or by its metadata request) and is
neither cached nor on its way, the cache fetches it alone with ``findScene`` (its own answer waits for
one small round trip, never for a batch), and, if Plex is going through that folder (the file just
before it in path order was among the last 64 asked for), it also reads ahead: ONE
``findScenes(ids:)`` request for the next scenes in path order (from the file index) that are
neither cached nor on their way. The first scene of each such batch carries a mark: when Plex
reaches it, the next batch starts after the last one, twice as big (16, 32, 64, then at most 100
scenes). While Plex works through one batch the next is on its way, so a scan in path order finds
its scenes cached, at about one Stash request per 100 files. A lone "Refresh metadata", or a scan in
another order, fetches scenes one by one, as it did before batches: never a batch nobody asks for.

One fetch per scene, however many ask: a request finds its scene cached or waits for the fetch under
way. Entries live ``ttl`` seconds from the start of their fetch, so a later "Refresh metadata" in
Plex reads Stash afresh (a scene edited in Stash during a scan may reach Plex up to ``ttl`` seconds
old; the plugin's push sends the edit anyway). At most ``size`` entries are kept, the oldest dropped
first, which bounds the memory (4.7 MB per 1,000 scenes with 2 performers and 5 tags each). Failures
are not cached: the scenes of a batch that failed because Stash did not answer are fetched again
when asked.

Stash's ``findScenes(ids:)`` fails the whole request when one id is missing (a scene deleted since
the index last saw it; stash-plugin-protocol.md §5.3). Such a batch is split in halves and each half
fetched again, down to single ``findScene`` requests, which answer None for the missing scene (its
metadata is a 404): about 2 log2(batch) requests find it (15 for 100), and no other scene's request fails.
"""

import logging
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

from plexsync.errors import InvalidData, StashUnavailable

log = logging.getLogger(__name__)
BATCH = 100       # scenes in one findScenes(ids:) request, at most
FIRST_BATCH = 16  # the first read-ahead of a scan; each next one doubles, up to BATCH
RECENT = 64       # scenes asked for lately, to tell a scan going through a folder from scattered requests


def _settle(future: Future, outcome) -> None:
    """Resolve a fetch with its result (or exception), unless a waiter cancelled it meanwhile."""
    try:
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except InvalidStateError:  # cancelled: nobody waits for it, and a batch's other scenes must still be settled
        return


class PathOrder(Protocol):
    """The library's files in path order (the file index): where Plex's scan goes next."""

    def following(self, scene_id: int, limit: int) -> list:
        """Up to ``limit`` scene ids whose files come after this scene's."""

    def preceding(self, scene_id: int) -> Optional[int]:
        """The scene whose file comes just before this scene's, or None."""


@dataclass(eq=False)
class _Entry:
    """One cached scene: its fetch, when the fetch started, and the read-ahead mark."""

    started: float
    future: Future = field(default_factory=Future)
    ahead: Optional[tuple] = None  # on a batch's first scene: (read ahead after this scene, that many scenes)


class SceneCache:
    """Scene id -> the scene document (or None for a scene Stash does not have), for ``ttl`` seconds.

    ``fetch``: one scene (None if Stash has none); ``fetch_many``: scene ids -> {id: scene} in one
    request, InvalidData if Stash lacks one of them; ``order``: which scenes Plex probably asks for next.
    """

    def __init__(self, fetch: Callable[[int], Optional[dict]], fetch_many: Callable[[list], dict], order: PathOrder,
                 ttl: float = 30.0, size: int = 2048, clock: Callable[[], float] = time.monotonic, workers: int = 16,
                 batch: int = BATCH) -> None:
        self.fetch, self.fetch_many, self.order = fetch, fetch_many, order
        self.ttl, self.size, self.clock, self.batch = ttl, size, clock, batch
        self._entries: OrderedDict = OrderedDict()  # scene id -> _Entry, oldest fetch first
        self._asked: deque = deque(maxlen=RECENT)   # the scene ids asked for lately, newest last
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scene-prefetch")

    # ------------------------------------------------------------------ entries

    def _live(self, entry: Optional[_Entry]) -> bool:
        """Cached within the TTL or on its way (call with the lock held)."""
        return entry is not None and (not entry.future.done() or self.clock() - entry.started < self.ttl)

    def _new(self, scene_id: int) -> _Entry:
        """A fresh entry, the oldest dropped beyond ``size`` (call with the lock held)."""
        entry = self._entries[scene_id] = _Entry(self.clock())
        self._entries.move_to_end(scene_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return entry

    def _claim(self, scene_id: int) -> tuple:
        """(entry, True if this call created it and must start its fetch, the read-ahead to start or None):
        a cached scene hands over its mark, once; a new one reads ahead if Plex is going through its folder."""
        with self._lock:
            entry = self._entries.get(scene_id)
            self._asked.append(scene_id)
            if self._live(entry):
                ahead, entry.ahead = entry.ahead, None
                return entry, False, ahead
            entry = self._new(scene_id)
        return entry, True, (scene_id, min(FIRST_BATCH, self.batch)) if self._in_a_scan(scene_id) else None

    def _in_a_scan(self, scene_id: int) -> bool:
        """True if the file before this scene's in path order was among the last ``RECENT`` asked for (or
        there is none): Plex is going through the folder, so reading ahead pays. A lone refresh, or a
        scan in another order, fetches the scene alone rather than a batch that nobody would ask for."""
        before = self.order.preceding(scene_id)
        with self._lock:
            return before is None or before in self._asked

    # ------------------------------------------------------------------ asking

    def future(self, scene_id: int) -> Future:
        """The scene's future: cached, on its way, or started now on the prefetch threads (with a read-ahead)."""
        entry, mine, ahead = self._claim(scene_id)
        if mine:
            self._start([(scene_id, entry)])
        if ahead is not None:
            self._read_ahead(*ahead)
        return entry.future

    def prefetch(self, scene_id: int) -> None:
        """Start fetching a scene (and reading ahead) in the background unless it is cached or on its way."""
        self.future(scene_id)

    def get(self, scene_id: int, timeout: float) -> Optional[dict]:
        """The scene (cached, fetched now, or awaited); StashUnavailable after ``timeout`` seconds."""
        try:
            return self.future(scene_id).result(timeout=timeout)
        except FutureTimeout:
            raise StashUnavailable(f"Stash did not answer for scene {scene_id} within {timeout:.0f} s") from None

    # ------------------------------------------------------------------ fetching

    def _read_ahead(self, scene_id: int, size: int) -> None:
        """One batch of up to ``size`` scenes after ``scene_id`` that are neither cached nor on their way.
        Its first scene carries the mark for the next batch, twice as big (up to ``batch``): while Plex
        works through this batch, the next one is on its way."""
        wanted = self.order.following(scene_id, 2 * size)
        with self._lock:
            claimed = []
            for other in wanted:
                if len(claimed) == size:
                    break
                if not self._live(self._entries.get(other)):
                    claimed.append((other, self._new(other)))
            if claimed:
                claimed[0][1].ahead = (claimed[-1][0], min(2 * size, self.batch))
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
