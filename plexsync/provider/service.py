"""The provider's work, free of HTTP: match a file, serve a scene's metadata, an image, the health.

Wiring: the Stash client (shared with the plugin), the plugin settings read from Stash (``path_map``,
``tags_as``, the ``sync_*`` switches; re-read every 5 minutes), the file index, the scene cache (which
reads ahead in the index's path order) and the gate that tracks whether Stash answers. Errors are
classified here once: Stash trouble makes a match answer no match and a metadata request raise for a
503; nothing else reaches the routes.
"""

import asyncio
import logging
import threading
import time
from typing import Callable, Optional

from plexsync import stashlog
from plexsync.errors import AuthError, ConfigError, InvalidData, TransientError
from plexsync.metadata import Shaping, skip_reason
from plexsync.paths import PathMapper
from plexsync.provider import documents
from plexsync.provider.config import ProviderConfig
from plexsync.provider.gate import StashGate
from plexsync.provider.images import KINDS, ImageLinks, content_type
from plexsync.provider.index import StashFileIndex
from plexsync.provider.matching import FileMatcher, MatchRequest
from plexsync.provider.scenes import SceneCache
from plexsync.settings import Settings, load_settings
from plexsync.stash import StashClient
from plexsync.tagroutes import TagRoutes, build_routes

log = logging.getLogger(__name__)
REQUEST_TIMEOUT = 2.0   # one Stash request on Plex's clock: a match or metadata answers within 3 s
SCENE_WAIT = REQUEST_TIMEOUT + 0.5
BUILD_TIMEOUT = 15.0    # one page of the index build (1,000 scenes)
MISS_GRACE = 1.0        # a refresh begun at most this long before a missing file's request counts as fresh
MAX_AGE = 60.0          # a known file still refreshes the index this often (in the background of a request)
SETTINGS_AGE = 300.0
StashTrouble = (TransientError, AuthError, ConfigError)


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


def fetch_scenes(stash: StashClient, scene_ids: list) -> dict:
    """Scene id -> scene document, in one request; InvalidData when Stash has no scene for one of the ids
    (``findScenes(ids:)`` fails as a whole then, stash-plugin-protocol.md §5.3)."""
    return stash.find_scenes(scene_ids)


class Unavailable(Exception):
    """Stash cannot be asked now (the route answers 503 with this message)."""


