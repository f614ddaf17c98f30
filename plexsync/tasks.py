"""Task modes (``defaultArgs.mode`` in PlexSync.yml): each takes the plugin input and returns ``output``.

The set of mode names is fixed (automation relies on it); modes whose issue has not landed answer
"not implemented yet" as an error. Every task first relays the background worker's unseen log
records, and ends with a one-line summary.
"""

import logging
import time
from pathlib import Path
from typing import Callable, Optional

from plexsync import preview, stashlog, status
from plexsync.breaker import UNREACHABLE
from plexsync.collection_records import CollectionRecords
from plexsync.bulk import BulkSync, sync_recent
from plexsync.deadletters import DeadLetters
from plexsync.errors import BadInput
from plexsync.health import Health
from plexsync.hook import LOG_SETTINGS_KEY, ensure_worker, plugin_dir
from plexsync.jobs import JobQueue
from plexsync.lease import Lease, new_token
from plexsync.overview import HEALTH_KEY
from plexsync.protocol import PluginInput
from plexsync.pull.sweep import PullSweep
from plexsync.pull.sweep import log_report as log_pull
from plexsync.reconcile import Reconcile
from plexsync.reconcile import log_report as log_reconcile
from plexsync.retries import RetrySchedule
from plexsync.schedule import queue_if_due
from plexsync.runtime import build, plex_outage, read_settings
from plexsync.stash import StashClient
from plexsync.state import StateDB, data_dir_for
from plexsync.worker import drain_foreground, take_over
from plexsync.worklog import relay, show, tail

log = logging.getLogger(__name__)

MODES = (
    "sync_all", "sync_recent", "process_queue", "status", "reconcile", "preview", "dlq_retry",
    "dlq_clear", "dlq_purge", "queue_clear", "health", "reindex", "log", "pull",
)
TASK_RELAY_LIMIT = 500


