"""Delivery: take one job through the syncer and route its outcome (ack, retry, hold or bury).

Error routing (errors.py): transient -> the service is probed at once (``outage``): if it is down, its
circuit breaker opens and the job is held (no retry spent, never dead-lettered) until a probe finds the
service back; otherwise the job is retried with backoff. A 401/403 or a setting Plex contradicts is a
configuration outage: held the same way until the setting is fixed. Not-found -> a few quick looks
after the scan request, then the long retry schedule; permanent -> dead letters with the reason;
anything else is a bug -> dead letters with the traceback. The retry, hold or dead letter is written
before the queue row is acknowledged, so a SIGKILL between the two repeats work at most, never loses it.
"""

import logging
import random
import time
import traceback
from dataclasses import dataclass, replace
from typing import Callable, Optional

from plexsync.deadletters import DeadLetters
from plexsync.errors import AuthError, Busy, ConfigError, MissingInPlex, NotFoundYet, PermanentError, TransientError
from plexsync.jobs import Claim, Job, JobQueue
from plexsync.outage import Outages, service_of
from plexsync.retries import RetrySchedule, policies
from plexsync.sync import Outcome, Syncer

log = logging.getLogger(__name__)
COLLECTIONS_PAUSE = 60.0  # seconds without a collection pass after one Plex or Stash failed


@dataclass(frozen=True)
class Result:
    """How a job ended: synced/unchanged/... from the syncer, or retry, held, dead, covered.

    ``error_class`` and ``error`` (the exception's name) say why, for retry, held and dead.
    """

    kind: str
    scene_id: int
    detail: str = ""
    error_class: str = ""
    error: str = ""


