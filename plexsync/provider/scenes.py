"""A brief cache of Stash scene documents, filled ahead of the metadata request a match announces.

Plex asks for an item's metadata right after matching it, so a certain match starts fetching the
scene in the background; the metadata request then finds it cached or waits for the fetch under
way (one fetch per scene, however many ask). Entries live ``ttl`` seconds: a later "Refresh
metadata" in Plex reads Stash afresh. Failures are not cached.
"""

import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Callable, Optional

from plexsync.errors import StashUnavailable


class SceneCache:
    """Scene id -> the scene document (or None for a scene Stash does not have), for ``ttl`` seconds."""

    def __init__(self, fetch: Callable[[int], Optional[dict]], ttl: float = 30.0, size: int = 2048,
                 clock: Callable[[], float] = time.monotonic, workers: int = 16) -> None:
        self.fetch, self.ttl, self.size, self.clock = fetch, ttl, size, clock
        self._entries: OrderedDict = OrderedDict()  # scene id -> (Future, started at)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scene-prefetch")

    def _claim(self, scene_id: int) -> tuple:
        """(future, True if the caller must run the fetch)."""
        with self._lock:
            entry = self._entries.get(scene_id)
            if entry and (not entry[0].done() or self.clock() - entry[1] < self.ttl):
                return entry[0], False
            future: Future = Future()
            self._entries[scene_id] = (future, self.clock())
            self._entries.move_to_end(scene_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            return future, True

    def _run(self, scene_id: int, future: Future) -> None:
        try:
            future.set_result(self.fetch(scene_id))
        except BaseException as exc:  # handed to every waiter; never cached
            with self._lock:
                if self._entries.get(scene_id, (None,))[0] is future:
                    del self._entries[scene_id]
            future.set_exception(exc)

    def future(self, scene_id: int) -> Future:
        """The scene's future: cached, on its way, or started now on the prefetch threads."""
        future, mine = self._claim(scene_id)
        if mine:
            self._pool.submit(self._run, scene_id, future)
        return future

    def prefetch(self, scene_id: int) -> None:
        """Start fetching a scene in the background unless it is cached or on its way."""
        self.future(scene_id)

    def get(self, scene_id: int, timeout: float) -> Optional[dict]:
        """The scene (cached, fetched now, or awaited); StashUnavailable after ``timeout`` seconds."""
        future, mine = self._claim(scene_id)
        if mine:
            self._run(scene_id, future)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            raise StashUnavailable(f"Stash did not answer for scene {scene_id} within {timeout:.0f} s") from None

    def close(self) -> None:
        """Stop the prefetch threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
