"""The background worker's read-ahead: the next queued scenes and their Plex items in two requests.

After an outage or a bulk edit the queue holds many jobs. Fetching each one's scene (``findScene``) and
Plex item (one detail GET) as it comes costs two round trips a job; reading the next ``SIZE`` waiting
jobs' scenes with one ``findScenes(ids:)`` and their items with one batched GET costs two per batch.
Jobs are still claimed, synced and acknowledged one at a time (a SIGKILL repeats at most one edit), and
a scene read ahead is used only by a job queued before it was read (``Syncer._current``). What is read
ahead is dropped after ``MAX_AGE`` seconds, so an item is never written from a stale copy.

Read-ahead is an optimisation only: any error leaves the jobs to fetch their own data (and classify
their own errors), and pauses read-ahead for the next ``SIZE`` jobs. Stash refuses the whole
``findScenes(ids:)`` when one id names a deleted scene.
"""

import logging
from plexsync.errors import PlexSyncError
from plexsync.jobs import JobQueue
from plexsync.sync import Syncer

log = logging.getLogger(__name__)

SIZE = 50
MAX_AGE = 10.0
SCENE_EVENTS = ("create", "update", "sync", "repair")


class ReadAhead:
    """Fills the syncer's prefetch maps from the queue's next waiting jobs, when there are several."""

    def __init__(self, queue: JobQueue, syncer: Syncer) -> None:
        self.queue, self.syncer, self.clock = queue, syncer, syncer.clock
        self.read_at = 0.0
        self.paused_for = 0

    def before_claim(self) -> None:
        """Read ahead if what was read is used up or old and at least two scene jobs wait."""
        if self.paused_for > 0:
            self.paused_for -= 1
            return
        if self.syncer.prefetched and self.clock() - self.read_at < MAX_AGE:
            return
        self.drop()
        scene_ids = self._next_scene_ids()
        if len(scene_ids) > 1:
            self._read(scene_ids)

    def drop(self) -> None:
        """Forget what was read ahead."""
        self.syncer.prefetched.clear()
        self.syncer.prefetched_items.clear()

    def _next_scene_ids(self) -> list:
        jobs = [job for job in self.queue.waiting_jobs(SIZE) if job.event in SCENE_EVENTS]
        return list(dict.fromkeys(job.scene_id for job in jobs))

    def _read(self, scene_ids: list) -> None:
        read_at = self.clock()
        try:
            scenes = self.syncer.stash.find_scenes(scene_ids)
        except PlexSyncError as exc:
            log.debug("read-ahead of %s scenes skipped: %s", len(scene_ids), exc)
            self.paused_for = SIZE
            return
        self.syncer.prefetched.update({scene_id: (scene, read_at) for scene_id, scene in scenes.items()})
        self.syncer.prefetched_items.update(self.syncer.items_for(list(scenes.values())))
        self.read_at = read_at