class Task:
    """One task run: the plugin input plus the state it works on."""

    def __init__(self, plugin_input: PluginInput) -> None:
        self.input = plugin_input
        self.args = plugin_input.args
        self.data_dir: Path = data_dir_for(plugin_dir(plugin_input.connection))
        self.db = StateDB(self.data_dir)
        stashlog.apply_cached(self.db.get(LOG_SETTINGS_KEY) or {})
        self._queue_scheduled_reconcile()

    def _queue_scheduled_reconcile(self) -> None:
        queue = JobQueue(self.data_dir)
        try:
            if queue_if_due(self.db, queue):
                ensure_worker(self.db, self.input.connection)
        finally:
            queue.close()

    def int_arg(self, name: str) -> Optional[int]:
        """An optional integer argument; BadInput naming it when it is not one."""
        value = self.args.get(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise BadInput(f"args.{name} must be an integer, got {str(value)[:40]!r}") from None

    def settings(self):
        """The plugin settings, read from Stash."""
        stash = StashClient(self.input.connection)
        stash.use_api_key()
        return read_settings(stash, self.db)


def run_status(task: Task) -> dict:
    """``status``: counts and state from local files; needs neither Stash nor Plex."""
    report = status.collect(task.data_dir)
    status.log_report(report)
    return report


def run_dlq_retry(task: Task) -> dict:
    """``dlq_retry``: put dead letters back into the queue (all, or ``scene_id``/``error_class``/``id``)."""
    letters = DeadLetters(task.db).take(task.int_arg("scene_id"), task.args.get("error_class") or None, task.int_arg("id"))
    queue = JobQueue(task.data_dir)
    queue.put_many([letter.job._replace(transient_attempts=0, not_found_attempts=0, enqueued_at=time.time())
                    for letter in letters])
    queue.close()
    if letters:
        ensure_worker(task.db, task.input.connection)
    log.info("dlq_retry: %s dead letters queued again", len(letters))
    return {"requeued": len(letters)}


def run_dlq_clear(task: Task) -> dict:
    """``dlq_clear``: delete every dead letter (or the one ``args.id`` names)."""
    removed = DeadLetters(task.db).clear(task.int_arg("id"))
    log.info("dlq_clear: %s dead letters deleted", removed)
    return {"deleted": removed}


def run_dlq_purge(task: Task) -> dict:
    """``dlq_purge``: delete dead letters older than ``dlq_retention_days``."""
    days = task.settings().dlq_retention_days
    removed = DeadLetters(task.db).purge(days)
    log.info("dlq_purge: %s dead letters older than %s days deleted", removed, days)
    return {"deleted": removed, "retention_days": days}


def run_queue_clear(task: Task) -> dict:
    """``queue_clear``: drop waiting jobs and retries; a job being processed is left alone."""
    queue = JobQueue(task.data_dir)
    waiting = queue.clear_pending()
    queue.close()
    retries = RetrySchedule(task.db).clear()
    log.info("queue_clear: %s waiting jobs and %s retries dropped", waiting, retries)
    return {"cleared": waiting, "retries_cleared": retries}


def run_log(task: Task) -> dict:
    """``log``: copy the last 200 worker log records into Stash's log."""
    records = tail(task.data_dir, 200)
    for record in records:
        show(record)
    return {"records": len(records)}


def _foreground(task: Task, work: Callable) -> dict:
    """Run ``work(runtime)`` holding the drain lease (taken over from a running worker, if any).

    While Plex is down, ``work`` runs without the lease: its drains see the open breaker and only queue,
    and the background worker (started here if none runs) delivers once Plex answers.
    """
    with build(task.input.connection, task.data_dir, task.db) as runtime:
        result = work(runtime) if plex_outage(runtime) else _with_lease(task, runtime, work)
        result = _note_outage(runtime, result)
    stashlog.progress(1.0)
    _wake_worker(task)
    return result


def _with_lease(task: Task, runtime, work: Callable) -> dict:
    lease = Lease(task.db, new_token())
    if not take_over(task.db, lease):
        raise BadInput("the background worker did not hand the queue over within 2 minutes; try again")
    try:
        runtime.queue.resume_unacked()  # only the lease holder may: a killed worker's job is redone, not lost
        return work(runtime)
    finally:
        lease.release()


def _note_outage(runtime, result: dict) -> dict:
    """While Plex (or Stash) cannot be used: one line saying so and how many scenes wait; output keys too."""
    kinds = runtime.outages.open_kinds()
    if not kinds:
        return result
    service = "plex" if "plex" in kinds else "stash"
    error = runtime.outages.breakers[service].snapshot().last_error
    waiting = runtime.outages.waiting()
    state = "unreachable" if kinds[service] == UNREACHABLE else "refusing PlexSync"
    log.warning("%s is %s (%s): %s queued scenes will sync when it is back", service.capitalize(), state, error, waiting)
    return {**result, "held": waiting, "outage": {"service": service, "kind": kinds[service], "error": error}}


def _wake_worker(task: Task) -> None:
    """Jobs left in the queue or waiting for a retry, and collections waiting for a pass, belong to the
    background worker."""
    queue = JobQueue(task.data_dir)
    try:
        if queue.pending() or RetrySchedule(task.db).count() or CollectionRecords(task.db).pending():
            ensure_worker(task.db, task.input.connection)
    finally:
        queue.close()


def _summary(counts: dict) -> str:
    return ", ".join(f"{value} {key.replace('_', ' ')}" for key, value in counts.items() if isinstance(value, int)) or "nothing to do"


def run_process_queue(task: Task) -> dict:
    """``process_queue``: drain in the foreground until nothing is due, with progress."""
    def work(runtime) -> dict:
        counts = drain_foreground(runtime, stashlog.progress)
        return {**counts, "processed": sum(counts.values())}

    result = _foreground(task, work)
    retries = RetrySchedule(task.db)
    waiting = retries.count() - retries.held()
    log.info("process_queue: %s; %s waiting for a retry", _summary(result), waiting)
    return {**result, "in_retry": waiting}


def run_sync_all(task: Task) -> dict:
    """``sync_all``: every scene whose metadata differs from what was last written, synced now."""
    counts = _foreground(task, lambda runtime: BulkSync(runtime, stashlog.progress).run())
    log.info("sync_all: %s", _summary(counts))
    return counts


def run_sync_recent(task: Task) -> dict:
    """``sync_recent``: scenes updated since the last run (first run: the last 24 hours)."""
    counts = _foreground(task, lambda runtime: sync_recent(runtime, stashlog.progress))
    log.info("sync_recent since %s: %s", counts.get("since") or "-", _summary(counts))
    return counts


def _runtime(task: Task):
    return build(task.input.connection, task.data_dir, task.db)


def run_preview(task: Task) -> list:
    """``preview``: match and field diff for ``scene_id`` or the 20 latest scenes; writes nothing."""
    with _runtime(task) as runtime:
        return preview.preview(runtime, task.int_arg("scene_id"))


def run_reindex(task: Task) -> dict:
    """``reindex``: rebuild the library index and report what maps to nothing."""
    with _runtime(task) as runtime:
        return preview.reindex(runtime)


def run_health(task: Task) -> dict:
    """``health``: Stash, settings, Plex reachability and auth, libraries, path mapping (kept for the PlexSync page)."""
    report = Health(task.input.connection, task.db, stashlog.progress).run()
    task.db.put(HEALTH_KEY, {**report, "checked_at": time.time()})
    return report


def run_reconcile(task: Task) -> dict:
    """``reconcile``: classify every scene in ``scope`` and queue what a sync would fix.

    While Plex is down it classifies from Stash and PlexSync's own records (drift cannot be checked)
    and queues what needs syncing for the background worker.
    """
    dry_run = str(task.args.get("dry_run", "")).lower() in ("true", "1", "yes")
    with _runtime(task) as runtime:
        plex_outage(runtime)
        report = Reconcile(runtime, stashlog.progress, dry_run).run(str(task.args.get("scope") or "all"))
        log_reconcile(report)
        report = _note_outage(runtime, report)
    _wake_worker(task)
    return report


def run_pull(task: Task) -> dict:
    """``pull``: Plex's plays, resume points and ratings into Stash (as the pull settings choose), with progress.

    A Stash older than v0.25, a Plex that refuses the token and a pull already running each end the task
    with one line, having changed nothing (this is not the background worker: nothing is held for later).
    """
    with _runtime(task) as runtime:
        report = PullSweep(runtime, stashlog.progress).run()
    log_pull(report)
    return report


HANDLERS: dict = {
    "health": run_health, "reconcile": run_reconcile,
    "preview": run_preview, "reindex": run_reindex, "sync_all": run_sync_all, "sync_recent": run_sync_recent,
    "status": run_status, "dlq_retry": run_dlq_retry, "dlq_clear": run_dlq_clear, "dlq_purge": run_dlq_purge,
    "queue_clear": run_queue_clear, "log": run_log, "process_queue": run_process_queue, "pull": run_pull,
}


def handler_for(mode: str) -> Callable[[Task], object]:
    """The function for a task mode; BadInput for unknown or not yet implemented modes."""
    if mode not in MODES:
        raise BadInput(f"unknown task mode {mode!r}: expected one of {', '.join(MODES)}")
    if mode not in HANDLERS:
        raise BadInput(f"task mode {mode!r} is not implemented yet in this version of PlexSync")
    return HANDLERS[mode]


def run_task(plugin_input: PluginInput) -> object:
    """Run the task named by ``args.mode``."""
    handler = handler_for(plugin_input.mode)
    stashlog.progress(0.0)
    task = Task(plugin_input)
    try:
        relay(task.data_dir, task.db, limit=TASK_RELAY_LIMIT)
        output = handler(task)
    finally:
        task.db.close()
    stashlog.progress(1.0)
    return output
