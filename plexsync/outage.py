"""Outages of Plex or Stash: confirm them with a probe, hold the jobs, probe until the service answers.

Reaching a service is never a precondition of running: when a job fails because Plex or Stash is
unreachable (or refuses the credentials), the process draining the queue asks the service's cheapest
question (the *probe*: Plex ``GET /identity``, Stash's ``version``). If that fails too, the service is
down: its circuit breaker opens, the job is held without spending a retry, and the drain waits. The
lease holder probes again on a short capped backoff; the first probe that succeeds closes the breaker
and releases every held job at once. A job-specific failure (the probe succeeds) is retried with the
job's own backoff.

Say it once: one warning when an outage starts (what, since when, how many jobs wait) and one info
line when it ends (how long, how many jobs resume), whichever process sees it. A configuration outage
(401/403, a Plex library that is not there) is an error that names the fix, repeated at most hourly.
"""

import logging
import time
from datetime import datetime
from typing import Callable, Optional

from plexsync.breaker import AUTH, SETTINGS, UNREACHABLE, CircuitBreaker
from plexsync.errors import AuthError, ConfigError, PlexSyncError, TransientError
from plexsync.retries import RetrySchedule

log = logging.getLogger(__name__)
REPEAT_EVERY = 3600.0  # configuration outages: the bad news again at most once an hour
Probe = Callable[[str], None]  # probe(kind) raises a PlexSync error while the service is not usable


def kind_of(exc: Exception) -> str:
    """What sort of outage an error means: unreachable (waiting heals it) or auth/settings (the user must act)."""
    if isinstance(exc, AuthError):
        return AUTH
    if isinstance(exc, ConfigError):
        return SETTINGS
    return UNREACHABLE


def service_of(exc: Exception) -> str:
    """Whose breaker an error concerns (configuration errors raised by Plex calls concern Plex)."""
    return getattr(exc, "service", "plex")


def duration(seconds: float) -> str:
    """``42 s``, ``10 min 3 s``, ``2 h 5 min``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _clock_time(timestamp: Optional[float]) -> str:
    return datetime.fromtimestamp(timestamp or 0).strftime("%H:%M:%S")


class Outages:
    """The breakers of Plex and Stash, their probes, and the one line each outage gets."""

    def __init__(self, breakers: dict, retries: RetrySchedule, waiting: Callable[[], int],
                 clock: Callable[[], float] = time.time) -> None:
        self.breakers, self.retries, self.waiting, self.clock = breakers, retries, waiting, clock
        self.probes: dict = {}  # service -> Probe, wired by the runtime

    def blocked_until(self) -> Optional[float]:
        """When the next probe is due if a breaker is open, else None (calls may be made now)."""
        times = [s.retry_at or self.clock() for s in (b.snapshot() for b in self.breakers.values()) if s.is_open]
        return min(times) if times else None

    def open_kinds(self) -> dict:
        """service -> outage kind, for every open breaker."""
        snapshots = {name: breaker.snapshot() for name, breaker in self.breakers.items()}
        return {name: s.kind for name, s in snapshots.items() if s.is_open}

    def confirm(self, exc: TransientError, in_hand: int = 1) -> bool:
        """A job failed transiently: is its service down? Probe now; True if the job must be held.

        ``in_hand``: jobs the caller is about to hold, counted in what the announcement says.
        """
        service = service_of(exc)
        try:
            self._probe(service, UNREACHABLE)
        except PlexSyncError as probe_error:
            self.trip(service, exc if isinstance(probe_error, TransientError) else probe_error, in_hand)
            return True
        breaker = self.breakers.get(service)
        if breaker is not None and breaker.record_failure(str(exc)):
            self._announce_start(service, breaker, in_hand)
            return True
        return False

    def trip(self, service: str, exc: Exception, in_hand: int = 0, announce: bool = True) -> None:
        """Open ``service``'s breaker for ``exc``; says so once (configuration errors: at most hourly).

        ``announce=False``: the caller says it in its own words (a task's one line about the outage).
        """
        breaker = self.breakers[service]
        kind = kind_of(exc)
        if breaker.trip(str(exc), kind) and announce:
            self._announce_start(service, breaker, in_hand)
        elif kind != UNREACHABLE and breaker.repeat_due(REPEAT_EVERY):
            self._announce_config(service, breaker, in_hand)

    def probe_due(self) -> bool:
        """Probe each open breaker whose probe time has come; True if an outage ended."""
        ended = False
        for service, breaker in self.breakers.items():
            state = breaker.snapshot()
            if state.is_open and (state.retry_at or 0) <= self.clock():
                ended = self.probe_now(service) or ended
        return ended

    def probe_now(self, service: str) -> bool:
        """Probe ``service`` at once (a task that just read the settings need not wait for the schedule);
        True if it answers, which ends its outage."""
        breaker = self.breakers[service]
        try:
            self._probe(service, breaker.snapshot().kind)
        except PlexSyncError as exc:
            self._probe_failed(service, breaker, exc)
            return False
        self.succeeded(service)
        return True

    def _probe(self, service: str, kind: str) -> None:
        probe = self.probes.get(service)
        if probe is not None:
            probe(kind)

    def _probe_failed(self, service: str, breaker: CircuitBreaker, exc: PlexSyncError) -> None:
        was = breaker.snapshot().kind
        kind = UNREACHABLE if isinstance(exc, TransientError) else kind_of(exc)
        now = breaker.probe_failed(str(exc), kind)
        if kind != UNREACHABLE and (kind != was or breaker.repeat_due(REPEAT_EVERY)):
            self._announce_config(service, breaker)
        log.debug("%s probe %s failed: %s; next in %.0f s", service, now.probes, exc, (now.retry_at or 0) - self.clock())

    def succeeded(self, service: str) -> bool:
        """``service`` answered: close its breaker; when no outage remains, release the held jobs."""
        breaker = self.breakers.get(service)
        if breaker is None or not breaker.record_success():
            return False
        released = 0 if self.open_kinds() else self.retries.release_held()
        outage = breaker.last_outage() or {}
        log.info("%s answers again after %s down (since %s); %s held jobs resume", service.capitalize(),
                 duration(outage.get("duration_s") or 0), _clock_time(outage.get("started_at")),
                 released + self.waiting())
        return True

    def _announce_start(self, service: str, breaker: CircuitBreaker, in_hand: int = 0) -> None:
        state = breaker.snapshot()
        if state.kind != UNREACHABLE:
            self._announce_config(service, breaker, in_hand)
            return
        log.warning("%s unreachable since %s (%s): %s jobs held; they sync as soon as it answers again",
                    service.capitalize(), _clock_time(state.opened_at), state.last_error, self.waiting() + in_hand)

    def _announce_config(self, service: str, breaker: CircuitBreaker, in_hand: int = 0) -> None:
        breaker.repeat_due(0)  # remember when it was said: repeated at most hourly from now on
        state = breaker.snapshot()
        log.error("%s; %s jobs are held, and sync by themselves once the setting is fixed (PlexSync re-reads its "
                  "settings every few seconds)", state.last_error, self.waiting() + in_hand)
