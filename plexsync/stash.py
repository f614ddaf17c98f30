"""Stash GraphQL client: the session cookie Stash handed over, plus its API key once fetched.

The cookie expires after an hour when Stash has login enabled (protocol §4.2), so the client fetches
``configuration.general.apiKey`` once and sends it as ``ApiKey`` as well when it is non-empty (the
cookie stays: it carries Stash's hook loop protection). Network blips are retried briefly with
tenacity; everything else is translated into PlexSync's error classes here and nowhere else.

Every GraphQL document PlexSync sends is a module-level constant named ``*_QUERY`` or ``*_MUTATION``
(fragments they share: ``*_FRAGMENT``), with a named operation. tests/test_stash_contract.py finds
them by that name in every module and validates each against every supported Stash release's schema,
and fails on GraphQL text anywhere else, so a new document cannot escape the check.
"""

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

import requests
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from plexsync.errors import InvalidData, StashAuthError, StashUnavailable
from plexsync.protocol import ServerConnection
from plexsync.settings import PLUGIN_ID
from plexsync.stashlog import SECRETS
from plexsync.transport import session_for

log = logging.getLogger(__name__)

SYNC_SCENE_FRAGMENT = """
fragment SyncScene on Scene {
  id title code details director urls date rating100 organized created_at updated_at
  studio { id name parent_studio { id name } }
  performers { id name disambiguation gender image_path }
  tags { id name }
  movies { movie { id name } scene_index }
  files { id path basename size duration width height }
  paths { screenshot }
}
"""
FIND_SCENE_QUERY = "query FindScene($id: ID!) { findScene(id: $id) { ...SyncScene } }" + SYNC_SCENE_FRAGMENT
FIND_SCENES_QUERY = (
    "query FindScenes($filter: FindFilterType, $scene_filter: SceneFilterType) {"
    " findScenes(filter: $filter, scene_filter: $scene_filter) { count scenes { ...SyncScene } } }"
    + SYNC_SCENE_FRAGMENT
)
# Many scenes in one request (the worker's read-ahead, the provider's scene cache). Stash refuses the whole
# request when one id names no scene (stash-plugin-protocol.md §5.3).
SCENES_BY_ID_QUERY = "query ScenesById($ids: [ID!]) { findScenes(ids: $ids) { scenes { ...SyncScene } } }" + SYNC_SCENE_FRAGMENT
PLUGIN_CONFIG_QUERY = "query PluginConfig($ids: [ID!]) { configuration { plugins(include: $ids) } }"
API_KEY_QUERY = "query ApiKey { configuration { general { apiKey } } }"
VERSION_QUERY = "query Version { version { version } }"
# Groups are read through ``movies``/``findMovies``, which every supported release serves (v0.25 has no
# ``groups``; later releases keep ``movies`` as a deprecated alias of the same data).
GROUPS_QUERY = ("query CollectionGroups($ids: [ID!]) { findMovies(ids: $ids, filter: {per_page: -1}) {"
                " movies { id name synopsis front_image_path } } }")
STUDIOS_QUERY = ("query CollectionStudios($ids: [ID!]) { findStudios(ids: $ids, filter: {per_page: -1}) {"
                 " studios { id name details image_path } } }")
TAG_TREE_QUERY = ("query TagTree($filter: FindFilterType) { findTags(filter: $filter) {"
                  " count tags { id name parents { id } } } }")
AUTHENTICATION_QUERY = "query Authentication { configuration { general { username } } }"


