"""The background worker: one detached process at a time drains the queue through the delivery loop.

The main thread holds the lease (heartbeat), handles SIGTERM (finish the current job, stop) and waits;
connecting and draining run on a daemon thread. Reaching Plex or Stash is not a precondition of
running: a worker that cannot reach Stash at start waits for it (probing), and one that cannot reach
Plex holds its jobs behind the open breaker and probes until Plex answers (``outage``), so one worker
sees an outage through and delivers the held jobs seconds after it ends, with no new event needed.
Only settings no waiting can fix stop it (``misconfig``).

The worker exits when nothing has been waiting for ``idle_exit`` seconds, no outage holds jobs, and no
retry is due within ``horizon`` (so a job waiting ten minutes for Plex to scan a file is still retried
without a new Stash event). Before exiting it releases the lease and then rechecks the queue, so a job
a hook queued at that moment is never stranded (the hook enqueues, then checks).
"""

import json
import logging
import os
import logging.handlers
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional

from plexsync import misconfig
from plexsync.breaker import AUTH, CircuitBreaker
from plexsync.errors import ConfigError, PlexSyncError, StashAuthError, StashUnavailable
from plexsync.hook import plugin_dir
from plexsync.jobs import JobQueue
from plexsync.lease import Lease
from plexsync.outage import Outages, kind_of
from plexsync.protocol import ServerConnection
from plexsync.pull.sweep import PullSweep
from plexsync.pull.sweep import log_report as log_pull
from plexsync.readahead import ReadAhead
from plexsync.reconcile import Reconcile
from plexsync.reconcile import log_report as log_reconcile
from plexsync.retries import RetrySchedule
from plexsync.runtime import Runtime, build, time_scale
from plexsync.state import StateDB, data_dir_for
from plexsync.stashlog import SECRETS
from plexsync.worklog import BACKUPS, LOG_FILE, MAX_BYTES

log = logging.getLogger(__name__)
TAKEOVER_KEY = "takeover"
FOREGROUND_THREADS = 4


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, message (tracebacks folded into the message)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += f": {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        return json.dumps({"t": record.created, "l": record.levelname, "m": message}, ensure_ascii=False)


