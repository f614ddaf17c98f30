"""Building the working parts from Stash's connection: settings, clients, index, syncer, delivery.

Used by the background worker and by the tasks that talk to Stash and Plex. Settings are read from
Stash once per process (``configuration.plugins``), and again on every probe while Plex refuses them;
the Plex client identifier is persisted so Plex shows one named device.
"""

import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from plexsync import misconfig, stashlog
from plexsync.breaker import UNREACHABLE, CircuitBreaker
from plexsync.collection_records import CollectionRecords
from plexsync.collection_sync import CollectionSync
from plexsync.deadletters import DeadLetters
from plexsync.delivery import Delivery
from plexsync.errors import AuthError, ConfigError, TransientError
from plexsync.hook import HOOK_SETTINGS_KEY, LOG_SETTINGS_KEY
from plexsync.jobs import JobQueue
from plexsync.library import LibraryIndex, Sections
from plexsync.matcher import Matcher
from plexsync.missing import MissingFiles
from plexsync.outage import Outages
from plexsync.paths import PathMapper
from plexsync.plex import PlexClient
from plexsync.protocol import ServerConnection
from plexsync.records import SyncRecords
from plexsync.retries import RetrySchedule
from plexsync.schedule import SCHEDULE_KEY
from plexsync.settings import Settings, load_settings
from plexsync.shaper import Shaper
from plexsync.stash import StashClient
from plexsync.sync import Extras, Syncer
from plexsync.state import StateDB

log = logging.getLogger(__name__)
RECHECK_REFUSED = 60.0  # seconds between Plex checks while it refuses unchanged settings


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
    outages: Optional[Outages] = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    refusal: Optional[tuple] = None  # (when, error) of Plex's last refusal during a configuration outage

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


def read_settings(stash: StashClient, db: StateDB) -> Settings:
    """Settings from Stash; caches what hooks (which never call Stash) need: the schedules, log flags, sync_rating."""
    settings = load_settings(stash.plugin_settings())
    stashlog.set_debug(settings.debug_logging)
    stashlog.PATHS.enabled = settings.obfuscate_paths
    db.put(SCHEDULE_KEY, {"reconcile_interval": settings.reconcile_interval, "pull_interval": settings.pull_interval})
    db.put(LOG_SETTINGS_KEY, {"debug_logging": settings.debug_logging, "obfuscate_paths": settings.obfuscate_paths})
    db.put(HOOK_SETTINGS_KEY, {"sync_rating": settings.sync_rating, "only_organized": settings.only_organized})
    return settings


def usable_settings(stash: StashClient, db: StateDB) -> Settings:
    """Settings from Stash that can reach Plex (ConfigError otherwise); workers may start again."""
    settings = read_settings(stash, db)
    settings.require_plex()
    misconfig.clear(db)
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
    """Wire up a runtime from Stash's settings; ConfigError when they cannot work.

    Only Stash is asked here: Plex is reached on first use, so a worker starts (and holds its jobs)
    whatever state Plex is in.
    """
    stash = StashClient(connection, sleep=sleep)
    stash.use_api_key()
    settings = usable_settings(stash, db)
    queue = JobQueue(data_dir, resume=resume)
    retries = RetrySchedule(db, clock)
    breakers = {name: CircuitBreaker(db, name, clock=clock) for name in ("plex", "stash")}
    outages = Outages(breakers, retries, lambda: retries.held() + queue.pending(), clock)
    runtime = Runtime(settings, db, queue, stash, None, None, outages=outages, clock=clock, sleep=sleep)
    rewire(runtime, settings)
    outages.probes = {"plex": lambda kind: probe_plex(runtime, kind), "stash": lambda kind: stash.version()}
    outages.succeeded("stash")  # Stash just answered: an outage other processes saw is over
    return runtime


def rewire(runtime: Runtime, settings: Settings) -> None:
    """(Re)build what depends on the settings: the Plex client, library index, syncer and delivery."""
    db, clock = runtime.db, runtime.clock
    plex = PlexClient(settings.plex_url, settings.token, client_id(db), settings.connect_timeout,
                      settings.read_timeout, sleep=runtime.sleep)
    sections = Sections(plex, settings.libraries)
    index = LibraryIndex(db, plex, sections, clock)
    records = SyncRecords(db, clock)
    extras = Extras(CollectionSync(runtime.stash, plex, CollectionRecords(db), records),
                    Shaper(settings, runtime.stash, db), MissingFiles(db, clock))
    syncer = Syncer(runtime.stash, plex, Matcher(index, PathMapper(settings.path_rules), settings.strict_matching),
                    records, settings, sections, clock, extras)
    delivery = Delivery(runtime.queue, syncer, runtime.outages.retries, DeadLetters(db, clock), runtime.outages,
                        settings.max_retries, clock, time_scale=time_scale())
    if runtime.delivery is not None:
        delivery.scheduled_reconcile = runtime.delivery.scheduled_reconcile
        delivery.scheduled_pull = runtime.delivery.scheduled_pull
    runtime.settings, runtime.plex, runtime.index, runtime.delivery = settings, plex, index, delivery


def probe_plex(runtime: Runtime, kind: str) -> None:
    """Is Plex usable again? Unreachable: ``GET /identity``. Refused or misconfigured: re-read the settings
    from Stash (a corrected token or library name resumes the queue by itself), then ask Plex, at once
    when the settings changed, otherwise at most every ``RECHECK_REFUSED`` seconds."""
    if kind == UNREACHABLE:
        runtime.plex.probe()
        return
    settings = usable_settings(runtime.stash, runtime.db)
    if settings != runtime.settings:
        rewire(runtime, settings)
    elif runtime.refusal and runtime.clock() - runtime.refusal[0] < RECHECK_REFUSED:
        raise runtime.refusal[1]
    try:
        runtime.plex.sections(settings.libraries)
    except (AuthError, ConfigError) as exc:
        runtime.refusal = (runtime.clock(), exc)
        raise
    runtime.refusal = None


def plex_outage(runtime: Runtime) -> bool:
    """True if Plex cannot be used now: its breaker is open and a probe now fails too (a task may run
    right after the user fixed a setting), or listing its libraries fails now (which opens the breaker,
    so the drains only queue and the background worker probes)."""
    if "plex" in runtime.outages.open_kinds():
        return not runtime.outages.probe_now("plex")
    try:
        list(runtime.index.sections)
    except (TransientError, AuthError, ConfigError) as exc:
        runtime.outages.trip("plex", exc, announce=False)  # the task says so in its own line
        return True
    return False
