"""What PlexSync knows about one scene, from its own files alone: the scene's Plex tab shows it.

The Plex item the last sync wrote (and how it was matched), what that sync wrote and when, and the
scene's place in the queue: waiting, being synced, waiting for a retry, held by an outage, or
dead-lettered with the reason and the fix. No Stash or Plex request, and nothing heavier than the
hook imports, so it answers about as fast as a hook (``bench/scene_tab.py``). The keys are an
interface (README, "Operations"); the live comparison with Plex is ``scene_diff``, not this.
"""

import time
from typing import Callable, Optional

from plexsync.breaker import CircuitBreaker
from plexsync.deadletters import DeadLetter, DeadLetters, remedy
from plexsync.jobs import JobQueue
from plexsync.lease import Lease
from plexsync.records import SyncRecord, SyncRecords
from plexsync.retries import Deferred, RetrySchedule
from plexsync.state import StateDB
from plexsync.status import iso

PLEX_SERVER_KEY = "plex_server"  # {url, machine_id}: cached by the UI's calls that reach Plex (scene_sync)
WRITTEN_FIELDS = ("title", "summary", "studio", "originallyAvailableAt", "genre", "label", "actor", "collection", "rating")
STATES = ("dead_letter", "held", "retrying", "syncing", "queued", "synced", "never_synced")


def letter_row(letter: DeadLetter) -> dict:
    """A dead letter as the UI lists it: the reason's first line and the fix in words."""
    reason = (letter.message or letter.error_class).splitlines()[0]
    return {"id": letter.id, "job": letter.job.key, "event": letter.job.event,
            "scene_id": letter.job.scene_id if letter.job.key.startswith("scene:") else None,
            "error_class": letter.error_class, "reason": reason, "remedy": remedy(letter.error_class, letter.message),
            "attempts": letter.attempts, "failed_at": iso(letter.failed_at)}


def _state(record: Optional[SyncRecord], letters: list, retry: Optional[Deferred], waiting: int, in_flight: int) -> str:
    """The one word for where the scene stands, the most pressing first."""
    if letters:
        return "dead_letter"
    if retry is not None:
        return "held" if retry.held else "retrying"
    if in_flight:
        return "syncing"
    if waiting:
        return "queued"
    return "synced" if record is not None else "never_synced"


def _match(record: Optional[SyncRecord]) -> Optional[dict]:
    if record is None or record.rating_key is None:
        return None
    note = record.written.get("match") or {}
    return {"rating_key": record.rating_key, "plex_file": record.plex_file, "library": note.get("library"),
            "confidence": note.get("confidence"), "matched_by": note.get("by", "path")}


def _last_sync(record: Optional[SyncRecord]) -> Optional[dict]:
    if record is None:
        return None
    fields = {name: record.written[name] for name in WRITTEN_FIELDS if record.written.get(name)}
    return {"at": iso(record.synced_at), "fields": fields, "cover": bool(record.written.get("image_hash"))}


def _retry(retry: Optional[Deferred]) -> Optional[dict]:
    if retry is None:
        return None
    return {"due_at": iso(retry.due_at), "error_class": retry.error_class, "last_error": retry.last_error,
            "held": retry.held}


def _plex_web(db: StateDB) -> Optional[dict]:
    server = db.get(PLEX_SERVER_KEY) or {}
    if not server.get("url") or not server.get("machine_id"):
        return None
    return {"url": server["url"], "machine_id": server["machine_id"]}


def scene_state(db: StateDB, queue: JobQueue, scene_id: int, clock: Callable[[], float] = time.time) -> dict:
    """Everything PlexSync's own files say about one scene (see the module docstring)."""
    record = SyncRecords(db, clock).get(scene_id)
    letters = DeadLetters(db, clock).for_scene(scene_id)
    retry = RetrySchedule(db, clock).waiting(f"scene:{scene_id}")
    waiting, in_flight = queue.scene_jobs(scene_id)
    breaker = CircuitBreaker(db, clock=clock).snapshot()
    return {
        "scene_id": scene_id,
        "state": _state(record, letters, retry, waiting, in_flight),
        "match": _match(record),
        "last_sync": _last_sync(record),
        "queue": {"waiting": waiting, "in_flight": in_flight, "retry": _retry(retry)},
        "dead_letters": [letter_row(letter) for letter in letters],
        "plex_breaker": {"state": breaker.state, "retry_at": iso(breaker.retry_at)},
        "worker_running": Lease(db, token="", clock=clock).holder() is not None,
        "plex_web": _plex_web(db),
    }
