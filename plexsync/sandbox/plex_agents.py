"""The fake Plex's client side of custom metadata providers (PMS >= 1.43), for tests, benchmarks and the demo.

What it does follows plex-provider-notes.md §8, itself drawn from a real PMS log, Plex's documentation
and working providers:

1. **Register** (``POST /media/providers/metadata?uri=``, or :meth:`MetadataAgents.register`):
   ``GET <uri>?includePreferences=1`` with ``Accept: application/json`` and the machine identifier;
   the MediaProvider document is checked as Plex checks it (identifier ``tv.plex.agents.custom.*``
   with ``[A-Za-z0-9.]`` only, types 1-4 only, a scheme equal to the identifier, relative ``match``
   and ``metadata`` feature keys). ``GET /media/providers/metadata`` lists what is registered.
2. **Scan a new file** into a library whose agent is the provider: ``POST <uri><match key>`` with
   ``{type, title, filename, includeAdult, manual: 0, duration}``, ``filename`` in the configured form
   (``absolute``, ``relative`` to the library folder, or ``basename``). The first result's guid must be
   ``<identifier>://movie/<ratingKey>``; an empty or bad answer leaves the item unmatched
   (``local://<ratingKey>``). A match stores the guid verbatim and refreshes at once.
3. **Refresh**: ``GET <uri><metadata key>/<ratingKey>`` then ``.../extras``; anything but 200 with one
   Metadata object holding the required fields, or no answer within the 90 s timeout, is "primary
   provider ... failed to return a result" and the item keeps its values. A guid without a
   ``/<type>/`` segment fails without calling the provider.
4. **Merge**: scalars overwrite unless the field is locked; tags are added, never removed (PMS keeps
   tags a provider stops sending); locked tag types are kept.
5. **Fix Match**: ``manual: 1`` with the typed title/year lists candidates; choosing one stores its
   guid verbatim, takes the title from the choice and refreshes.
6. **Images** go through Plex's cloud image service, which cannot reach private or loopback
   addresses (answers 400); ``tunnels`` maps a public base URL to the loopback address behind it.
"""

import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Optional
from urllib.parse import urlsplit

import requests

from plexsync.sandbox.fake_plex import MACHINE_IDENTIFIER, FakePlex, _HttpError, _Reply, _Request, _el, _xml_reply

PLEX_TIMEOUT = 90.0  # PMS gives up on a provider request after about 90 s (notes §5)
FILENAME_FORMS = ("absolute", "relative", "basename")
_IDENTIFIER = re.compile(r"^tv\.plex\.agents\.custom\.[A-Za-z0-9.]+$")
_RATING_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_GUID = re.compile(r"^(?P<scheme>[A-Za-z0-9.]+)://(?P<type>movie|show|season|episode)/(?P<key>[A-Za-z0-9_-]+)$")
REQUIRED = ("ratingKey", "key", "guid", "type", "title")
SCALARS = ("title", "summary", "studio", "originallyAvailableAt", "year", "contentRating", "tagline", "originalTitle")
TAGS = {"Genre": "genre", "Role": "actor", "Director": "director", "Collection": "collection", "Country": "country",
        "Writer": "writer", "Producer": "producer"}


class ProviderRejected(Exception):
    """Plex refuses to add the provider (the reason is what PMS would log)."""


@dataclass
class RegisteredProvider:
    """A provider Plex has accepted."""

    id: int
    identifier: str
    title: str
    uri: str
    match_key: str
    metadata_key: str


@dataclass
class AgentEvent:
    """One thing the agent did, for tests and the demo to read."""

    kind: str  # registered | matched | unmatched | refreshed | refresh_failed | candidates | image
    rating_key: Optional[int]
    detail: str = ""
    seconds: float = 0.0


def _problem(doc) -> Optional[str]:
    """Why PMS would refuse this MediaProvider document, or None."""
    provider = doc.get("MediaProvider") if isinstance(doc, dict) else None
    if not isinstance(provider, dict):
        return "no MediaProvider object"
    identifier = provider.get("identifier")
    if not isinstance(identifier, str) or not _IDENTIFIER.match(identifier):
        return f"identifier {identifier!r} must be tv.plex.agents.custom. followed by [A-Za-z0-9.]"
    if not isinstance(provider.get("title"), str) or not provider["title"]:
        return "title missing"
    return _types_problem(provider.get("Types"), identifier) or _features_problem(provider.get("Feature"))