class Provider:
    """Everything the routes call."""

    def __init__(self, config: ProviderConfig, stash: Optional[StashClient] = None, bulk: Optional[StashClient] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self.clock = config, clock
        self.stash = stash or StashClient.for_url(config.stash_url, config.api_key, timeout=REQUEST_TIMEOUT)
        bulk = bulk or StashClient.for_url(config.stash_url, config.api_key, timeout=BUILD_TIMEOUT)
        self.gate = StashGate(clock=clock)
        self.index = StashFileIndex(self.stash, bulk, clock)
        self.cache = SceneCache(lambda scene_id: self.gate.call(self.stash.find_scene, scene_id),
                                lambda scene_ids: self.gate.call(fetch_scenes, self.stash, scene_ids),
                                self.index, clock=clock)
        self.links = ImageLinks(config.public_url, config.signing_key) if config.public_url else None
        self._settings: Optional[Settings] = None
        self._shaping = Shaping()
        self._settings_at = float("-inf")
        self._matcher: Optional[FileMatcher] = None
        self._warned_adult = False
        self._reloading = threading.Lock()

    # ------------------------------------------------------------------ readiness

    def load_settings(self) -> Settings:
        """Read PlexSync's settings from Stash (``PLEXSYNC_PATH_MAP`` overrides ``path_map``)."""
        stored = dict(self.gate.call(self.stash.plugin_settings))
        if self.config.path_map is not None:
            stored["path_map"] = self.config.path_map
        settings = load_settings(stored, env={})
        stashlog.PATHS.enabled = settings.obfuscate_paths
        self._matcher = FileMatcher(self.index, PathMapper(settings.path_rules))
        self._shaping = Shaping(self._routes(settings))
        self._settings, self._settings_at = settings, self.clock()
        return settings

    def _routes(self, settings: Settings) -> TagRoutes:
        """``exclude_tags``/``label_tags`` over Stash's tag hierarchy, read with the settings."""
        if not settings.excluded_tags and not settings.label_parents:
            return TagRoutes()
        return build_routes(self.gate.call(self.stash.tag_tree), settings.excluded_tags, settings.label_parents)

    def settings(self) -> Settings:
        """The plugin settings; read from Stash the first time, re-read in the background when older than
        5 minutes (the last good ones stay if that fails), so only the very first call ever waits."""
        if self._settings is None:
            return self.load_settings()
        if self.clock() - self._settings_at > SETTINGS_AGE and self._reloading.acquire(blocking=False):
            self._settings_at = self.clock()
            threading.Thread(target=self._reload_settings, name="settings-reload", daemon=True).start()
        return self._settings

    def _reload_settings(self) -> None:
        try:
            self.load_settings()
        except StashTrouble as exc:
            log.warning("could not re-read PlexSync's settings from Stash (%s); keeping the last ones", exc)
        finally:
            self._reloading.release()

    @property
    def configured(self) -> bool:
        """True once the settings were read (afterwards no request waits for them)."""
        return self._settings is not None

    def warm_up(self) -> None:
        """Read the settings and build the index (run once in the background at start)."""
        try:
            self.settings()
            self.gate.call(self.index.refresh)
        except StashTrouble as exc:
            log.warning("not ready yet: %s; retrying on the next request", exc)

    def start(self) -> threading.Thread:
        """Warm up on a background thread, so the service answers /health at once."""
        thread = threading.Thread(target=self.warm_up, name="provider-warm-up", daemon=True)
        thread.start()
        return thread

    # ------------------------------------------------------------------ match

    def match(self, request: MatchRequest) -> list:
        """Plex's match: at most one certain scene (automatic) or up to 20 ranked ones (manual)."""
        if request.type != 1:
            return []
        if request.includeAdult == 0 and self.config.adult:
            self._warn_adult()
            return []
        try:
            settings = self.settings()
            found = self._candidates(request)
        except StashTrouble as exc:
            log.warning("match %s: no answer from Stash (%s): answered no match", self._shown(request), exc)
            return []
        return self._answer(request, found, settings)

    def quick_match(self, request: MatchRequest) -> Optional[list]:
        """The answer to an automatic match when it needs no Stash request (the index is fresh and knows the
        file), else None; cheap enough for the event loop, so most of a scan's matches skip a thread hop."""
        if request.manual or request.type != 1 or not self.configured or not self.gate.up:
            return None
        if not self.index.ready or self.index.age() > MAX_AGE or (request.includeAdult == 0 and self.config.adult):
            return None
        found = self._matcher.automatic(request)
        return self._answer(request, [found], self.settings()) if found else None

    def _answer(self, request: MatchRequest, found: list, settings: Settings) -> list:
        self._log_match(request, found, settings)
        if found and not request.manual:
            self.cache.prefetch(found[0].scene.id)
        return [documents.match_item(candidate, settings) for candidate in found]

    def _candidates(self, request: MatchRequest) -> list:
        """Look the file up; a miss refreshes the index first, unless a refresh began less than a second
        before this request arrived (misses during a scan share refreshes: at most about one a second)."""
        arrived = self.clock() - MISS_GRACE
        if not self.gate.up and self.gate.answered:
            self.gate.call(self.stash.version)  # shut: raises at once; after the cooldown this probes
        if not self.index.ready:
            self.gate.call(self.index.refresh)
        elif self.index.age() > MAX_AGE:
            self.gate.call(self.index.refresh, MAX_AGE, False)
        if request.manual:
            self.gate.call(self.index.refresh, 0.0, True, arrived)
            return self._matcher.manual(request)
        found = self._matcher.automatic(request)
        if found is None and self.gate.call(self.index.refresh, 0.0, True, arrived):
            found = self._matcher.automatic(request)
        return [found] if found else []

    def _warn_adult(self) -> None:
        if not self._warned_adult:
            self._warned_adult = True
            log.warning("Plex asked for no adult content (includeAdult=0) and PLEXSYNC_CONTENT_RATING marks Stash's "
                        "scenes adult: answering no match; set PLEXSYNC_CONTENT_RATING= (empty) if they are not")

    @staticmethod
    def _shown(request: MatchRequest) -> str:
        return f'"{stashlog.PATHS.shown(request.filename or "")}"' if request.filename else f'title "{request.title or ""}"'

    def _log_match(self, request: MatchRequest, found: list, settings: Settings) -> None:
        if request.manual:
            log.info("Fix Match %s (%s): %s candidates", self._shown(request), request.title or "", len(found))
        elif found:
            best = found[0]
            log.info('match %s -> scene %s "%s" (score %s, %s)', self._shown(request), best.scene.id,
                     documents.summary_title(best.scene, settings), best.score, best.reason)
        else:
            log.info("match %s: no certain match (unknown to Stash, or several scenes fit)", self._shown(request))

    # ------------------------------------------------------------------ metadata and images

    def metadata(self, scene_id: int) -> Optional[dict]:
        """The scene's Metadata object, None if Stash has no such scene; Unavailable if Stash cannot say."""
        try:
            self.settings()
            scene = self.cache.get(scene_id, SCENE_WAIT)
        except StashTrouble as exc:
            raise Unavailable(f"Stash unavailable: {exc}") from None
        return None if scene is None else self.render(scene)

    async def metadata_async(self, scene_id: int) -> Optional[dict]:
        """``metadata`` for the event loop: a cached scene is rendered at once (most of a scan: read ahead);
        one on its way is awaited without holding a thread; needs the settings read (``configured``)."""
        source = self.cache.future(scene_id)
        try:
            scene = source.result() if source.done() else await self._await_scene(source, scene_id)
        except StashTrouble as exc:
            raise Unavailable(f"Stash unavailable: {exc}") from None
        return None if scene is None else self.render(scene)

    @staticmethod
    async def _await_scene(source, scene_id: int) -> Optional[dict]:
        """The scene from a fetch under way; Unavailable after SCENE_WAIT seconds."""
        future = asyncio.wrap_future(source)
        future.add_done_callback(_retrieve)  # after a timeout nobody awaits it: no "never retrieved" log
        try:
            return await asyncio.wait_for(asyncio.shield(future), SCENE_WAIT)
        except asyncio.TimeoutError:
            raise Unavailable(f"Stash did not answer for scene {scene_id} within {SCENE_WAIT:.1f} s") from None

    def render(self, scene: dict) -> Optional[dict]:
        """The Metadata object of a fetched scene; None (404: Plex keeps what it has) for a scene the
        settings keep out of Plex (``only_organized``, ``skip_scene_tags``)."""
        settings = self.settings()
        excluded = skip_reason(scene, settings)
        if excluded:
            log.info("metadata for scene %s not served: %s", scene.get("id"), excluded)
            return None
        log.debug("metadata for scene %s served", scene.get("id"))
        return documents.metadata(scene, settings, self.links, self.config.content_rating, self._shaping)

    def images(self, scene_id: int) -> Optional[list]:
        """``Image[]`` for the artwork picker (empty without a public URL)."""
        scene = self.metadata(scene_id)
        return None if scene is None else scene.get("Image", [])

    def image(self, kind: str, object_id: int, version: str, signature: str) -> Optional[tuple]:
        """(bytes, content type) of a signed image; None if not signed by us or unknown to Stash."""
        if self.links is None or not self.links.valid(kind, object_id, version, signature):
            return None
        path = "screenshot" if kind == KINDS[0] else "image"
        try:
            data = self.gate.call(self.stash.image, f"{self.config.stash_url}/{kind}/{object_id}/{path}")
        except InvalidData:
            return None
        except StashTrouble as exc:
            raise Unavailable(f"Stash unavailable: {exc}") from None
        return data, content_type(data)

    # ------------------------------------------------------------------ health

    def health(self) -> dict:
        """Whether Stash answers (one quick probe), how big and how fresh the index is."""
        try:
            version = self.gate.call(self.stash.version)
            stash = {"ok": True, "version": version}
        except StashTrouble as exc:
            stash = {"ok": False, "error": str(exc)}
        age = self.index.age()
        index = {"ready": self.index.ready, **self.index.counts(), "age_seconds": None if age == float("inf") else round(age, 1)}
        return {"ok": stash["ok"] and self.index.ready, "stash": stash, "index": index,
                "images": self.links is not None, "settings_loaded": self._settings is not None}

    def close(self) -> None:
        """Stop background threads."""
        self.cache.close()
