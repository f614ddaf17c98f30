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

    def _where(self, scene_id: Optional[int], error_class: Optional[str], letter_id: Optional[int] = None) -> tuple:
        clauses, params = [], []
        if letter_id is not None:
            clauses.append("id = ?")
            params.append(int(letter_id))
        if scene_id is not None:
            clauses.append("scene_id = ?")
            params.append(int(scene_id))
        if error_class:
            clauses.append("error_class = ?")
            params.append(error_class)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)

    def list(self, scene_id: Optional[int] = None, error_class: Optional[str] = None, limit: int = 1000,
             letter_id: Optional[int] = None, newest_first: bool = False) -> list:
        """Dead letters matching the filters, oldest first (or newest first)."""
        where, params = self._where(scene_id, error_class, letter_id)
        rows = self.db.query(
            f"SELECT id, job, error_class, message, attempts, failed_at FROM dead_letters{where} "
            f"ORDER BY id {'DESC' if newest_first else 'ASC'} LIMIT ?",
            params + (limit,),
        )
        return [DeadLetter(r[0], Job.from_dict(json.loads(r[1])), r[2], r[3], r[4], r[5]) for r in rows]

    def take(self, scene_id: Optional[int] = None, error_class: Optional[str] = None,
             letter_id: Optional[int] = None) -> list:
        """Remove and return the matching dead letters (for ``dlq_retry``; ``letter_id`` picks one)."""
        letters = self.list(scene_id, error_class, limit=1_000_000, letter_id=letter_id)
        with self.db.transaction() as conn:
            conn.executemany("DELETE FROM dead_letters WHERE id = ?", [(letter.id,) for letter in letters])
        return letters

    def for_scene(self, scene_id: int) -> list:
        """The dead letters of one scene's own jobs (a fan-out job's ``scene_id`` names a performer, studio or tag)."""
        return [letter for letter in self.list(scene_id) if letter.job.key == f"scene:{scene_id}"]

    def clear(self, letter_id: Optional[int] = None) -> int:
        """Delete every dead letter, or the one with ``letter_id``; returns how many."""
        if letter_id is not None:
            return self.db.execute("DELETE FROM dead_letters WHERE id = ?", (int(letter_id),))
        return self.db.execute("DELETE FROM dead_letters")

    def purge(self, retention_days: int) -> int:
        """Delete dead letters older than the retention period; returns how many."""
        cutoff = self.clock() - retention_days * 86400
        return self.db.execute("DELETE FROM dead_letters WHERE failed_at < ?", (cutoff,))

    def counts(self) -> dict:
        """Number of dead letters per error class."""
        return dict(self.db.query("SELECT error_class, COUNT(*) FROM dead_letters GROUP BY error_class"))


# What to do about a dead letter, by what its message says (the reasons are written in matcher, sync,
# plex and stash); the first rule that matches wins, then the error class decides.
_REMEDIES = (
    ("has no files", "Nothing to do in Plex: the scene has no files. Add a file in Stash, or clear this letter."),
    ("only a low-confidence match", "Fix path_map so the scene's full path is the Plex item's path, or turn "
                                    "strict_matching off to accept same-name matches; then retry."),
    ("several", "Fix path_map so the scene's full path matches exactly one Plex item (the candidates are listed); "
                "then retry."),
    ("is in no Plex library folder", "Set path_map so the scene's path maps into a Plex library folder, then retry."),
    ("Stash refused", "Generate an API key in Stash (Settings > Security) so PlexSync can keep reaching Stash; then retry."),
    ("Plex refused", "Set a current plex_token whose account may edit this server, then retry."),
    ("Plex rejected", "Plex refused the data PlexSync sent; check the scene's metadata and retry. Report it if it repeats."),
)
_CLASS_REMEDIES = {
    "not_found": "Plex never listed the file: check that it lies in a Plex library and that path_map maps it "
                 "(Rebuild library index lists unmatched scenes); then retry.",
    "transient": "Plex or Stash stayed unreachable through every retry; run the Health check, then retry.",
    "bug": "An unexpected error in PlexSync: please report it with the worker log (Show worker log task). "
           "Retrying may work after an update.",
}


def remedy(error_class: str, message: str) -> str:
    """The fix for a dead letter, in words, from its error class and message."""
    for words, advice in _REMEDIES:
        if words in message:
            return advice
    return _CLASS_REMEDIES.get(error_class, "Run the Health check, fix what it names, then retry.")