class Delivery:
    """Processes claimed jobs; shared by the background worker and the foreground tasks."""

    def __init__(self, queue: JobQueue, syncer: Syncer, retries: RetrySchedule, letters: DeadLetters,
                 outages: Outages, max_retries: int, clock: Callable[[], float] = time.time,
                 rand: Callable[[float, float], float] = random.uniform, time_scale: float = 1.0) -> None:
        self.queue, self.syncer, self.retries, self.letters = queue, syncer, retries, letters
        self.outages, self.clock, self.rand = outages, clock, rand
        self.policies = policies(max_retries, time_scale)
        self.scheduled_reconcile: Optional[Callable[[str], dict]] = None
        self.scheduled_pull: Optional[Callable[[], dict]] = None
        self.collections_pause = COLLECTIONS_PAUSE * time_scale
        self._collections_after = float("-inf")  # no pass before this time (after a pass that failed)

    @property
    def breakers(self) -> dict:
        """The circuit breakers by service (``plex``, ``stash``)."""
        return self.outages.breakers

    def blocked_until(self) -> Optional[float]:
        """When the next probe of an open breaker is due, or None if calls may be made now."""
        return self.outages.blocked_until()

    def promote_due(self) -> int:
        """Move retries whose time has come back into the queue; returns how many."""
        due = self.retries.due()
        for deferred in due:
            self.queue.put(deferred.job)
            self.retries.remove(deferred.job, deferred.due_at)
        return len(due)

    def handle(self, claim: Claim) -> Result:
        """Process one claimed job and acknowledge it; never raises for a job's own failure."""
        job = claim.job
        try:
            result = self._route(job)
        finally:
            self.queue.ack(claim)
        return result

    def process(self, job: Job) -> Result:
        """Route one job that is not in the queue (a foreground sync of one scene from Stash's UI)."""
        return self._route(job)

    def _route(self, job: Job) -> Result:
        if job.event.startswith("fanout_"):
            return self._fan_out(job)
        if job.event.startswith("collection_"):
            return self._collection(job)
        if job.event.startswith("reconcile_"):
            return self._reconcile(job)
        if job.event == "pull":
            return self._pull(job)
        if self.syncer.covered(job):
            return Result("covered", job.scene_id, "already synced from a newer Stash state")
        if self.blocked_until() is not None:
            return self._hold(job, "Plex or Stash is unreachable (circuit breaker open)")
        try:
            outcome = self.syncer.sync(job)
        except TransientError as exc:
            return replace(self._transient(job, exc), error=type(exc).__name__)
        except (AuthError, ConfigError) as exc:
            return replace(self._refused(job, exc), error=type(exc).__name__)
        except MissingInPlex as exc:
            self._succeeded()
            return self._missing(job, exc)
        except NotFoundYet as exc:
            self._succeeded()
            return replace(self._retry(job, "not_found", str(exc), exc.scene_title), error=type(exc).__name__)
        except PermanentError as exc:
            self._succeeded()
            return replace(self._bury(job, "permanent", str(exc), exc.scene_title), error=type(exc).__name__)
        except Exception as exc:  # loop boundary: a bug must not stop the worker or lose the job
            log.debug("scene %s: %s", job.scene_id, "".join(traceback.format_exception(exc)))
            return replace(self._bury(job, "bug", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-4000:]}"),
                           error=type(exc).__name__)
        self._succeeded()
        return self._done(outcome)

    def collections_due(self) -> bool:
        """True when collections wait for a pass and one may run now."""
        if self.syncer.extras is None or self.blocked_until() is not None or self.clock() < self._collections_after:
            return False
        return self.syncer.extras.collections.pending() > 0

    def settle_collections(self) -> Optional[dict]:
        """Run the collection pass if one is due; a Plex or Stash failure leaves the rest for later
        (the breaker opens if the service is down, else the pass waits ``collections_pause``)."""
        if not self.collections_due():
            return None
        try:
            return self.syncer.extras.collections.run()
        except TransientError as exc:
            held = self.outages.confirm(exc, in_hand=0)
            log.warning("collections: %s; %s", exc, "held until it is back" if held else "tried again later")
        except (AuthError, ConfigError) as exc:
            self.outages.trip(service_of(exc), exc)
        except PermanentError as exc:  # e.g. Stash rejected the query: said, and tried again later
            log.error("collections: not updated: %s", exc)
        self._collections_after = self.clock() + self.collections_pause
        return None

    def _reconcile(self, job: Job) -> Result:
        """A scheduled reconcile, run by whoever drains (``scheduled_reconcile`` is wired by the worker)."""
        if self.scheduled_reconcile is None:
            return Result("skipped", 0, "no reconcile runner in this process")
        try:
            report = self.scheduled_reconcile(job.event[len("reconcile_"):])
        except TransientError as exc:
            return self._transient(job, exc)
        except (AuthError, ConfigError) as exc:
            return self._refused(job, exc)
        return Result("reconciled", 0, f"{report.get('queued', 0)} scenes queued")

    def _pull(self, job: Job) -> Result:
        """A scheduled pull, run by whoever drains (``scheduled_pull`` is wired by the worker). Unreachable: retried;
        refused: held as a configuration outage; an old Stash or a pull already running: one line, done."""
        if self.scheduled_pull is None:
            return Result("skipped", 0, "no pull runner in this process")
        try:
            report = self.scheduled_pull()
        except TransientError as exc:
            return self._transient(job, exc)
        except (AuthError, ConfigError) as exc:
            return self._refused(job, exc)
        except (PermanentError, Busy) as exc:
            log.warning("scheduled pull: %s", exc)
            return Result("skipped", 0, str(exc))
        return Result("pulled", 0, f"{report.get('scenes_changed', 0)} scenes changed")

    def _missing(self, job: Job, exc: MissingInPlex) -> Result:
        """``missing_in_plex: ignore``: recorded (said once), not retried, not dead-lettered."""
        missing = self.syncer.extras.missing if self.syncer.extras else None
        if missing is not None and missing.record(job.scene_id, "", str(exc)):
            log.info("scene %s%s: %s; recorded, not retried (missing_in_plex: ignore)", job.scene_id,
                     _quoted(exc.scene_title), exc)
        return Result("missing", job.scene_id, str(exc), "not_found", type(exc).__name__)

    def _collection(self, job: Job) -> Result:
        """A group's or studio's cover or description changed: its collections wait for the next pass."""
        if self.syncer.extras is None:
            return Result("skipped", job.scene_id, "no collections in this process")
        marked = self.syncer.extras.collections.touch(job.event[len("collection_"):], job.scene_id)
        return Result("marked", job.scene_id, f"{marked} collections")

    def _fan_out(self, job: Job) -> Result:
        """Queue one job per scene that uses a renamed, merged or deleted performer, studio or tag."""
        try:
            scene_ids = self.syncer.expand(job)
        except TransientError as exc:
            return self._transient(job, exc)
        except AuthError as exc:
            return self._refused(job, exc)
        except PermanentError as exc:
            return self._bury(job, "permanent", str(exc))
        self.queue.put_many([Job(scene_id, "sync", self.clock(), source=job.event) for scene_id in scene_ids])
        log.info("%s %s changed: %s scenes queued", job.event[7:], job.scene_id, len(scene_ids))
        return Result("expanded", job.scene_id, f"{len(scene_ids)} scenes")

    def _done(self, outcome: Outcome) -> Result:
        level = logging.INFO if outcome.kind in ("synced", "forgotten", "gone") else logging.DEBUG
        log.log(level, "%s", outcome.line())
        return Result(outcome.kind, outcome.scene_id, outcome.detail)

    def _succeeded(self) -> None:
        for service in self.outages.breakers:
            self.outages.succeeded(service)

    def _transient(self, job: Job, exc: TransientError) -> Result:
        if self.outages.confirm(exc):
            return self._hold(job, str(exc))
        return self._retry(job, "transient", str(exc), exc.scene_title)

    def _refused(self, job: Job, exc: Exception) -> Result:
        """A configuration outage (401/403, a setting Plex contradicts): held until the setting is fixed."""
        self.outages.trip(service_of(exc), exc, in_hand=1)
        return self._hold(job, str(exc))

    def _hold(self, job: Job, reason: str) -> Result:
        self.retries.hold(job, reason)
        log.debug("scene %s: held until the outage ends (%s)", job.scene_id, reason)
        return Result("held", job.scene_id, reason, "transient")

    def _retry(self, job: Job, error_class: str, message: str, title: str = "") -> Result:
        job = job.attempted(error_class)
        attempts = job.not_found_attempts if error_class == "not_found" else job.transient_attempts
        policy = self.policies[error_class]
        if policy.exhausted(attempts):
            return self._bury(job, error_class, f"{message} (gave up after {attempts} tries)", title)
        delay = policy.delay(attempts, self.rand)
        self.retries.defer(job, self.clock() + delay, error_class, message)
        log.debug("scene %s%s: %s; retry %s/%s in %.0f s", job.scene_id, _quoted(title), message, attempts,
                  policy.max_tries, delay)
        return Result("retry", job.scene_id, message, error_class)

    def _bury(self, job: Job, error_class: str, message: str, title: str = "") -> Result:
        self.letters.bury(job, error_class, message)
        first_line = message.splitlines()[0] if message else error_class
        log.error("scene %s%s: not synced (%s): %s", job.scene_id, _quoted(title), error_class.replace("_", " "), first_line)
        return Result("dead", job.scene_id, first_line, error_class)


def _quoted(title: str) -> str:
    return f' "{title}"' if title else ""

