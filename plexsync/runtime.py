"""Building the working parts from Stash's connection: settings, clients, index, syncer, delivery.

Used by the background worker and by the tasks that talk to Stash and Plex. Settings are read from
Stash once per process (``configuration.plugins``); the Plex client identifier is persisted so Plex
shows one named device.
"""

import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from plexsync import stashlog
from plexsync.breaker import CircuitBreaker
from plexsync.deadletters import DeadLetters
from plexsync.delivery import Delivery
from plexsync.hook import LOG_SETTINGS_KEY
from plexsync.jobs import JobQueue
from plexsync.library import LibraryIndex
from plexsync.matcher import Matcher
from plexsync.paths import PathMapper
from plexsync.plex import PlexClient
from plexsync.protocol import ServerConnection
from plexsync.records import SyncRecords
from plexsync.retries import RetrySchedule
from plexsync.scene_state import PLEX_SERVER_KEY
from plexsync.schedule import SCHEDULE_KEY
from plexsync.settings import Settings, load_settings
from plexsync.stash import StashClient
from plexsync.sync import Syncer
from plexsync.state import StateDB

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a drain needs, wired together."""

    settings: Settings
    db: StateDB
    queue: JobQueue
    stash: StashClient
    plex: PlexClient
    delivery: Delivery
    index: Optional[LibraryIndex] = None

    def close(self) -> None:
        """Release files."""
        self.queue.close()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def client_id(db: StateDB) -> str:
    """The persisted ``X-Plex-Client-Identifier`` (created once)."""
    value = db.get("plex_client_id")
    if not value:
        value = f"plexsync-{uuid.uuid4()}"
        db.put("plex_client_id", value)
    return value


def remember_plex(db: StateDB, url: str, plex: PlexClient) -> None:
    """Cache Plex's URL and machine id, so a scene's Plex tab can link to Plex Web without asking Plex."""
    value = {"url": url, "machine_id": plex.machine_id()}
    if db.get(PLEX_SERVER_KEY) != value:
        db.put(PLEX_SERVER_KEY, value)


def read_settings(stash: StashClient, db: StateDB) -> Settings:
    """Settings from Stash; remembers the debug flag so hooks (which never call Stash) can honour it."""
    settings = load_settings(stash.plugin_settings())
    stashlog.set_debug(settings.debug_logging)
    stashlog.PATHS.enabled = settings.obfuscate_paths
    db.put(SCHEDULE_KEY, {"reconcile_interval": settings.reconcile_interval})
    db.put(LOG_SETTINGS_KEY, {"debug_logging": settings.debug_logging, "obfuscate_paths": settings.obfuscate_paths})
    return settings


def time_scale(env=os.environ) -> float:
    """``PLEXSYNC_TIME_SCALE`` (0 < scale <= 1) shrinks backoff and breaker delays; for tests and drills."""
    try:
        value = float(env.get("PLEXSYNC_TIME_SCALE", "1"))
    except ValueError:
        return 1.0
    return value if 0 < value <= 1 else 1.0


def build(connection: ServerConnection, data_dir: Path, db: StateDB, resume: bool = False,
          clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> Runtime:
    """Wire up a runtime; ConfigError when the settings cannot work."""
    stash = StashClient(connection, sleep=sleep)
    stash.use_api_key()
    settings = read_settings(stash, db)
    settings.require_plex()
    plex = PlexClient(settings.plex_url, settings.token, client_id(db), settings.connect_timeout,
                      settings.read_timeout, sleep=sleep)
    sections = plex.sections(settings.libraries)
    remember_plex(db, settings.plex_url, plex)
    index = LibraryIndex(db, plex, sections, clock)
    records = SyncRecords(db, clock)
    syncer = Syncer(stash, plex, Matcher(index, PathMapper(settings.path_rules), settings.strict_matching),
                    records, settings, sections, clock)
    queue = JobQueue(data_dir, resume=resume)
    scale = time_scale()
    breakers = {name: CircuitBreaker(db, name, reset_after=60.0 * scale, clock=clock) for name in ("plex", "stash")}
    delivery = Delivery(queue, syncer, RetrySchedule(db, clock), DeadLetters(db, clock), breakers,
                        settings.max_retries, clock, time_scale=scale)
    return Runtime(settings, db, queue, stash, plex, delivery, index)