def file_handler(data_dir) -> logging.Handler:
    """The worker's rotating log handler (JSON records, secrets masked); ``worklog`` relays it."""
    handler = logging.handlers.RotatingFileHandler(data_dir / LOG_FILE, maxBytes=MAX_BYTES,
                                                   backupCount=BACKUPS, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    handler.addFilter(SECRETS)
    return handler


@dataclass(frozen=True)
class Timing:
    """How long the worker waits for what (seconds); tests shrink them."""

    idle_exit: float = 15.0
    horizon: float = 900.0
    poll: float = 0.5
    heartbeat: float = 5.0
    purge_every: int = 200
    stash_patience: float = 3600.0  # Stash down this long (stopped for good?): exit; its next hook starts another


class Worker:
    """Drains the queue while it holds the lease; probes Plex and Stash while they are down."""

    def __init__(self, connect: Callable[[threading.Event], Optional[Runtime]], lease: Lease,
                 timing: Timing = Timing(), clock: Callable[[], float] = time.time) -> None:
        self.connect, self.lease, self.timing, self.clock = connect, lease, timing, clock
        self.runtime: Optional[Runtime] = None
        self.stop = threading.Event()
        self.processed = 0
        self.read_ahead: Optional[ReadAhead] = None

    def run(self) -> int:
        """Connect and drain on a daemon thread, heartbeat here; returns the number of jobs processed."""
        thread = threading.Thread(target=self._work_guarded, name="plexsync-drain", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(self.timing.heartbeat)
            if thread.is_alive() and not self.lease.db.path.exists():
                self.stop.set()  # the plugin was removed: nobody needs this worker any more
            elif thread.is_alive() and not self.lease.renew():
                log.warning("another process took over the queue; stopping after the current job")
                self.stop.set()
        if self.runtime is not None:
            self.runtime.queue.purge_acked()
        self.lease.release()
        return self.processed

    def _work_guarded(self) -> None:
        try:
            self.runtime = self.connect(self.stop)
            if self.runtime is not None:
                self.drain()
        except Exception:  # thread boundary: log it; the lease is released and the next hook restarts us
            log.exception("the background worker stopped on an unexpected error")

    def drain(self) -> None:
        """The loop: probe what is down, process the next job, or wait; exit when idle."""
        idle_since = self.clock()
        while not self.stop.is_set() and not self._takeover_requested():
            if self.step() or self.runtime.delivery.settle_collections() is not None:
                idle_since = self.clock()
                continue
            if self._may_exit(idle_since):
                return
            self.stop.wait(self._pause())

    def step(self) -> bool:
        """One turn: probe open breakers that are due, promote due retries, process one job if none is held.

        Returns True if a job was processed.
        """
        runtime = self.runtime
        runtime.outages.probe_due()
        runtime.delivery.promote_due()
        if runtime.delivery.blocked_until() is not None:
            return False
        self._reader(runtime).before_claim()
        claim = runtime.queue.claim()
        if claim is None:
            return False
        runtime.delivery.handle(claim)
        self._count()
        return True

    def _reader(self, runtime: Runtime) -> ReadAhead:
        """The read-ahead for the current syncer (a settings change rewires the runtime)."""
        if self.read_ahead is None or self.read_ahead.syncer is not runtime.delivery.syncer:
            self.read_ahead = ReadAhead(runtime.queue, runtime.delivery.syncer)
        return self.read_ahead

    def _count(self) -> None:
        self.processed += 1
        if self.processed % self.timing.purge_every == 0:
            self.runtime.queue.purge_acked()

    def _pause(self) -> float:
        wake = [self.clock() + self.timing.poll]
        for moment in (self.runtime.delivery.retries.next_due(), self.runtime.delivery.blocked_until()):
            if moment is not None:
                wake.append(moment)
        return max(0.01, min(wake) - self.clock())

    def _may_exit(self, idle_since: float) -> bool:
        """Idle long enough, nothing due soon and no outage to watch: release, recheck, exit unless work arrived."""
        if self.clock() - idle_since < self.timing.idle_exit or self._watching():
            return False
        next_due = self.runtime.delivery.retries.next_due()
        if next_due is not None and next_due - self.clock() <= self.timing.horizon:
            return False
        self.runtime.queue.purge_acked()  # tidy up first: the time between release and exit stays short
        self.lease.release()
        if self.runtime.queue.pending() == 0:
            return True
        return not self.lease.acquire()

    def _watching(self) -> bool:
        """True while jobs wait for an outage this worker can see the end of (one worker per outage).

        A refused Stash session is the exception: only a new worker, started by the next hook with a
        fresh session from Stash, can end that one.
        """
        kinds = self.runtime.outages.open_kinds()
        if not kinds or kinds.get("stash") == AUTH or self._given_up_on_stash():
            return False
        return self.runtime.outages.waiting() > 0

    def _given_up_on_stash(self) -> bool:
        """Stash has been unreachable for ``stash_patience``: Stash runs hooks, so its return brings a new worker."""
        opened = self.runtime.outages.breakers["stash"].snapshot().opened_at
        return opened is not None and self.clock() - opened >= self.timing.stash_patience

    def _takeover_requested(self) -> bool:
        request = self.runtime.db.get(TAKEOVER_KEY) if self.runtime else None
        if request and request.get("until", 0) > self.clock():
            log.debug("a foreground task asked for the queue; handing over")
            return True
        return False


def _install_sigterm(worker: Worker) -> None:
    def stop(signum, frame):
        log.info("worker asked to stop; finishing the current job")
        worker.stop.set()
    try:
        signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not in the main thread (tests running a worker in-process)
        pass


def _scheduled_reconcile(runtime: Runtime, scope: str) -> dict:
    report = Reconcile(runtime, lambda fraction: None).run(scope)
    log_reconcile(report)
    return report


def _scheduled_pull(runtime: Runtime) -> dict:
    report = PullSweep(runtime).run()
    log_pull(report)
    return report


def timing_from_env(env=os.environ) -> Timing:
    """Timing, with ``PLEXSYNC_IDLE_EXIT`` (seconds) overriding how long an idle worker lingers."""
    try:
        return Timing(idle_exit=float(env["PLEXSYNC_IDLE_EXIT"]))
    except (KeyError, ValueError):
        return Timing()


def connect(connection: ServerConnection, data_dir, db: StateDB, stop: threading.Event,
            clock: Callable[[], float] = time.time, patience: float = Timing.stash_patience) -> Optional[Runtime]:
    """Build the worker's runtime, waiting for Stash up to ``patience`` (probing it on the breaker's
    backoff); None when the settings cannot work (one line, and hooks pause their starts) or on stop."""
    breaker, since = CircuitBreaker(db, "stash", clock=clock), clock()
    while not stop.is_set():
        try:
            runtime = build(connection, data_dir, db, resume=True)
        except ConfigError as exc:
            if misconfig.record(db, str(exc), clock, time_scale()):
                log.error("background worker stopped: %s", exc)
            return None
        except (StashUnavailable, StashAuthError) as exc:
            _stash_down(data_dir, db, breaker, exc)
            if isinstance(exc, StashAuthError) or clock() - since >= patience:
                return None  # only a fresh session, or Stash running again, brings the next worker
            stop.wait(max(0.05, (breaker.snapshot().retry_at or clock()) - clock()))
            continue
        runtime.delivery.scheduled_reconcile = lambda scope: _scheduled_reconcile(runtime, scope)
        runtime.delivery.scheduled_pull = lambda: _scheduled_pull(runtime)
        return runtime
    return None


def _stash_down(data_dir, db: StateDB, breaker: CircuitBreaker, exc: Exception) -> None:
    """Record a failed start against Stash: the first one opens the outage (said once), later ones probe."""
    if breaker.snapshot().is_open:
        breaker.probe_failed(str(exc), kind_of(exc))
        return
    queue = JobQueue(data_dir)
    try:
        waiting = RetrySchedule(db)
        Outages({"stash": breaker}, waiting, lambda: waiting.held() + queue.pending()).trip("stash", exc)
    finally:
        queue.close()


def worker_main(payload: bytes, timing: Optional[Timing] = None) -> int:
    """Entry of the detached worker process: take the lease, connect, drain, exit 0."""
    try:
        handover = json.loads(payload.decode("utf-8"))
        connection = ServerConnection.from_json(handover["server_connection"])
        token = str(handover["lease_token"])
    except (ValueError, KeyError, TypeError, PlexSyncError):
        return 2
    data_dir = data_dir_for(plugin_dir(connection))
    logging.getLogger().handlers = [file_handler(data_dir)]  # no stderr to Stash: everything goes to the file
    db = StateDB(data_dir)
    lease = Lease(db, token)
    if not lease.acquire():
        log.debug("another worker is already draining the queue")
        return 0
    worker = Worker(lambda stop: connect(connection, data_dir, db, stop), lease, timing or timing_from_env())
    _install_sigterm(worker)
    processed = worker.run()
    log.debug("background worker exits after %s jobs", processed)
    if worker.runtime is not None:
        worker.runtime.close()
    return 0


def take_over(db: StateDB, lease: Lease, wait: float = 120.0, clock: Callable[[], float] = time.time,
              sleep: Callable[[float], None] = time.sleep) -> bool:
    """Get the lease for a foreground drain: ask a running worker to hand over, wait for it."""
    if lease.acquire():
        return True
    deadline = clock() + wait
    db.put(TAKEOVER_KEY, {"token": lease.token, "until": deadline})  # expires: a killed task cannot wedge workers
    try:
        while clock() < deadline:
            if lease.acquire():
                return True
            sleep(0.2)
        return False
    finally:
        db.put(TAKEOVER_KEY, None)


def claim_batch(queue, size: int) -> list:
    """Up to ``size`` waiting jobs."""
    claims = []
    while len(claims) < size:
        claim = queue.claim()
        if claim is None:
            break
        claims.append(claim)
    return claims


def handle_batch(delivery, claims: list, pool: ThreadPoolExecutor) -> list:
    """Process claims concurrently, one thread per scene (a scene's own jobs stay in order)."""
    groups: dict = {}
    for claim in claims:
        groups.setdefault(claim.job.scene_id, []).append(claim)
    futures = [pool.submit(lambda group: [delivery.handle(c) for c in group], group) for group in groups.values()]
    return [result for future in futures for result in future.result()]


def drain_foreground(runtime: Runtime, progress: Callable[[float], None] = lambda fraction: None,
                     parallel: int = FOREGROUND_THREADS, on_result: Callable = lambda result: None,
                     settle: bool = True) -> dict:
    """Drain until nothing is due now (``process_queue``, ``sync_all``); returns counts per result.

    Foreground tasks run ``parallel`` jobs at once (Plex latency dominates a bulk sync); the
    background worker stays sequential, so a SIGKILL can repeat at most the one edit in flight.
    With ``settle``, the collections the jobs changed are settled at the end (a bulk sync settles
    once, after its last page).
    """
    delivery, queue = runtime.delivery, runtime.queue
    counts: dict = {}
    done = 0
    delivery.promote_due()
    total = max(1, queue.pending())
    progress(0.0)
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="plexsync-sync") as pool:
        while delivery.blocked_until() is None:
            claims = claim_batch(queue, parallel)
            if not claims:
                if not delivery.promote_due():
                    break
                continue
            for result in handle_batch(delivery, claims, pool):
                counts[result.kind] = counts.get(result.kind, 0) + 1
                on_result(result)
            done += len(claims)
            total = max(total, done + queue.pending())
            progress(done / total)
    queue.purge_acked()
    if settle:
        delivery.settle_collections()
    return counts