class StashClient:
    """GraphQL and image downloads against the Stash that ran the plugin."""

    def __init__(self, connection: ServerConnection, timeout: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep, attempts: int = 3, base_url: str = "") -> None:
        self.url = base_url.rstrip("/") or connection.base_url
        self.timeout = timeout
        self.session = session_for(self.url)
        self.session.headers["Content-Type"] = "application/json"
        if connection.session_cookie:
            self.session.cookies.set("session", connection.session_cookie)
            SECRETS.add(connection.session_cookie)
        # One attempt needs no retry machinery; tenacity's per-call bookkeeping measurably slows callers
        # that send many small queries from several threads (the metadata provider, bench/provider.py).
        self._post = self._post_once if attempts == 1 else retry(
            retry=retry_if_exception_type(StashUnavailable), stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.2, max=2), sleep=sleep, reraise=True,
        )(self._post_once)

    def _post_once(self, body: dict) -> dict:
        try:
            response = self.session.post(f"{self.url}/graphql", json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise StashUnavailable(f"Stash unreachable at {self.url}: {type(exc).__name__}") from exc
        return _decode(response, body.get("operationName") or "query")

    @classmethod
    def for_url(cls, url: str, api_key: str = "", timeout: float = 30.0, attempts: int = 1) -> "StashClient":
        """A client for a Stash named by URL (the provider runs outside Stash), sending ``api_key`` if set."""
        client = cls(ServerConnection(), timeout=timeout, attempts=attempts, base_url=url)
        if api_key:
            SECRETS.add(api_key)
            client.session.headers["ApiKey"] = api_key
        return client

    def query(self, query: str, variables: Optional[dict] = None, operation: Optional[str] = None) -> dict:
        """Run one GraphQL operation and return its ``data``."""
        body = {"query": query, "variables": variables or {}}
        if operation:
            body["operationName"] = operation
        return self._post(body)

    def use_api_key(self) -> None:
        """Fetch Stash's API key once and send it from now on (survives cookie expiry)."""
        key = self.query(API_KEY_QUERY, operation="ApiKey")["configuration"]["general"]["apiKey"] or ""
        if key:
            SECRETS.add(key)
            self.session.headers["ApiKey"] = key

    @property
    def api_key(self) -> str:
        """The API key this client sends ("" when Stash has none)."""
        return self.session.headers.get("ApiKey", "")

    def authentication_on(self) -> bool:
        """True when Stash asks for credentials (a username is set), so its URLs need a secret."""
        return bool(self.query(AUTHENTICATION_QUERY, operation="Authentication")["configuration"]["general"]["username"])

    def groups(self, ids: list) -> list:
        """Groups by id: ``{id, name, synopsis, front_image_path}`` (missing ids are left out)."""
        return self._by_ids(GROUPS_QUERY, "CollectionGroups", ("findMovies", "movies"), ids)

    def studios(self, ids: list) -> list:
        """Studios by id: ``{id, name, details, image_path}`` (missing ids are left out)."""
        return self._by_ids(STUDIOS_QUERY, "CollectionStudios", ("findStudios", "studios"), ids)

    def _by_ids(self, query: str, operation: str, path: tuple, ids: list) -> list:
        found = []
        for start in range(0, len(ids), 500):
            data = self.query(query, {"ids": [str(i) for i in ids[start:start + 500]]}, operation)
            found += data[path[0]][path[1]]
        return found

    def tag_tree(self, per_page: int = 1000) -> list:
        """Every tag with its parents' ids (``{id, name, parents: [{id}]}``), paged."""
        tags, page = [], 1
        while True:
            variables = {"filter": {"page": page, "per_page": per_page, "sort": "id", "direction": "ASC"}}
            data = self.query(TAG_TREE_QUERY, variables, "TagTree")["findTags"]
            tags += data["tags"]
            if not data["tags"] or page * per_page >= data["count"]:
                return tags
            page += 1

    def plugin_settings(self) -> dict:
        """PlexSync's saved settings (keys never saved are absent)."""
        data = self.query(PLUGIN_CONFIG_QUERY, {"ids": [PLUGIN_ID]}, "PluginConfig")
        return (data["configuration"]["plugins"] or {}).get(PLUGIN_ID) or {}

    def version(self) -> str:
        """Stash's version string."""
        return self.query(VERSION_QUERY, operation="Version")["version"]["version"]

    def find_scene(self, scene_id: int) -> Optional[dict]:
        """The scene's current state, or None if it no longer exists."""
        return self.query(FIND_SCENE_QUERY, {"id": str(scene_id)}, "FindScene")["findScene"]

    def find_scenes(self, scene_ids: list) -> dict:
        """Scene id -> current state, in one request; raises when Stash has no scene for one of the ids."""
        data = self.query(SCENES_BY_ID_QUERY, {"ids": [str(scene_id) for scene_id in scene_ids]}, "ScenesById")
        return {int(raw["id"]): raw for raw in data["findScenes"]["scenes"]}

    def scenes_page(self, page: int, per_page: int = 100, scene_filter: Optional[dict] = None,
                    sort: str = "id", direction: str = "ASC") -> tuple:
        """One page of scenes sorted by ``sort``: (total count, scenes)."""
        variables = {"filter": {"page": page, "per_page": per_page, "sort": sort, "direction": direction},
                     "scene_filter": scene_filter or {}}
        data = self.query(FIND_SCENES_QUERY, variables, "FindScenes")["findScenes"]
        return data["count"], data["scenes"]

    def all_scenes(self, per_page: int = 100, scene_filter: Optional[dict] = None, sort: str = "id",
                   first_page: int = 1):
        """Every scene matching the filter, page by page sorted by ``sort`` (never one query per scene).

        Yields (page number, total count, scenes of that page), so callers can checkpoint by page.
        """
        page = first_page
        while True:
            total, scenes = self.scenes_page(page, per_page, scene_filter, sort)
            yield page, total, scenes
            if not scenes or page * per_page >= total:
                return
            page += 1

    def server_time(self, moment: datetime) -> Optional[str]:
        """``moment`` as ``YYYY-MM-DDTHH:MM:SS`` in the Stash server's own offset, or None without scenes.

        Stash stores local-offset timestamps and compares them as text (protocol §5.3), so the offset
        is read off the most recently updated scene rather than assumed.
        """
        _, latest = self.scenes_page(1, 1, sort="updated_at", direction="DESC")
        if not latest:
            return None
        offset = datetime.fromisoformat(latest[0]["updated_at"].replace("Z", "+00:00")).utcoffset() or timedelta(0)
        return moment.astimezone(timezone(offset)).strftime("%Y-%m-%dT%H:%M:%S")

    def image(self, url: str) -> bytes:
        """Download an image (scene cover) with the same authentication as GraphQL."""
        try:
            response = self.session.get(url, timeout=self.timeout)
        except requests.RequestException as exc:
            raise StashUnavailable(f"Stash unreachable for an image: {type(exc).__name__}") from exc
        _check_status(response, "image")
        return response.content


def parse_time(text: Optional[str]) -> Optional[float]:
    """A Stash ``Time`` (RFC3339 in any offset, e.g. ``2024-05-01T12:34:56+02:00``) as a unix time; None if absent."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _check_status(response: requests.Response, what: str) -> None:
    if response.status_code in (401, 403):
        raise StashAuthError(f"Stash refused PlexSync's credentials ({response.status_code}) for {what}: the session expired "
                        "and no API key is set; run the task again from Stash or generate an API key in Settings > Security")
    if response.status_code == 429 or response.status_code >= 500:
        raise StashUnavailable(f"Stash answered {response.status_code} for {what}")
    if response.status_code >= 400:
        raise InvalidData(f"Stash answered {response.status_code} for {what}")


def _decode(response: requests.Response, what: str) -> dict:
    if response.status_code != 422:  # gqlgen answers 422 for queries it cannot parse or validate
        _check_status(response, what)
    try:
        payload = response.json()
    except ValueError:
        raise StashUnavailable(f"Stash answered {what} with something that is not JSON") from None
    if payload.get("errors"):
        message = "; ".join(str(e.get("message", e)) for e in payload["errors"])[:500]
        raise InvalidData(f"Stash rejected {what}: {message}")
    return payload.get("data") or {}
