"""Plex client: plexapi behind one narrow interface, every plexapi/requests error classified here.

How edits really travel (plex-api-notes.md §3): every field, tag and lock edit is one
``PUT /library/sections/{id}/all`` carrying full tag arrays; listings truncate tag lists, so writes are
built from a detail fetch. Autoreload is switched off so the requests made are exactly the ones this
module asks for; the token travels only in the ``X-Plex-Token`` header.
"""

import io
import logging
import os
import threading
import xml.etree.ElementTree as ElementTree
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

# plexapi reads its configuration once, at import time (plex-api-notes.md §1.1, §2.7): switch off
# autoreload (hidden GETs) and keep a developer's ~/.config/plexapi/config.ini out of the picture.
os.environ["PLEXAPI_PLEXAPI_AUTORELOAD"] = "false"
os.environ.setdefault("PLEXAPI_CONFIG_PATH", os.path.join(os.path.dirname(__file__), "no-plexapi-config.ini"))

import requests  # noqa: E402
from plexapi import exceptions as plex_errors  # noqa: E402
from plexapi.server import PlexServer  # noqa: E402
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential  # noqa: E402

from plexsync.errors import AuthError, ConfigError, InvalidData, ItemMissing, PlexUnavailable  # noqa: E402
from plexsync.stashlog import SECRETS  # noqa: E402
from plexsync.transport import session_for  # noqa: E402

log = logging.getLogger(__name__)
PAGE_SIZE = 500


@dataclass(frozen=True)
class Section:
    """A Plex movie library."""

    key: int
    title: str
    locations: tuple
    agent: str = ""  # the library's metadata agent (a custom provider's identifier when one is primary)


@dataclass(frozen=True)
class ListedItem:
    """What the library index needs from a listing entry."""

    rating_key: int
    section: int
    files: tuple  # ((path, size), ...)
    updated_at: int
    added_at: int
    guid: str = ""


class _Server(PlexServer):
    """PlexServer that sends PlexSync's own client identity with every request."""

    def __init__(self, baseurl: str, token: str, session, timeout, identity: dict) -> None:
        self._identity = identity
        super().__init__(baseurl, token, session=session, timeout=timeout)

    def _headers(self, **kwargs) -> dict:
        headers = super()._headers(**kwargs)
        headers.update(self._identity)
        return headers


def _classify_bad_request(exc: Exception, what: str) -> Exception:
    text = str(exc)
    status = text[1:4] if text.startswith("(") else ""
    if status == "403":
        return AuthError(f"Plex refused access (403) while {what}: the token's account cannot edit this server")
    if status in ("400", "414", "422"):
        return InvalidData(f"Plex rejected the request ({status}) while {what}: {text[:200]}")
    return PlexUnavailable(f"Plex answered {status or 'an error'} while {what}")


@contextmanager
def translate(what: str) -> Iterator[None]:
    """Turn plexapi/requests exceptions into PlexSync's error classes (the one place that does)."""
    try:
        yield
    except plex_errors.Unauthorized:
        raise AuthError(f"Plex refused the token (401) while {what}: check plex_token in the plugin settings") from None
    except plex_errors.NotFound as exc:
        raise ItemMissing(f"Plex has no such item ({what})") from exc
    except plex_errors.BadRequest as exc:
        raise _classify_bad_request(exc, what) from exc
    except requests.Timeout as exc:
        raise PlexUnavailable(f"Plex timed out while {what}") from exc
    except requests.ConnectionError as exc:
        raise PlexUnavailable(f"Plex unreachable while {what}: {_reason(exc)}") from exc
    except (requests.RequestException, ElementTree.ParseError, TypeError) as exc:
        # TypeError: plexapi's own bug for status codes requests does not know (e.g. 520)
        raise PlexUnavailable(f"Plex answered garbage while {what}: {type(exc).__name__}") from exc


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "aborted" in text or "RemoteDisconnected" in text:
        return "connection dropped"
    return type(exc).__name__


