"""Whether Stash answers, so the provider never makes Plex wait on a Stash that is down.

After a failure, calls fail at once for ``cooldown`` seconds; the first call after that probes Stash
again, and its success closes the gate by itself. Plex gives a provider about 90 s; with the gate,
matches answer an empty list and metadata requests a 503 within the request timeout, and at once
while the gate is shut. Each change of state is one log line.
"""

import logging
import threading
import time
from typing import Callable

from plexsync.errors import AuthError, StashUnavailable, TransientError

log = logging.getLogger(__name__)


class StashGate:
    """Runs Stash calls, remembering whether the last one failed."""

    def __init__(self, cooldown: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown, self.clock = cooldown, clock
        self._lock = threading.Lock()
        self._shut_until = 0.0
        self.last_error = ""
        self.answered = False  # has Stash ever answered?

    @property
    def up(self) -> bool:
        """False while the gate is shut after a failure."""
        return not self.last_error

    def call(self, function: Callable, *args):
        """Run one Stash call; StashUnavailable at once while shut; a failure shuts the gate."""
        with self._lock:
            if self.last_error and self.clock() < self._shut_until:
                raise StashUnavailable(self.last_error)
        try:
            result = function(*args)
        except (TransientError, AuthError) as exc:
            self._fail(exc)
            raise
        self._succeed()
        return result

    def _fail(self, exc: Exception) -> None:
        with self._lock:
            was_up, self.last_error = self.up, str(exc)
            self._shut_until = self.clock() + self.cooldown
        if was_up:
            log.warning("Stash unavailable (%s): matches answer no match and metadata 503 until it answers again", exc)

    def _succeed(self) -> None:
        with self._lock:
            was_down, self.last_error, self.answered = not self.up, "", True
        if was_down:
            log.info("Stash answers again")