def _types_problem(types, identifier: str) -> Optional[str]:
    if not isinstance(types, list) or not types:
        return "Types missing"
    for entry in types:
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), int) or entry["type"] not in (1, 2, 3, 4):
            return f"Unsupported metadata types: {entry!r}"
        schemes = entry.get("Scheme")
        if not isinstance(schemes, list) or not any(isinstance(s, dict) and s.get("scheme") == identifier for s in schemes):
            return f"type {entry['type']} has no Scheme equal to the identifier"
    return None if any(entry["type"] == 1 for entry in types) else "no movie type (1)"


def _features_problem(features) -> Optional[str]:
    keys = {f.get("type"): f.get("key") for f in features or [] if isinstance(f, dict)} if isinstance(features, list) else {}
    for needed in ("match", "metadata"):
        key = keys.get(needed)
        if not isinstance(key, str) or not key.startswith("/"):
            return f"feature {needed} missing or its key is not relative to the provider URL"
    return None


def _private(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host in ("localhost",) or host.endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local


class MetadataAgents:
    """Custom metadata providers as a fake PMS uses them; attach one to a :class:`FakePlex`."""

    def __init__(self, plex: FakePlex, filename_form: str = "absolute", timeout: float = PLEX_TIMEOUT,
                 tunnels: Optional[dict] = None) -> None:
        if filename_form not in FILENAME_FORMS:
            raise ValueError(f"filename_form must be one of {FILENAME_FORMS}")
        self.plex, self.filename_form, self.timeout = plex, filename_form, timeout
        self.tunnels = dict(tunnels or {})
        self.providers: dict = {}  # identifier -> RegisteredProvider
        self.events: list = []
        self.durations: dict = {}  # ratingKey -> duration in ms, as the scanner measured it
        self.http = requests.Session()
        self.http.headers.update({"Accept": "application/json", "X-Plex-Client-Identifier": MACHINE_IDENTIFIER,
                                  "X-Plex-Language": "en-US"})
        plex.extensions.append(self)

    # ------------------------------------------------------------------ registration

    def register(self, uri: str) -> RegisteredProvider:
        """Read the provider's root as PMS does and accept it, or raise ProviderRejected."""
        try:
            response = self.http.get(f"{uri}?includePreferences=1", timeout=self.timeout)
            doc = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError) as exc:
            raise ProviderRejected(f"could not read {uri}: {type(exc).__name__}") from None
        problem = _problem(doc) if doc is not None else f"{uri} answered {response.status_code}"
        if problem:
            raise ProviderRejected(problem)
        meta = doc["MediaProvider"]
        keys = {f["type"]: f["key"] for f in meta["Feature"]}
        provider = RegisteredProvider(len(self.providers) + 1, meta["identifier"], meta["title"], uri,
                                      keys["match"], keys["metadata"])
        self.providers[provider.identifier] = provider
        self.events.append(AgentEvent("registered", None, provider.identifier))
        return provider

    def use(self, section: int, identifier: str) -> None:
        """Make a registered provider the library's agent (Plex: Advanced > Agent)."""
        if identifier not in self.providers:
            raise KeyError(f"no provider {identifier} registered")
        self._section(section).agent = identifier

    def _section(self, key: int):
        return next(s for s in self.plex.sections() if s.key == key)

    def _provider_for(self, section: int) -> Optional[RegisteredProvider]:
        return self.providers.get(self._section(section).agent)

    # ------------------------------------------------------------------ scanning and matching

    def filename(self, section: int, path: str) -> str:
        """The ``filename`` a match request carries, in the configured form."""
        if self.filename_form == "basename":
            return PurePosixPath(path).name
        if self.filename_form == "relative":
            for location in self._section(section).locations:
                if path.startswith(location.rstrip("/") + "/"):
                    return path[len(location.rstrip("/")) + 1:]
        return path

    def match_body(self, section: int, path: str, duration_ms: Optional[int] = None, manual: int = 0,
                   title: Optional[str] = None, year: Optional[int] = None) -> dict:
        """The JSON body PMS posts to the match feature for one file."""
        body = {"type": 1, "title": title or PurePosixPath(path).stem, "filename": self.filename(section, path),
                "includeAdult": 1, "manual": manual}
        if duration_ms:
            body["duration"] = int(duration_ms)
        if year:
            body["year"] = year
        return body

    def _post_match(self, provider: RegisteredProvider, body: dict, rating_key: Optional[int]) -> Optional[list]:
        try:
            response = self.http.post(provider.uri + provider.match_key, json=body, timeout=self.timeout)
            found = response.json()["MediaContainer"]["Metadata"] if response.status_code == 200 else None
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            self.events.append(AgentEvent("unmatched", rating_key, f"match failed: {type(exc).__name__}"))
            return None
        if found is None or not isinstance(found, list):
            self.events.append(AgentEvent("unmatched", rating_key, f"match answered {response.status_code}"))
        return found if isinstance(found, list) else None

    def scan_file(self, section: int, path: str, size: int = 0, duration_ms: Optional[int] = None) -> int:
        """A new file in the library: create its item, match it through the provider, fetch its metadata."""
        rating_key = self.plex.add_item(section=section, title=PurePosixPath(path).stem, files=[(path, size)])
        with self.plex.changing(rating_key) as item:
            item.guid = f"local://{rating_key}"
        if duration_ms:
            self.durations[rating_key] = int(duration_ms)
        provider = self._provider_for(section)
        if provider is not None:
            self._match_new(provider, rating_key, self.match_body(section, path, duration_ms))
        return rating_key

    def _match_new(self, provider: RegisteredProvider, rating_key: int, body: dict) -> None:
        found = self._post_match(provider, body, rating_key)
        if not found:
            if found is not None:
                self.events.append(AgentEvent("unmatched", rating_key, "no match"))
            return
        first = found[0] if isinstance(found[0], dict) else {}
        parsed = _GUID.match(str(first.get("guid", "")))
        if not parsed or parsed["scheme"] != provider.identifier or not _RATING_KEY.match(str(first.get("ratingKey", ""))):
            self.events.append(AgentEvent("unmatched", rating_key, f"bad match result {first!r:.200}"))
            return
        with self.plex.changing(rating_key) as item:
            item.guid = first["guid"]
            item.fields["title"] = str(first.get("title") or item.fields.get("title"))
        self.events.append(AgentEvent("matched", rating_key, first["guid"]))
        self.refresh(rating_key)

    # ------------------------------------------------------------------ refresh and merge

    def refresh(self, rating_key: int) -> bool:
        """Refresh Metadata: fetch from the provider the item's guid names, merge; False if it failed."""
        item = self.plex.item(rating_key)
        parsed = _GUID.match(item.guid)
        provider = self.providers.get(parsed["scheme"]) if parsed else None
        if provider is None:
            return self._failed(rating_key, item.guid, "no provider for the item's guid (no call made)")
        url = f"{provider.uri}{provider.metadata_key}/{parsed['key']}"
        try:
            response = self.http.get(url, timeout=self.timeout)
            metadata = self._one_metadata(response, provider.identifier)
            extras = self.http.get(f"{url}/extras", timeout=self.timeout)
        except (requests.RequestException, ValueError) as exc:
            return self._failed(rating_key, item.guid, f"{type(exc).__name__}")
        if metadata is None or extras.status_code != 200:
            return self._failed(rating_key, item.guid, f"answered {response.status_code}/{extras.status_code}")
        self.merge(rating_key, metadata)
        self.events.append(AgentEvent("refreshed", rating_key, item.guid, response.elapsed.total_seconds()))
        return True

    @staticmethod
    def _one_metadata(response: requests.Response, identifier: str) -> Optional[dict]:
        if response.status_code != 200:
            return None
        items = (response.json().get("MediaContainer") or {}).get("Metadata")
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            return None
        metadata = items[0]
        if any(not metadata.get(name) for name in REQUIRED) or not str(metadata["guid"]).startswith(identifier + "://"):
            return None
        date = metadata.get("originallyAvailableAt")
        if date is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(date)):
            return None
        return metadata

    def _failed(self, rating_key: int, guid: str, why: str) -> bool:
        self.events.append(AgentEvent("refresh_failed", rating_key,
                                      f"primary provider failed to return a result for {guid}: {why}"))
        return False

    def merge(self, rating_key: int, metadata: dict) -> None:
        """Plex's merge: scalars unless locked; tags added, never removed; images as URLs, unless locked."""
        with self.plex.changing(rating_key) as item:
            for name in SCALARS:
                if metadata.get(name) not in (None, "") and name not in item.locks:
                    item.fields[name] = metadata[name]
            for element, tagtype in TAGS.items():
                if tagtype not in item.locks:
                    _add_tags(item, tagtype, metadata.get(element) or [])
            for key, kind in (("thumb", "poster"), ("art", "art")):
                url = metadata.get(key)
                if url and key not in item.locks:
                    refs = getattr(item, f"{kind}s")
                    if url not in refs:
                        refs.append(url)
                    setattr(item, f"selected_{kind}", url)

    # ------------------------------------------------------------------ Fix Match

    def fix_match(self, rating_key: int, title: Optional[str] = None, year: Optional[int] = None) -> list:
        """The candidates the provider offers for an item (``manual: 1`` with the typed title and year)."""
        item = self.plex.item(rating_key)
        provider = self._provider_for(item.section)
        if provider is None:
            return []
        body = self.match_body(item.section, item.files[0][0], self.durations.get(rating_key), manual=1,
                               title=title or item.fields.get("title"), year=year)
        found = self._post_match(provider, body, rating_key) or []
        self.events.append(AgentEvent("candidates", rating_key, f"{len(found)} candidates"))
        return found

    def choose(self, rating_key: int, guid: str, name: str, year: Optional[int] = None) -> bool:
        """The user picks a candidate: the guid is stored verbatim, the title set, then a refresh."""
        with self.plex.changing(rating_key) as item:
            item.guid = guid
            item.fields["title"] = name
            if year:
                item.fields["year"] = int(year)
        self.events.append(AgentEvent("matched", rating_key, guid))
        return self.refresh(rating_key)

    # ------------------------------------------------------------------ images and routes

    def fetch_image(self, url: str) -> tuple:
        """(status, bytes) as Plex's cloud image service fetches a provider image."""
        for public, local in self.tunnels.items():
            if url.startswith(public.rstrip("/") + "/"):
                response = self.http.get(local.rstrip("/") + url[len(public.rstrip("/")):], timeout=self.timeout)
                return response.status_code, response.content
        status = 400 if _private(url) else 502  # 400: images.plex.tv cannot reach LAN addresses (notes §4)
        self.events.append(AgentEvent("image", None, f"{status} for {url}"))
        return status, b""

    def route(self, request: _Request) -> Optional[_Reply]:
        """``GET``/``POST /media/providers/metadata`` (the admin API, token required like any PMS route)."""
        if request.path.rstrip("/") != "/media/providers/metadata":
            return None
        if request.method == "POST":
            return self._post_provider(request)
        if request.method != "GET":
            raise _HttpError(405, "method not allowed")
        if "json" in (request.header("Accept") or ""):
            listed = [dict(vars(p)) for p in self.providers.values()]
            body = {"MediaContainer": {"size": len(listed), "MetadataAgentProvider": listed}}
            return _Reply(200, json.dumps(body).encode(), "application/json")
        root = _el(None, "MediaContainer", {"size": len(self.providers)})
        for p in self.providers.values():
            _el(root, "MetadataAgentProvider", {"id": p.id, "identifier": p.identifier, "title": p.title, "uri": p.uri})
        return _xml_reply(root)

    def _post_provider(self, request: _Request) -> _Reply:
        uri = request.param("uri")
        if not uri:
            raise _HttpError(400, "uri= is required")
        if any(p.uri == uri for p in self.providers.values()):
            raise _HttpError(409, "provider already registered")
        try:
            provider = self.register(uri)
        except ProviderRejected as exc:
            raise _HttpError(400, str(exc)) from None
        root = _el(None, "MediaContainer", {"size": 1})
        _el(root, "MetadataAgentProvider", {"id": provider.id, "identifier": provider.identifier, "title": provider.title, "uri": uri})
        return _xml_reply(root)


def _add_tags(item, tagtype: str, entries: list) -> None:
    """Union by name, case-insensitively; actors keep their role and photo."""
    have = {name.lower() for name in item.tag_names(tagtype)}
    for entry in entries:
        name = str(entry.get("tag") or "") if isinstance(entry, dict) else ""
        if not name or name.lower() in have:
            continue
        have.add(name.lower())
        if tagtype == "actor":
            item.tags[tagtype].append({"tag": name, "role": entry.get("role"), "thumb": entry.get("thumb")})
        else:
            item.tags[tagtype].append(name)
