"""Dead letters: jobs that failed permanently, kept with the reason for ``dlq_retention_days``."""

import json
import time
from dataclasses import dataclass
from typing import Callable, Optional

from plexsync.jobs import Job
from plexsync.state import StateDB


@dataclass(frozen=True)
class DeadLetter:
    """A buried job and why."""

    id: int
    job: Job
    error_class: str
    message: str
    attempts: int
    failed_at: float


class DeadLetters:
    """The ``dead_letters`` table."""

    def __init__(self, db: StateDB, clock: Callable[[], float] = time.time) -> None:
        self.db, self.clock = db, clock

    def bury(self, job: Job, error_class: str, message: str) -> None:
        """Store a permanently failed job with its error class and message."""
        attempts = job.transient_attempts + job.not_found_attempts + 1
        self.db.execute(
            "INSERT INTO dead_letters (job_key, scene_id, job, error_class, message, attempts, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (job.key, job.scene_id, json.dumps(job.to_dict()), error_class, message[:8000], attempts, self.clock()),
        )

    def _where(self, scene_id: Optional[int], error_class: Optional[str]) -> tuple:
        clauses, params = [], []
        if scene_id is not None:
            clauses.append("scene_id = ?")
            params.append(int(scene_id))
        if error_class:
            clauses.append("error_class = ?")
            params.append(error_class)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)

    def list(self, scene_id: Optional[int] = None, error_class: Optional[str] = None, limit: int = 1000) -> list:
        """Dead letters matching the filters, oldest first."""
        where, params = self._where(scene_id, error_class)
        rows = self.db.query(
            f"SELECT id, job, error_class, message, attempts, failed_at FROM dead_letters{where} ORDER BY id LIMIT ?",
            params + (limit,),
        )
        return [DeadLetter(r[0], Job.from_dict(json.loads(r[1])), r[2], r[3], r[4], r[5]) for r in rows]

    def take(self, scene_id: Optional[int] = None, error_class: Optional[str] = None) -> list:
        """Remove and return the matching dead letters (for ``dlq_retry``)."""
        letters = self.list(scene_id, error_class, limit=1_000_000)
        with self.db.transaction() as conn:
            conn.executemany("DELETE FROM dead_letters WHERE id = ?", [(letter.id,) for letter in letters])
        return letters

    def clear(self) -> int:
        """Delete every dead letter; returns how many."""
        return self.db.execute("DELETE FROM dead_letters")

    def purge(self, retention_days: int) -> int:
        """Delete dead letters older than the retention period; returns how many."""
        cutoff = self.clock() - retention_days * 86400
        return self.db.execute("DELETE FROM dead_letters WHERE failed_at < ?", (cutoff,))

    def counts(self) -> dict:
        """Number of dead letters per error class."""
        return dict(self.db.query("SELECT error_class, COUNT(*) FROM dead_letters GROUP BY error_class"))
