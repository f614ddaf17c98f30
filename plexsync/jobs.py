"""Jobs and the persistent job queue (persist-queue ``SQLiteAckQueue`` under ``<PluginDir>/data/queue``).

A job only *names* work: which scene, which event, when it was queued. The worker fetches the scene's
current state from Stash when it runs the job, so the queue never holds stale metadata.

Traps handled here (persist-queue-notes.md): ``auto_resume`` is on by default and would reset rows the
worker is processing, so only the lease holder opens with ``resume=True``; ``ready_count()`` misses new
rows and ``qsize()`` is a per-object counter, so counts are SQL on the file; ``nack()`` puts a job back
at the head, so failed jobs leave the queue for the retry table instead (see ``state``).
"""

import json
import sqlite3
import time
from pathlib import Path
from typing import NamedTuple, Optional

from persistqueue import SQLiteAckQueue
from persistqueue.exceptions import Empty
from persistqueue.serializers import json as json_serializer

QUEUE_DIR = "queue"
QUEUE_FILE = "queue.db"
TABLE = "ack_queue_default"
INFLIGHT = 2  # persist-queue's "unack" status; below it a row is waiting, 5 is acked
ACKED = 5


class Job(NamedTuple):
    """One unit of work: sync a scene (or, for ``destroy``, forget it).

    NamedTuple rather than a dataclass: the hook imports this, and a dataclass costs 0.5 ms to define.
    """

    scene_id: int
    event: str  # create | update | destroy | sync | fanout_* | reconcile_* | pull
    enqueued_at: float
    source: str = "hook"
    path: Optional[str] = None
    delete_file: bool = False
    transient_attempts: int = 0
    not_found_attempts: int = 0

    @property
    def key(self) -> str:
        """Identity used by the retry table and dead letters: one pending retry per scene.

        A fan-out job (``fanout_performer|studio|tag|group``) carries the object's id in ``scene_id``;
        the worker expands it into one job per scene that uses the object. A collection job
        (``collection_studio|group``) only marks that object's collections for the next pass.
        """
        if self.event.startswith("fanout_"):
            return f"{self.event[7:]}:{self.scene_id}"
        if self.event.startswith("collection_"):
            return f"{self.event}:{self.scene_id}"
        if self.event.startswith("reconcile_") or self.event == "pull":
            return self.event
        return f"scene:{self.scene_id}"

    def to_dict(self) -> dict:
        """JSON-ready form (the queue's serializer is JSON, never pickle)."""
        return self._asdict()

    @classmethod
    def from_dict(cls, data: dict) -> "Job":
        """Rebuild from JSON, ignoring keys a newer version may have added."""
        known = {k: data[k] for k in cls._fields if k in data}
        return cls(**known)

    def attempted(self, error_class: str) -> "Job":
        """A copy with one more attempt counted for ``error_class``."""
        if error_class == "not_found":
            return self._replace(not_found_attempts=self.not_found_attempts + 1)
        return self._replace(transient_attempts=self.transient_attempts + 1)


class Claim(NamedTuple):
    """A job taken from the queue; ``pqid`` is the row to acknowledge."""

    pqid: int
    job: Job


def new_job(scene_id: int, event: str, source: str = "hook", clock=time.time, **extra) -> Job:
    """A job stamped with the time it was queued (compared with sync times to skip stale work)."""
    return Job(scene_id=scene_id, event=event, enqueued_at=clock(), source=source, **extra)


class JobQueue:
    """The shared queue file. Every process may ``put``; only the lease holder may ``claim``."""

    def __init__(self, data_dir: Path, resume: bool = False, threads: bool = True) -> None:
        folder = Path(data_dir) / QUEUE_DIR
        self.path = folder / QUEUE_FILE
        self._queue = SQLiteAckQueue(
            str(folder), auto_resume=resume, serializer=json_serializer,
            multithreading=threads, timeout=30, db_file_name=QUEUE_FILE,
        )

    def put(self, job: Job) -> int:
        """Persist a job; returns its row id."""
        return self._queue.put(job.to_dict())

    def put_many(self, jobs: list) -> int:
        """Persist several jobs; returns how many."""
        for job in jobs:
            self.put(job)
        return len(jobs)

    def claim(self) -> Optional[Claim]:
        """Take the oldest waiting job, or None when nothing waits."""
        try:
            raw = self._queue.get(block=False, raw=True)
        except Empty:
            return None
        return Claim(raw["pqid"], Job.from_dict(raw["data"]))

    def ack(self, claim: Claim) -> None:
        """Mark a claimed job done."""
        self._queue.ack(id=claim.pqid)

    def resume_unacked(self) -> None:
        """Put rows a killed lease holder left claimed back into the queue (only the new holder may)."""
        self._queue.resume_unack_tasks()

    def release(self, claim: Claim) -> None:
        """Give a claimed job back unprocessed (used when stopping mid-batch)."""
        self._queue.nack(id=claim.pqid)

    def purge_acked(self) -> None:
        """Delete acknowledged rows so the file stays small."""
        self._queue.clear_acked_data(max_delete=0, keep_latest=0)

    def close(self) -> None:
        """Close the queue's connections."""
        self._queue.close()

    def _sql(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def pending(self) -> int:
        """Jobs waiting to be claimed (counted in the file, so other processes' puts are seen)."""
        return self._sql(f"SELECT COUNT(*) FROM {TABLE} WHERE status < ?", (INFLIGHT,))[0][0]

    def in_flight(self) -> int:
        """Jobs claimed and not yet acknowledged."""
        return self._sql(f"SELECT COUNT(*) FROM {TABLE} WHERE status = ?", (INFLIGHT,))[0][0]

    def clear_pending(self) -> int:
        """Drop every waiting job, leaving a job a worker is processing alone; returns the count."""
        conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        try:
            return conn.execute(f"DELETE FROM {TABLE} WHERE status < ?", (INFLIGHT,)).rowcount
        finally:
            conn.close()

    def scene_jobs(self, scene_id: int) -> tuple:
        """(waiting, in flight) jobs of one scene (fan-out and reconcile jobs are not the scene's own)."""
        rows = self._sql(
            f"SELECT status < ?, COUNT(*) FROM {TABLE} WHERE status <= ? AND json_extract(CAST(data AS TEXT), '$.scene_id') = ?"
            " AND json_extract(CAST(data AS TEXT), '$.event') IN ('create', 'update', 'destroy', 'sync', 'repair') GROUP BY 1",
            (INFLIGHT, INFLIGHT, int(scene_id)))
        counts = {bool(waiting): count for waiting, count in rows}
        return counts.get(True, 0), counts.get(False, 0)

    def waiting_jobs(self, limit: int = 1000) -> list:
        """The oldest waiting jobs, for listings."""
        rows = self._sql(f"SELECT data FROM {TABLE} WHERE status < ? ORDER BY _id LIMIT ?", (INFLIGHT, limit))
        return [Job.from_dict(json.loads(row[0])) for row in rows]