class PlexClient:
    """The Plex operations PlexSync uses; connects lazily, retries network blips briefly."""

    def __init__(self, url: str, token: str, client_id: str, connect_timeout: float = 5, read_timeout: float = 30,
                 sleep: Callable[[float], None] = None, attempts: int = 2) -> None:
        SECRETS.add(token)
        self.url, self._token = url, token
        self._timeout = (connect_timeout, read_timeout)
        self._identity = {"X-Plex-Client-Identifier": client_id, "X-Plex-Product": "PlexSync",
                          "X-Plex-Device-Name": "PlexSync (Stash plugin)"}
        self._server: Optional[PlexServer] = None
        self._session = session_for(url)
        self._connect_lock = threading.Lock()
        self._retry = retry(retry=retry_if_exception_type(PlexUnavailable), stop=stop_after_attempt(attempts),
                            wait=wait_exponential(multiplier=0.25, max=1), reraise=True,
                            **({"sleep": sleep} if sleep else {}))

    @property
    def server(self) -> PlexServer:
        """The connected server (one ``GET /`` the first time)."""
        with self._connect_lock:
            if self._server is None:
                self._server = self._retry(self._connect)()
        return self._server

    def _connect(self) -> PlexServer:
        with translate(f"connecting to {self.url}"):
            return _Server(self.url, self._token, self._session, self._timeout, self._identity)

    def call(self, what: str, function: Callable, *args, **kwargs):
        """Run ``function`` with errors translated and one short retry for blips."""
        def attempt():
            with translate(what):
                return function(*args, **kwargs)
        return self._retry(attempt)()

    def machine_id(self) -> str:
        """The server's ``machineIdentifier`` once connected, else "" (never a request of its own)."""
        return str(self._server.machineIdentifier or "") if self._server is not None else ""

    def identity(self) -> dict:
        """``GET /identity`` without the token: any HTTP answer proves Plex is reachable at ``url``."""
        def probe() -> dict:
            with translate(f"reaching {self.url}"):
                response = self._session.get(f"{self.url}/identity", timeout=self._timeout)
            try:
                return dict(ElementTree.fromstring(response.content).attrib) if response.ok else {"status": response.status_code}
            except ElementTree.ParseError:
                return {"status": response.status_code}
        return self._retry(probe)()

    def probe(self) -> None:
        """The cheapest sign of life, one ``GET /identity`` (no token); PlexUnavailable unless Plex answers.

        Short timeouts: a Plex that is up answers this in milliseconds, and a probe must not hold up the
        next one.
        """
        with translate(f"reaching {self.url}"):
            response = self._session.get(f"{self.url}/identity", timeout=(min(self._timeout[0], 2.0), 5.0))
        if response.status_code == 429 or response.status_code >= 500:
            raise PlexUnavailable(f"Plex answered {response.status_code} at {self.url}/identity")

    def sections(self, names: list) -> list:
        """The movie sections to match in: those named, or every movie section when none are."""
        found = self.call("listing libraries", self.server.library.sections)
        movies = [s for s in found if s.type == "movie"]
        if not names:
            return [_section(s) for s in movies]
        by_title = {s.title.strip().lower(): s for s in found}
        missing = [n for n in names if n.strip().lower() not in by_title]
        if missing:
            raise ConfigError(f"plex_libraries: no Plex library named {', '.join(missing)}; Plex has {', '.join(s.title for s in found) or 'none'}")
        chosen = [by_title[n.strip().lower()] for n in names]
        return [_section(s) for s in chosen]

    def list_items(self, section: int, since: Optional[int] = None) -> Iterator[ListedItem]:
        """Every item of a section (or those updated since a unix time), paged, parsed lean."""
        for element in self.pages(_listing_key(section, since), f"listing library {section}"):
            for video in element.findall("Video"):
                yield _listed(video, section)

    def pages(self, key: str, what: str, size: int = PAGE_SIZE) -> Iterator:
        """Each page of a Plex container as an XML element, paged as Plex pages (``X-Plex-Container-Start``
        and ``-Size`` headers) until ``totalSize`` is reached; ``what`` names the request in errors."""
        start = 0
        while True:
            element = self.call(what, self.server.query, key, headers=_paging(start, size))
            if element is None:
                return
            yield element
            total = int(element.attrib.get("totalSize") or element.attrib.get("size") or 0)
            start += size
            if len(element) == 0 or start >= total:
                return

    def providers(self) -> list:
        """Identifiers of the custom metadata providers Plex has registered (``GET /media/providers/metadata``,
        PMS >= 1.43); ItemMissing from an older Plex that has no such endpoint."""
        element = self.call("listing metadata providers", self.server.query, "/media/providers/metadata")
        return [e.attrib.get("identifier", "") for e in element.iter("MetadataAgentProvider")] if element is not None else []

    def fetch_item(self, rating_key: int):
        """The item's detail document (all tags, locks); ItemMissing if Plex no longer has it."""
        return self.call(f"reading Plex item {rating_key}", self.server.fetchItem, int(rating_key))

    def fetch_items(self, rating_keys: list) -> dict:
        """Detail documents of many items in one request per 100 (``GET /library/metadata/1,2,3``)."""
        found = {}
        for start in range(0, len(rating_keys), 100):
            chunk = [int(key) for key in rating_keys[start:start + 100]]
            for item in self.call(f"reading {len(chunk)} Plex items", self.server.fetchItems, chunk):
                found[int(item.ratingKey)] = item
        return found

    def edit(self, item, params: dict) -> None:
        """Apply one edit (one PUT) to an item."""
        self.call(f"editing Plex item {item.ratingKey}", item.edit, **params)

    def rate(self, item, rating: Optional[float]) -> None:
        """Set (0-10) or clear (None) the item's user rating as Plex's own clients do: plexapi's ``rate()``,
        one ``PUT /:/rate?key=<ratingKey>&identifier=com.plexapp.plugins.library&rating=<value or -1>``."""
        self.call(f"rating Plex item {item.ratingKey}", item.rate, rating)

    def upload_image(self, item, kind: str, data: bytes) -> None:
        """Upload poster (``poster``) or background (``art``) bytes; Plex selects and locks it."""
        upload = item.uploadPoster if kind == "poster" else item.uploadArt
        self.call(f"uploading the {kind} of Plex item {item.ratingKey}", upload, filepath=io.BytesIO(data))

    def scan(self, section: int, path: str) -> None:
        """Ask Plex for a partial scan of one folder."""
        self.call(f"asking library {section} to scan {path}", self.server.query,
                  f"/library/sections/{section}/refresh", params={"path": path})


def _section(section) -> Section:
    return Section(int(section.key), section.title, tuple(section.locations), section.agent or "")


def _listing_key(section: int, since: Optional[int]) -> str:
    key = f"/library/sections/{section}/all?type=1"
    return key + (f"&updatedAt%3E%3E={int(since)}" if since else "")


def _paging(start: int, size: int) -> dict:
    return {"X-Plex-Container-Start": str(start), "X-Plex-Container-Size": str(size)}


def _listed(video, section: int) -> ListedItem:
    files = tuple((part.attrib.get("file", ""), int(part.attrib.get("size") or 0))
                  for part in video.iter("Part") if part.attrib.get("file"))
    return ListedItem(int(video.attrib["ratingKey"]), section, files,
                      int(video.attrib.get("updatedAt") or 0), int(video.attrib.get("addedAt") or 0),
                      video.attrib.get("guid", ""))
