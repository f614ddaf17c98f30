"""The Shaping a process uses for every scene: tag routes and performer photos, read from Stash and kept.

Built at first use: the tag hierarchy only when ``exclude_tags`` or ``label_tags`` is set (one paged
``findTags``), Stash's authentication only when ``sync_performer_photos`` is on. Kept for
``ttl`` seconds, and dropped at once when a tag changes (``invalidate``, on a tag fan-out), so a
long-lived worker follows the hierarchy. A bulk run decides which scenes changed with the Shaping it
started with.
"""

import logging
import threading
import time
from typing import Callable, Optional

from plexsync.metadata import Shaping
from plexsync.photos import photo_maker
from plexsync.stash import StashClient
from plexsync.state import StateDB
from plexsync.tagroutes import TagRoutes, build_routes

log = logging.getLogger(__name__)
MISSING_SAID_KEY = "tag_routes_missing_said"


class Shaper:
    """Makes and caches the Shaping for one set of settings."""

    def __init__(self, settings, stash: StashClient, db: StateDB, clock: Callable[[], float] = time.monotonic,
                 ttl: float = 300.0) -> None:
        self.settings, self.stash, self.db, self.clock, self.ttl = settings, stash, db, clock, ttl
        self._current: Optional[Shaping] = None
        self._made_at = 0.0
        self._lock = threading.Lock()

    def current(self) -> Shaping:
        """The Shaping to use now (built, or rebuilt once ``ttl`` has passed)."""
        with self._lock:
            if self._current is None or self.clock() - self._made_at > self.ttl:
                self._current = Shaping(self._routes(), photo_maker(self.settings, self.stash, self.db))
                self._made_at = self.clock()
            return self._current

    def invalidate(self) -> None:
        """Build again at next use (a tag was renamed or moved in the hierarchy)."""
        with self._lock:
            self._current = None

    def _routes(self) -> TagRoutes:
        excluded, labels = self.settings.excluded_tags, self.settings.label_parents
        if not excluded and not labels:
            return TagRoutes()
        routes = build_routes(self.stash.tag_tree(), excluded, labels)
        said = tuple(self.db.get(MISSING_SAID_KEY) or ())
        if routes.missing and routes.missing != said:
            log.warning("tag routing: Stash has no tag named %s (exclude_tags, label_tags)",
                        ", ".join(f'"{name}"' for name in routes.missing))
        self.db.put(MISSING_SAID_KEY, list(routes.missing))
        return routes
