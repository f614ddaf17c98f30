"""One scene from Stash's UI, in the foreground: compare it with Plex, sync it now, retry its dead letter.

``scene_diff`` reads (the match and the field-by-field difference ``preview`` computes, without a
log block per view). ``sync_scene`` and ``retry_dead_letter`` run one job through the same delivery
routing as the background worker, so an outcome is recorded exactly as the worker would record it
(synced, retry scheduled, held by an open breaker, or dead-lettered with the reason). They hold the
drain lease while they do (a running worker hands over between two jobs, as for ``process_queue``)
and start a worker again afterwards if work is left. A foreground sync supersedes the scene's
waiting retry and its dead letters: its own outcome replaces them.
"""

import logging
import re
import time
from contextlib import contextmanager
from typing import Iterator, Optional

from plexsync import preview
from plexsync.deadletters import DeadLetters
from plexsync.errors import BadInput
from plexsync.hook import ensure_worker
from plexsync.jobs import Job, JobQueue, new_job
from plexsync.lease import Lease, new_token
from plexsync.operations import Operation
from plexsync.retries import RetrySchedule
from plexsync.runtime import Runtime, build
from plexsync.scene_state import PLEX_SERVER_KEY
from plexsync.worker import take_over

log = logging.getLogger(__name__)
# Outcomes the delivery loop logs at debug only, in words for the UI's outcome line.
QUIET_KINDS = {"retry": "not synced yet, a retry is scheduled", "held": "held until Plex or Stash answers again",
               "unchanged": "unchanged", "skipped": "skipped", "covered": "already synced"}
DERIVED_FIELDS = ("titleSort", "year")
TAKEOVER_WAIT = 60.0  # seconds the UI's request may wait for the background worker to finish its job


class _Lines(logging.Handler):
    """Collects the outcome lines (INFO and above) PlexSync logs while one job runs."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record's message."""
        self.lines.append(record.getMessage())


@contextmanager
def _outcome_lines() -> Iterator[list]:
    handler = _Lines()
    logger = logging.getLogger("plexsync")
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


def remember_plex(runtime: Runtime) -> Optional[dict]:
    """Cache Plex's URL and machine id once Plex answered, so the tab links to Plex Web without asking Plex."""
    machine_id = runtime.plex.machine_id()
    if not machine_id:
        return None
    value = {"url": runtime.settings.plex_url, "machine_id": machine_id}
    if runtime.db.get(PLEX_SERVER_KEY) != value:
        runtime.db.put(PLEX_SERVER_KEY, value)
    return value


def scene_diff(operation: Operation) -> dict:
    """``scene_diff``: the match and what a sync would change, read live from Stash and Plex; writes nothing."""
    scene_id = operation.int_arg("scene_id")
    with build(operation.connection, operation.data_dir, operation.db) as runtime:
        scene = runtime.stash.find_scene(scene_id)
        if scene is None:
            raise BadInput(f"Stash has no scene {scene_id}")
        diff = preview.preview_scene(runtime, scene)
        diff["plex_web"] = remember_plex(runtime)
    if "changes" in diff:  # sort title and year follow title and date: the tab shows what the user sets
        diff["changes"] = {k: v for k, v in diff["changes"].items() if k not in DERIVED_FIELDS}
    return diff


def _supersede(runtime: Runtime, job: Job) -> None:
    """This sync replaces the scene's waiting retry and its dead letters (its own outcome is recorded anew)."""
    runtime.delivery.retries.remove(job)
    letters = runtime.delivery.letters
    for letter in letters.for_scene(job.scene_id):
        letters.take(letter_id=letter.id)


def _line(result, caught: list) -> str:
    """The line Stash's log got for this outcome, or one made from the result when it logged at debug."""
    own = [line for line in caught if re.match(rf"(synced )?scene {result.scene_id}\b", line)]
    if own:
        return own[-1]
    detail = f": {result.detail.splitlines()[0]}" if result.detail else ""
    return f"scene {result.scene_id}: {QUIET_KINDS.get(result.kind, result.kind)}{detail}"


def _restart_worker(operation: Operation) -> None:
    """A worker that handed the queue over, or retries left for later, need a worker again."""
    queue = JobQueue(operation.data_dir)
    try:
        left = queue.pending() + RetrySchedule(operation.db).count()
    finally:
        queue.close()
    if left:
        ensure_worker(operation.db, operation.connection)


def _run_now(operation: Operation, job: Job) -> dict:
    """Run one scene job in the foreground, holding the drain lease; its result, line and the new status."""
    lease = Lease(operation.db, new_token())
    if not take_over(operation.db, lease, wait=TAKEOVER_WAIT):
        raise BadInput("the background worker did not hand the queue over within a minute; try again")
    try:
        with build(operation.connection, operation.data_dir, operation.db) as runtime:
            _supersede(runtime, job)
            with _outcome_lines() as caught:
                result = runtime.delivery.process(job)
            remember_plex(runtime)
    finally:
        lease.release()
        _restart_worker(operation)
    return {"scene_id": job.scene_id, "result": result.kind, "line": _line(result, caught),
            "error_class": result.error_class or None, "status": operation.scene_status()}


def sync_scene(operation: Operation) -> dict:
    """``sync_scene``: sync ``args.scene_id`` now, checking the Plex item even if Stash did not change."""
    operation.args["scene_id"] = operation.int_arg("scene_id")
    return _run_now(operation, new_job(operation.args["scene_id"], "repair", source="ui"))


def retry_dead_letter(operation: Operation) -> dict:
    """``retry_dead_letter``: retry dead letter ``args.id`` now (a scene's) or queue it (a fan-out's)."""
    letter_id = operation.int_arg("id")
    found = DeadLetters(operation.db).list(letter_id=letter_id)
    if not found:
        raise BadInput(f"there is no dead letter {letter_id} (already retried or cleared)")
    job = found[0].job._replace(transient_attempts=0, not_found_attempts=0, enqueued_at=time.time())
    if job.key.startswith("scene:"):
        operation.args["scene_id"] = job.scene_id
        return {"id": letter_id, **_run_now(operation, job if job.event == "destroy" else job._replace(event="repair"))}
    return {"id": letter_id, **_queue_again(operation, letter_id, job)}


def _queue_again(operation: Operation, letter_id: int, job: Job) -> dict:
    """A fan-out or reconcile job goes back to the background worker (it may touch many scenes)."""
    DeadLetters(operation.db).take(letter_id=letter_id)
    queue = JobQueue(operation.data_dir)
    try:
        queue.put(job)
    finally:
        queue.close()
    ensure_worker(operation.db, operation.connection)
    line = f"{job.key}: queued again; the background worker runs it"
    log.info("%s", line)
    return {"scene_id": None, "result": "queued", "line": line, "error_class": None, "status": None}


HANDLERS: dict = {"scene_diff": scene_diff, "sync_scene": sync_scene, "retry_dead_letter": retry_dead_letter}
