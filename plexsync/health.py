"""``health``: each link from Stash to Plex checked on its own, reported as OK/FAIL with the fix in words."""

import logging
from dataclasses import asdict, dataclass
from typing import Callable, Optional

from plexsync.errors import AuthError, ConfigError, ItemMissing, PlexSyncError, PlexUnavailable
from plexsync.identity import IDENTIFIER
from plexsync.matcher import scene_files
from plexsync.paths import PathMapper, within
from plexsync.plex import PlexClient
from plexsync.protocol import ServerConnection
from plexsync.runtime import client_id, read_settings
from plexsync.settings import Settings
from plexsync.stash import StashClient
from plexsync.state import StateDB

log = logging.getLogger(__name__)
SAMPLE_PAGES = 5
CHECKS = 7


@dataclass(frozen=True)
class Check:
    """One check's verdict."""

    name: str
    ok: bool
    detail: str


class Health:
    """Runs the checks in order; a failed link skips the checks that depend on it."""

    def __init__(self, connection: ServerConnection, db: StateDB, progress: Callable[[float], None]) -> None:
        self.connection, self.db, self.progress = connection, db, progress
        self.checks: list = []
        self.provider: dict = {}

    def _check(self, name: str, probe: Callable[[], str], advice: Callable[[Exception], str]) -> bool:
        try:
            self.checks.append(Check(name, True, probe()))
        except PlexSyncError as exc:
            self.checks.append(Check(name, False, advice(exc)))
        self.progress(len(self.checks) / CHECKS)
        return self.checks[-1].ok

    def run(self) -> dict:
        """All checks; ``ok`` only if every one passed."""
        stash = StashClient(self.connection, attempts=1)
        if self._check("stash", lambda: f"Stash {stash.version()} at {stash.url}", self._stash_advice):
            stash.use_api_key()
            settings = self._settings(stash)
            if settings is not None:
                self._plex_checks(stash, settings)
        for check in self.checks:
            log.log(logging.INFO if check.ok else logging.ERROR, "%s %s: %s", "OK  " if check.ok else "FAIL", check.name, check.detail)
        return {"ok": all(c.ok for c in self.checks) and len(self.checks) == CHECKS, "checks": [asdict(c) for c in self.checks],
                "provider": self.provider}

    def _stash_advice(self, exc: Exception) -> str:
        return f"Stash GraphQL not usable at {self.connection.base_url}: {exc}"

    def _settings(self, stash: StashClient) -> Optional[Settings]:
        holder = []

        def probe() -> str:
            settings = read_settings(stash, self.db)
            settings.require_plex()
            holder.append(settings)
            return settings.describe()
        self._check("settings", probe, lambda exc: f"{exc}")
        return holder[0] if holder else None

    def _plex_checks(self, stash: StashClient, settings: Settings) -> None:
        plex = PlexClient(settings.plex_url, settings.token, client_id(self.db), settings.connect_timeout,
                          settings.read_timeout, attempts=1)
        if not self._check("plex_url", lambda: self._identity(plex), lambda exc: self._reach_advice(settings, exc)):
            return
        if not self._check("plex_token", lambda: f"{len(plex.sections([]))} movie libraries readable", self._auth_advice):
            return
        sections = []
        if self._check("plex_libraries", lambda: self._libraries(plex, settings, sections), lambda exc: f"{exc}"):
            self._check("path_map", lambda: self._mapping(stash, settings, sections), lambda exc: f"{exc}")
        self._check("provider", lambda: self._provider(plex), lambda exc: f"could not ask Plex about metadata providers: {exc}")

    def _provider(self, plex: PlexClient) -> str:
        """Whether Plex has PlexSync's metadata provider and which libraries use it (optional: never a failure)."""
        try:
            registered = IDENTIFIER in plex.providers()
        except ItemMissing:
            self.provider = {"registered": False, "libraries": []}
            return "this Plex has no custom metadata providers (Plex Media Server before 1.43): push only"
        using = [s.title for s in plex.sections([]) if s.agent == IDENTIFIER]
        self.provider = {"registered": registered, "libraries": using}
        if not registered:
            return "PlexSync's metadata provider is not registered in Plex (optional; see the README)"
        return f"PlexSync's metadata provider is registered; libraries using it: {', '.join(using) or 'none yet'}"

    @staticmethod
    def _identity(plex: PlexClient) -> str:
        identity = plex.identity()
        return f"Plex {identity.get('version', '?')} answers at {plex.url}"

    @staticmethod
    def _reach_advice(settings: Settings, exc: Exception) -> str:
        if isinstance(exc, PlexUnavailable):
            return (f"plex_url unreachable: {exc} at {settings.plex_url}: is Plex running and reachable from "
                    "Stash's machine or container (not 'localhost' inside Docker)?")
        return f"plex_url: {exc}"

    @staticmethod
    def _auth_advice(exc: Exception) -> str:
        if isinstance(exc, AuthError):
            return f"plex_token rejected: {exc}. Copy a current X-Plex-Token into the plugin settings"
        return f"plex_token: {exc}"

    @staticmethod
    def _libraries(plex: PlexClient, settings: Settings, found: list) -> str:
        found.extend(plex.sections(settings.libraries))
        return ", ".join(f"{s.title} ({'; '.join(s.locations)})" for s in found) or "no movie libraries"

    @staticmethod
    def _mapping(stash: StashClient, settings: Settings, sections: list) -> str:
        mapper, folders = PathMapper(settings.path_rules), [loc for s in sections for loc in s.locations]
        files = inside = 0
        for page, _, scenes in stash.all_scenes(per_page=200):
            for path, _ in (f for scene in scenes for f in scene_files(scene)):
                files += 1
                inside += within(mapper.to_plex(path), folders)
            if page >= SAMPLE_PAGES:
                break
        if files and not inside:
            raise ConfigError(f"none of {files} Stash file paths maps into a Plex library folder ({'; '.join(folders)}): set path_map")
        return f"{inside} of {files} sampled Stash file paths map into a Plex library folder"
