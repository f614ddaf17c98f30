"""A fake Plex Media Server speaking real HTTP, for tests, benchmarks and the demo.

The real ``plexapi`` and ``requests`` talk to it over loopback. What it answers and why is written down in
``docs/plex-api-notes.md``: the documents follow ``examples/plex/`` (which plexapi 4.18.3 parses) and every point
of the fidelity checklist (notes §6.5) holds:

1. ``type="movie"`` on every ``<Video>``;
2. ``librarySectionID`` on listing containers and detail videos;
3. ``totalSize`` on listings, also for size-0 queries;
4. paging from headers *and* query parameters;
5. Meta documents for ``all`` and ``collections`` plus filter-choice endpoints;
6. a detail document for every listed item;
7. empty bodies for edits, uploads and scans;
8. truncated tags in listings (``listing_limits``), all tags in details;
9. ``<Field locked="1">`` only for locked fields;
10. replace semantics for ``tag[i]``, remove semantics (comma split + unquote) for ``tag[]...-``;
11. ``stop()`` closes accepted keep-alive sockets too, so pooled connections fail.

Every request is recorded before faults apply (notes §6.4), and faults are injected with :class:`Fault` rules
(notes §6.3). Standard library only, so benchmarks measure the client and not the fake.
"""

from __future__ import annotations

import hashlib
import html
import logging
import random
import re
import socket
import socketserver
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import parse_qsl, quote, unquote, urlsplit

log = logging.getLogger(__name__)

MACHINE_IDENTIFIER = "0123456789abcdef0123456789abcdef01234567"
PMS_VERSION = "1.41.3.9314-a0bfb8370"
MOVIE_SEARCH_TYPE = "1"  # plexapi utils.searchType("movie")
XML_CONTENT_TYPE = "text/xml;charset=utf-8"  # without charset requests decodes text/* as ISO-8859-1
HTML_CONTENT_TYPE = "text/html;charset=utf-8"

TAG_TYPES = ("genre", "collection", "label", "country", "director", "writer", "producer", "actor")
TAG_ELEMENTS = {
    "genre": "Genre", "collection": "Collection", "label": "Label", "country": "Country",
    "director": "Director", "writer": "Writer", "producer": "Producer", "actor": "Role",
}
TAG_KWARGS = {
    "genres": "genre", "collections": "collection", "labels": "label", "countries": "country",
    "directors": "director", "writers": "writer", "producers": "producer", "actors": "actor",
}
STRING_FIELDS = (
    "title", "titleSort", "originalTitle", "summary", "tagline", "studio", "contentRating", "editionTitle",
)
INTEGER_FIELDS = ("year", "addedAt", "updatedAt")
FLOAT_FIELDS = ("rating", "audienceRating", "userRating")
ITEM_FIELDS = STRING_FIELDS + INTEGER_FIELDS + FLOAT_FIELDS + ("originallyAvailableAt",)
EDITABLE_FIELDS = frozenset(ITEM_FIELDS) - {"updatedAt"}
IMAGE_LOCKS = ("thumb", "art", "banner", "theme", "clearLogo", "squareArt")
LOCKABLE = EDITABLE_FIELDS | frozenset(TAG_TYPES) | frozenset(IMAGE_LOCKS)

# PMS truncates tag lists in listings (notes §2.5, plexapi issues #200 and #249); the exact limits are unverified.
DEFAULT_LISTING_LIMITS = {
    "genre": 2, "country": 1, "director": 1, "writer": 1, "actor": 3, "collection": 2, "label": 0, "producer": 0,
}

# The token's user's watch state (plex_playback.py keeps it in ``fields``): shown and filterable, never edited by PUT.
USER_STATE_FIELDS = ("viewCount", "viewOffset", "lastViewedAt", "lastRatedAt")
_VIDEO_ATTRS = (
    "title", "titleSort", "originalTitle", "studio", "contentRating", "summary", "tagline",
    "rating", "audienceRating", "userRating", "year", "editionTitle",
) + USER_STATE_FIELDS
_SECTION_CONTAINER = {
    "allowSync": 1, "identifier": "com.plexapp.plugins.library",
    "mediaTagPrefix": "/system/bundle/media/flags/", "mediaTagVersion": 1700000000,
}
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# --------------------------------------------------------------------------------------------------- public models


@dataclass
class Fault:
    """One fault-injection rule (notes §6.3).

    The first rule that matches a request applies; a rule applies ``times`` times (-1 = forever). ``path`` is a
    regex searched in the request path, ``query`` (optional) one searched in the raw query string. Actions:
    ``delay`` seconds first, then ``drop`` (close without answering), ``status`` (+ ``body``),
    ``body_override`` (200 with that body), or ``drop_after_apply`` (handle normally, then close unanswered).
    """

    method: str | None = None
    path: str = ""
    times: int = 1
    status: int | None = None
    body: str | None = None
    delay: float = 0.0
    drop: bool = False
    drop_after_apply: bool = False
    body_override: str | None = None
    query: str | None = None
    probability: float = 1.0

    def matches(self, method: str, path: str, raw_query: str) -> bool:
        """Whether this rule still has uses left and covers the request."""
        if self.times == 0:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        if not re.search(self.path, path):
            return False
        return self.query is None or re.search(self.query, raw_query) is not None


@dataclass
class RequestRecord:
    """One request as the fake saw it; ``status`` is None while unanswered and stays None when dropped."""

    method: str
    path: str
    query: list[tuple[str, str]]
    raw_query: str
    headers: dict[str, str]
    body_len: int
    status: int | None = None
    t: float = 0.0

    def param(self, key: str, default: str | None = None) -> str | None:
        """The last decoded value of query parameter ``key``."""
        values = [v for k, v in self.query if k == key]
        return values[-1] if values else default


@dataclass
class FakeSection:
    """A library section; only ``movie`` sections can hold items."""

    key: int
    title: str
    type: str = "movie"
    locations: list[str] = field(default_factory=list)
    location_ids: list[int] = field(default_factory=list)
    uuid: str = ""
    agent: str = "tv.plex.agents.movie"  # a custom provider's identifier once a library uses one


def _empty_tags() -> dict[str, list]:
    return {tagtype: [] for tagtype in TAG_TYPES}


@dataclass
class FakeItem:
    """A movie held by the fake. Live state: mutate only while no request is in flight.

    ``tags`` maps each tag type to a list of names; ``actor`` holds dicts ``{"tag", "role", "thumb"}``.
    ``agent`` is what :meth:`FakePlex.agent_refresh` restores on unlocked fields and tag types.
    """

    rating_key: int
    section: int
    fields: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, list] = field(default_factory=_empty_tags)
    locks: set[str] = field(default_factory=set)
    files: list[tuple[str, int]] = field(default_factory=list)
    posters: list[str] = field(default_factory=list)
    arts: list[str] = field(default_factory=list)
    selected_poster: str | None = None
    selected_art: str | None = None
    poster_bytes: bytes | None = None
    art_bytes: bytes | None = None
    agent: dict[str, Any] = field(default_factory=dict)
    guid: str = ""
    guids: list[str] = field(default_factory=list)
    parts: list[tuple[int, int]] = field(default_factory=list)  # (Media id, Part id) per file

    @property
    def title(self) -> str | None:
        """The item's title."""
        return self.fields.get("title")

    def tag_names(self, tagtype: str) -> list[str]:
        """Names of the tags of one type (actor dicts reduced to their ``tag``)."""
        return [_tag_name(tag) for tag in self.tags.get(tagtype, [])]


# --------------------------------------------------------------------------------------------------- internal models


@dataclass
class _PendingFile:
    """A file on disk that Plex does not know until a scan covers its folder."""

    section: int
    path: str
    size: int
    title: str
    attrs: dict[str, Any]
    due: float | None = None


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = XML_CONTENT_TYPE


@dataclass
class _Request:
    method: str
    target: str
    path: str
    raw_query: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    @classmethod
    def parse(cls, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes) -> _Request:
        """Split the request target; the query is decoded once as a form (``+`` = space)."""
        parts = urlsplit(target)
        query = parse_qsl(parts.query, keep_blank_values=True)
        return cls(method, target, unquote(parts.path) or "/", parts.query, query, dict(headers), body)

    def param(self, key: str) -> str | None:
        """The last value of a query parameter."""
        values = [v for k, v in self.query if k == key]
        return values[-1] if values else None

    def header(self, name: str) -> str | None:
        """A header, case-insensitively."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    def plex_value(self, name: str) -> str | None:
        """An ``X-Plex-*`` value, which PMS accepts as a query parameter or a header (notes §1.1)."""
        value = self.param(name)
        return value if value is not None else self.header(name)


class _HttpError(Exception):
    """Raised by a route to answer with an error status."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class _ImageKind:
    name: str  # poster | art
    plural: str  # posters | arts (FakeItem list attribute and upload:// folder)
    lock: str  # the lock name PMS uses: thumb | art


_IMAGE_KINDS = {"poster": _ImageKind("poster", "posters", "thumb"), "art": _ImageKind("art", "arts", "art")}
_ROUTE_IMAGE_KIND = {"posters": "poster", "poster": "poster", "thumb": "poster", "arts": "art", "art": "art"}


@dataclass
class _EditPlan:
    """A parsed ``PUT .../all`` query, validated before anything changes."""

    values: dict[str, Any] = field(default_factory=dict)
    locks: dict[str, bool] = field(default_factory=dict)
    tag_lists: dict[str, dict[int, dict[str, str]]] = field(default_factory=dict)
    removals: dict[str, list[str]] = field(default_factory=dict)


class _TagIds:
    """Global tag ids: one per (tag type, lower-cased name), as PMS's tag table."""

    def __init__(self, first: int = 1001) -> None:
        self._ids: dict[tuple[str, str], int] = {}
        self._names: dict[int, tuple[str, str]] = {}
        self._next = first

    def id_for(self, tagtype: str, name: str) -> int:
        """The id of a tag, assigned on first sight."""
        key = (tagtype, name.lower())
        if key not in self._ids:
            self._ids[key] = self._next
            self._names[self._next] = key
            self._next += 1
        return self._ids[key]

    def name_for(self, tagtype: str, tag_id: int) -> str | None:
        """The lower-cased name behind a tag id of this type, or None."""
        key = self._names.get(tag_id)
        return key[1] if key and key[0] == tagtype else None


# --------------------------------------------------------------------------------------------------- XML helpers


def _attr_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    return _INVALID_XML_CHARS.sub("", str(value))


def _el(parent: ET.Element | None, tag: str, attrs: dict[str, Any]) -> ET.Element:
    """Make an element; attributes whose value is None or empty are left out, as PMS does."""
    clean = {k: _attr_text(v) for k, v in attrs.items() if v is not None and v != ""}
    return ET.Element(tag, clean) if parent is None else ET.SubElement(parent, tag, clean)


def _image_paths(rating_key: int, stamp: Any, poster: Any, art: Any) -> dict[str, Any]:
    """``thumb`` and ``art`` attributes of an item or collection: the selected image's path, or None."""
    return {"thumb": f"/library/metadata/{rating_key}/thumb/{stamp}" if poster else None,
            "art": f"/library/metadata/{rating_key}/art/{stamp}" if art else None}


def _field_locks(parent: ET.Element, locks: Iterable[str]) -> None:
    """A ``<Field locked="1" name=...>`` per locked field, as details carry them."""
    for name in sorted(locks):
        _el(parent, "Field", {"locked": 1, "name": name})


def _xml_reply(root: ET.Element, status: int = 200) -> _Reply:
    body = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    return _Reply(status, body.encode("utf-8"))


# Plex Web's icon, as a browser probing plex_url loads it: a 1x1 PNG (Chrome sniffs the type).
_WEB_ICON = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6378ba80f73f0006920292ca32c6850000000049454e44ae426082")


def _web_file(path: str) -> _Reply:
    """``/web/favicon.ico`` (the only Plex Web file the sandbox serves); other /web/ paths 404."""
    if path == "/web/favicon.ico":
        return _Reply(200, _WEB_ICON, "image/x-icon")
    return _error_reply(404)


def _empty_reply() -> _Reply:
    """200 with an empty body: what PMS sends for edits; plexapi's query() then returns None."""
    return _Reply(200)


def _error_reply(status: int, body: str | None = None, message: str = "") -> _Reply:
    """An error answer with PMS's HTML body (well-formed, so it would even parse)."""
    if body is not None:
        return _Reply(status, body.encode("utf-8"), HTML_CONTENT_TYPE)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    detail = f"<p>{html.escape(message)}</p>" if message else ""
    text = f"<html><head><title>{phrase}</title></head><body><h1>{status} {phrase}</h1>{detail}</body></html>"
    return _Reply(status, text.encode("utf-8"), HTML_CONTENT_TYPE)


# --------------------------------------------------------------------------------------------------- tags and values


def _tag_name(tag: Any) -> str:
    return tag["tag"] if isinstance(tag, dict) else str(tag)


def _normalise_tags(tagtype: str, values: Iterable[Any]) -> list:
    """Tags as stored: names (actors as dicts), empty names skipped, duplicates dropped case-insensitively."""
    result, seen = [], set()
    for value in values:
        entry = _actor_entry(value) if tagtype == "actor" else str(value)
        name = _tag_name(entry)
        if name and name.lower() not in seen:
            seen.add(name.lower())
            result.append(entry)
    return result


def _actor_entry(value: Any) -> dict[str, str | None]:
    if isinstance(value, dict):
        return {"tag": str(value.get("tag") or ""), "role": value.get("role"), "thumb": value.get("thumb")}
    return {"tag": str(value), "role": None, "thumb": None}


def _convert_value(name: str, raw: str) -> Any:
    """An edit's ``X.value`` as stored; empty clears. Bad data gives 500, as plexopedia documents for PMS."""
    if raw == "":
        return None
    try:
        if name in INTEGER_FIELDS:
            return int(raw)
        if name in FLOAT_FIELDS:
            return float(raw)
        if name == "originallyAvailableAt":
            datetime.strptime(raw, "%Y-%m-%d")
    except ValueError:
        raise _HttpError(500, f"invalid value for {name}: {raw!r}") from None
    return raw


def _under(path: str, folder: str | None) -> bool:
    """Whether a file lies in a folder (None = everywhere)."""
    if folder is None:
        return True
    prefix = folder.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


# --------------------------------------------------------------------------------------------------- the edit engine

_VALUE_KEY = re.compile(r"(\w+)\.value")
_LOCK_KEY = re.compile(r"(\w+)\.locked")
_TAG_KEY = re.compile(r"(\w+)\[(\d+)\]\.(tag\.tag|tagging\.text|tag\.thumb)")
_REMOVE_KEY = re.compile(r"(\w+)\[\]\.tag\.tag-")
_TAG_PARTS = {"tag.tag": "tag", "tagging.text": "role", "tag.thumb": "thumb"}
_EDIT_IGNORED = frozenset({"id", "type", "includeExternalMedia"})


def _plan_edit(pairs: Iterable[tuple[str, str]]) -> _EditPlan:
    """Parse every edit parameter first, so an unknown key (400) changes nothing."""
    plan = _EditPlan()
    for key, value in pairs:
        if key in _EDIT_IGNORED or key.startswith("X-Plex-"):
            continue
        _plan_pair(plan, key, value)
    return plan


def _plan_pair(plan: _EditPlan, key: str, value: str) -> None:
    match = _VALUE_KEY.fullmatch(key)
    if match and match[1] in EDITABLE_FIELDS:
        plan.values[match[1]] = _convert_value(match[1], value)
        return
    match = _LOCK_KEY.fullmatch(key)
    if match and match[1] in LOCKABLE:
        plan.locks[match[1]] = value not in ("0", "", "false")
        return
    match = _TAG_KEY.fullmatch(key)
    if match and match[1] in TAG_TYPES and (match[3] == "tag.tag" or match[1] == "actor"):
        plan.tag_lists.setdefault(match[1], {}).setdefault(int(match[2]), {})[_TAG_PARTS[match[3]]] = value
        return
    match = _REMOVE_KEY.fullmatch(key)
    if match and match[1] in TAG_TYPES:
        # plexapi quotes each name, joins with commas and the URL quotes it again (notes §3.3).
        plan.removals.setdefault(match[1], []).extend(unquote(p) for p in value.split(",") if p)
        return
    raise _HttpError(400, f"unknown edit parameter {key!r}")


def _indexed_tags(tagtype: str, entries: dict[int, dict[str, str]]) -> list:
    """The new list for ``tag[i]...`` keys, ordered by index; it replaces the old list (notes §3.3).

    Actors get only what was sent: role and thumb of a resent name are not kept (PMS behaviour unverified,
    notes §3.2), so code that resends names only is caught losing them.
    """
    ordered = [entries[index] for index in sorted(entries) if entries[index].get("tag")]
    if tagtype == "actor":
        return _normalise_tags(tagtype, ordered)
    return _normalise_tags(tagtype, [entry["tag"] for entry in ordered])


def _apply_plan(plan: _EditPlan, item: FakeItem, now: int) -> None:
    """Apply an edit: values, then replacements, then removals, then locks; bump updatedAt."""
    for name, value in plan.values.items():
        if value is None:
            item.fields.pop(name, None)
        else:
            item.fields[name] = value
    for tagtype, entries in plan.tag_lists.items():
        item.tags[tagtype] = _indexed_tags(tagtype, entries)
    for tagtype, names in plan.removals.items():
        gone = {name.lower() for name in names}
        item.tags[tagtype] = [tag for tag in item.tags[tagtype] if _tag_name(tag).lower() not in gone]
    for name, locked in plan.locks.items():
        if locked:
            item.locks.add(name)
        else:
            item.locks.discard(name)
    item.fields["updatedAt"] = now


# --------------------------------------------------------------------------------------------------- listing filters

_FILTER_KEY = re.compile(r"(?:[A-Za-z]+\.)?([A-Za-z]+)([!<>=]*)")
_OPERATORS = {"": "=", "!": "!=", "=": "==", "!=": "!==", "<": "<=", ">": ">=", ">>": ">>=", "<<": "<<="}
_FIELD_KINDS = {
    **{name: "string" for name in STRING_FIELDS},
    **{name: "integer" for name in ("year", "id") + FLOAT_FIELDS},
    **{name: "date" for name in ("addedAt", "updatedAt", "originallyAvailableAt", "lastViewedAt", "lastRatedAt")},
    **{name: "integer" for name in ("viewCount", "viewOffset")},
    **{name: "tag" for name in TAG_TYPES},
}
_LISTING_KEYS = frozenset({"type", "sort", "limit", "checkFiles", "asyncAugmentMetadata"})
_RELATIVE_DATE = re.compile(r"-?(\d+)(mon|[smhdwy])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mon": 2592000, "y": 31536000}

Predicate = Callable[[FakeItem], bool]


def _is_listing_option(key: str) -> bool:
    return key in _LISTING_KEYS or key.startswith(("include", "exclude", "X-Plex-"))


def _item_value(item: FakeItem, name: str) -> Any:
    if name == "id":
        return item.rating_key
    if name == "titleSort":
        return item.fields.get("titleSort") or item.fields.get("title")
    if name == "originallyAvailableAt" and item.fields.get(name):
        # Local time, as plexapi's _validateFieldValueDate converts dates (datetime.timestamp()).
        return time.mktime(time.strptime(item.fields[name], "%Y-%m-%d"))
    return item.fields.get(name)


def _string_predicate(name: str, op: str, value: str) -> Predicate:
    # Not split on commas: titles and summaries contain commas (PMS behaviour for string OR unverified).
    wanted = value.lower()
    tests: dict[str, Callable[[str], bool]] = {
        "=": lambda s: wanted in s, "!=": lambda s: wanted not in s,
        "==": lambda s: s == wanted, "!==": lambda s: s != wanted,
        "<=": lambda s: s.startswith(wanted), ">=": lambda s: s.endswith(wanted),
    }
    test = tests[op]
    return lambda item: test(str(_item_value(item, name) or "").lower())


def _number_predicate(name: str, op: str, value: str) -> Predicate:
    try:
        numbers = [float(piece) for piece in value.split(",") if piece != ""]
    except ValueError:
        raise _HttpError(400, f"{name} needs a number, got {value!r}") from None
    tests: dict[str, Callable[[float], bool]] = {
        "=": lambda v: v in numbers, "!=": lambda v: v not in numbers,
        ">>=": lambda v: bool(numbers) and v > numbers[0], "<<=": lambda v: bool(numbers) and v < numbers[0],
    }
    if op not in tests:
        raise _HttpError(400, f"operator {op!r} does not apply to {name}")
    test = tests[op]
    return lambda item: _item_value(item, name) is not None and test(float(_item_value(item, name)))


def _date_threshold(value: str, now: float) -> float:
    """A date operand: a unix timestamp or a relative ``-30d`` (notes §2.2)."""
    relative = _RELATIVE_DATE.fullmatch(value)
    if relative:
        return now - int(relative[1]) * _UNIT_SECONDS[relative[2]]
    try:
        return float(value)
    except ValueError:
        raise _HttpError(400, f"bad date {value!r}") from None


def _date_predicate(name: str, op: str, value: str, now: float) -> Predicate:
    threshold = _date_threshold(value, now)
    if op not in (">>=", "<<="):
        raise _HttpError(400, f"operator {op!r} does not apply to {name}")
    after = op == ">>="

    def test(item: FakeItem) -> bool:
        current = _item_value(item, name)
        if current is None:
            return False
        return current > threshold if after else current < threshold

    return test


def _tag_predicate(tagtype: str, op: str, value: str, tag_ids: _TagIds) -> Predicate:
    """A tag filter: comma = OR; each piece is a tag id (as plexapi resolves choices) or a name."""
    if op not in ("=", "!="):
        raise _HttpError(400, f"operator {op!r} does not apply to {tagtype}")
    wanted = set()
    for piece in (p for p in value.split(",") if p):
        by_id = tag_ids.name_for(tagtype, int(piece)) if piece.isdigit() else None
        wanted.add(by_id or piece.lower())
    negate = op == "!="
    return lambda item: negate != any(name.lower() in wanted for name in item.tag_names(tagtype))


def _listing_predicate(key: str, value: str, tag_ids: _TagIds, now: float) -> Predicate:
    """One ``field<op>=value`` listing parameter as a predicate; unknown fields give 400."""
    if key in ("push", "pop", "or", "and"):
        raise _HttpError(400, "advanced (push/or/pop) filters are not supported by FakePlex")
    match = _FILTER_KEY.fullmatch(key)
    kind = _FIELD_KINDS.get(match[1]) if match else None
    if kind is None or match[2] not in _OPERATORS:
        raise _HttpError(400, f"unsupported listing parameter {key!r}")
    name, op = match[1], _OPERATORS[match[2]]
    if kind == "string":
        if op not in ("=", "!=", "==", "!==", "<=", ">="):
            raise _HttpError(400, f"operator {op!r} does not apply to {name}")
        return _string_predicate(name, op, value)
    if kind == "integer":
        return _number_predicate(name, op, value)
    if kind == "date":
        return _date_predicate(name, op, value, now)
    return _tag_predicate(name, op, value, tag_ids)


def _sort_key(name: str) -> Callable[[FakeItem], tuple]:
    def key(item: FakeItem) -> tuple:
        value = _item_value(item, name)
        if value is None:
            return (1, 0)
        return (0, value.lower() if isinstance(value, str) else value)

    return key


def _sorted_items(items: list[FakeItem], sort: str | None) -> list[FakeItem]:
    """Sort by ``[movie.]field[:desc]`` terms (comma = tie-breakers); default titleSort, then ratingKey."""
    result = sorted(items, key=lambda item: item.rating_key)
    terms = [term for term in (sort or "titleSort").split(",") if term]
    for term in reversed(terms):
        match = re.fullmatch(r"(?:[A-Za-z]+\.)?([A-Za-z]+)(?::([A-Za-z]*))?", term)
        if not match or (match[1] not in _FIELD_KINDS and match[1] != "ratingKey"):
            raise _HttpError(400, f"unsupported sort {term!r}")
        name = "id" if match[1] == "ratingKey" else match[1]
        result.sort(key=_sort_key(name), reverse=match[2] == "desc")
    return result


def _paging(request: _Request) -> tuple[int, int | None]:
    """Container start and size, from query parameters or headers (plexapi uses both, notes §2.3)."""
    try:
        start = int(request.plex_value("X-Plex-Container-Start") or 0)
        size = request.plex_value("X-Plex-Container-Size")
        return max(start, 0), (None if size in (None, "") else max(int(size), 0))
    except ValueError:
        raise _HttpError(400, "bad X-Plex-Container-Start/Size") from None


# --------------------------------------------------------------------------------------------------- Meta documents

_META_FILTERS = (
    ("genre", "string", "Genre"), ("collection", "string", "Collection"), ("label", "string", "Labels"),
    ("actor", "string", "Actor"), ("country", "string", "Country"), ("director", "string", "Director"),
    ("writer", "string", "Writer"), ("producer", "string", "Producer"), ("studio", "string", "Studio"),
    ("year", "integer", "Year"),
)
_META_SORTS = (
    ("titleSort", "asc", "Title"), ("addedAt", "desc", "Date Added"), ("updatedAt", "desc", "Date Updated"),
    ("originallyAvailableAt", "desc", "Release Date"), ("year", "desc", "Year"),
)
_META_FIELDS = (
    ("title", "string", "Title"), ("studio", "string", "Studio"), ("contentRating", "string", "Content Rating"),
    ("year", "integer", "Year"), ("addedAt", "date", "Date Added"), ("updatedAt", "date", "Date Updated"),
    ("originallyAvailableAt", "date", "Release Date"), ("lastViewedAt", "date", "Last Played"),
    ("viewCount", "integer", "Plays"), ("genre", "tag", "Genre"),
    ("collection", "tag", "Collection"), ("label", "tag", "Label"), ("actor", "tag", "Actor"),
    ("country", "tag", "Country"), ("director", "tag", "Director"), ("writer", "tag", "Writer"),
    ("producer", "tag", "Producer"),
)
_FIELD_TYPES = {
    "tag": (("=", "is"), ("!=", "is not")),
    "integer": (("=", "is"), ("!=", "is not"), (">>=", "is greater than"), ("<<=", "is less than")),
    "string": (
        ("=", "contains"), ("!=", "does not contain"), ("==", "is"), ("!==", "is not"),
        ("<=", "begins with"), (">=", "ends with"),
    ),
    "date": (("<<=", "is before"), (">>=", "is after")),
    "boolean": (("=", "is true"), ("!=", "is false")),
}
CHOICE_KINDS = TAG_TYPES + ("studio", "year")


def _meta_type(meta: ET.Element, section: FakeSection) -> None:
    """The ``<Type>`` of a section's Meta: every tag filter has both a Filter and a Field (notes §2.5)."""
    base = f"/library/sections/{section.key}"
    attrs = {"key": f"{base}/all?type=1", "type": "movie", "title": section.title, "active": 1}
    type_el = _el(meta, "Type", attrs)
    for name, filter_type, title in _META_FILTERS:
        attrs = {"filter": name, "filterType": filter_type, "key": f"{base}/{name}", "title": title}
        _el(type_el, "Filter", {**attrs, "type": "filter"})
    for key, direction, title in _META_SORTS:
        default = "asc" if key == "titleSort" else None
        attrs = {"default": default, "defaultDirection": direction, "descKey": f"{key}:desc", "key": key}
        _el(type_el, "Sort", {**attrs, "title": title})
    for key, field_type, title in _META_FIELDS:
        _el(type_el, "Field", {"key": key, "title": title, "type": field_type})


def _meta_field_types(meta: ET.Element) -> None:
    for field_type, operators in _FIELD_TYPES.items():
        type_el = _el(meta, "FieldType", {"type": field_type})
        for key, title in operators:
            _el(type_el, "Operator", {"key": key, "title": title})


# --------------------------------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    """One serving generation; tracks accepted sockets so stop() can shut pooled connections down."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], fake: FakePlex) -> None:
        self.fake = fake
        self.stopped = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's getfqdn() reverse lookup, which can stall on some hosts."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def track(self, sock: socket.socket) -> None:
        """Remember an accepted socket."""
        with self._connections_lock:
            self._connections.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        """Forget a socket whose handler is done."""
        with self._connections_lock:
            self._connections.discard(sock)

    def close_connections(self) -> None:
        """Shut every accepted socket down; handler threads then see EOF and close them (notes §1.3)."""
        with self._connections_lock:
            connections = list(self._connections)
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                log.debug("FakePlex: socket already closed", exc_info=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients that time out or servers that stop leave broken pipes behind."""
        log.debug("FakePlex: error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        """Disable Nagle: headers and body go out in two sends, and delayed ACK costs 40 ms each (notes §6)."""
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()
        self.server.track(self.request)

    def finish(self) -> None:
        """Forget the socket, then close as usual."""
        self.server.untrack(self.request)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib signature
        """Never print: Stash parses the plugin's stdout."""
        log.debug("FakePlex: " + format, *args)

    def do_GET(self) -> None:
        """Serve any method through the fake's router."""
        body = self._read_body()
        reply = self.server.fake._handle(self.command, self.path, self.headers.items(), body, self.server.stopped)
        if reply is None:
            self._drop()
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_PUT = do_POST = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    continue
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _drop(self) -> None:
        """Close without a response: the client sees RemoteDisconnected ('Connection aborted.')."""
        self.close_connection = True
        try:
            self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            log.debug("FakePlex: socket already gone while dropping", exc_info=True)


def _pause(seconds: float, stopped: threading.Event) -> bool:
    """Sleep unless the server stops meanwhile; False means it stopped."""
    if seconds and seconds > 0:
        return not stopped.wait(seconds)
    return not stopped.is_set()


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(pattern), name)
    for method, pattern, name in (
        ("GET", r"/", "_get_root"),
        ("GET", r"/identity", "_get_identity"),
        ("GET", r"/library", "_get_library"),
        ("GET", r"/library/sections/?", "_get_sections"),
        ("GET", r"/library/sections/(\d+)/all", "_get_section_all"),
        ("PUT", r"/library/sections/(\d+)/all", "_put_section_all"),
        ("GET", r"/library/sections/(\d+)/collections", "_get_collections"),
        ("GET", r"/library/sections/(\d+)/refresh", "_get_scan"),
        ("DELETE", r"/library/sections/(\d+)/refresh", "_delete_scan"),
        ("GET", r"/library/sections/(\d+)/(" + "|".join(CHOICE_KINDS) + ")", "_get_choices"),
        ("GET", r"/library/metadata/(\d+(?:,\d+)*)", "_get_metadata"),
        ("PUT", r"/library/metadata/(\d+(?:,\d+)*)", "_put_metadata"),
        ("PUT", r"/library/metadata/(\d+)/refresh", "_put_refresh"),
        ("POST", r"/library/metadata/(\d+)/(posters|arts)", "_post_image"),
        ("GET", r"/library/metadata/(\d+)/(posters|arts)", "_get_images"),
        ("PUT", r"/library/metadata/(\d+)/(poster|art)", "_put_select_image"),
        ("DELETE", r"/library/metadata/(\d+)/(thumb|art)", "_delete_image"),
        ("GET", r"/library/metadata/(\d+)/(thumb|art)/\d+", "_get_image_bytes"),
    )
]


# --------------------------------------------------------------------------------------------------- the fake server


class FakePlex:
    """A fake Plex Media Server on 127.0.0.1 (random port) that the real plexapi talks to.

    ``token=None`` accepts any request (an unclaimed server). ``clock`` (monotonic) times request records and
    delayed scans; ``wallclock`` gives the epoch seconds used for addedAt/updatedAt and relative date filters.
    """

    def __init__(
        self,
        token: str | None = "plex-secret-token",
        latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        self.token = token
        self.latency = latency
        self.scan_delay = 0.0
        self.max_url_len: int | None = None
        self.listing_limits: dict[str, int] = dict(DEFAULT_LISTING_LIMITS)
        self.refresh_applies_agent = False
        self.friendly_name = "FakePlex"
        # Objects with route(request) -> _Reply | None, tried before the built-in routes; optionally
        # metadata_object(ratingKey) (more objects for the image routes) and items_edited(items).
        self.extensions: list = []
        self._clock = clock
        self._wallclock = wallclock
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._reset_state()

    def _reset_state(self) -> None:
        self._sections: dict[int, FakeSection] = {}
        self._items: dict[int, FakeItem] = {}
        self._pending: list[_PendingFile] = []
        self._tag_ids = _TagIds()
        self._image_data: dict[str, bytes] = {}
        self._requests: list[RequestRecord] = []
        self._faults: list[Fault] = []
        self._scans: list[tuple[int, str | None, bool]] = []
        self._refreshes: list[int] = []
        self._counters = {"ratingKey": 101, "section": 1, "location": 1, "media": 201, "part": 301}

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> FakePlex:
        """Serve on daemon threads; the first start picks a free port, later ones reuse it."""
        if self._server is not None:
            raise RuntimeError("FakePlex is already serving")
        server = _Server(("127.0.0.1", self._port), self)
        self._port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"fake-plex-{self._port}", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving and shut down every accepted keep-alive socket, so pooled connections fail too."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.stopped.set()  # wakes requests sleeping in latency or a delay fault
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    def restart(self) -> FakePlex:
        """Serve again on the same port (SO_REUSEADDR), keeping all state."""
        self.stop()
        return self.start()

    def __enter__(self) -> FakePlex:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port (0 before the first start)."""
        return self._port

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://127.0.0.1:{self._port}"

    # ------------------------------------------------------------------------------------------ state API

    def add_section(
        self, title: str, locations: Iterable[str] = (), key: int | None = None, type: str = "movie"  # noqa: A002
    ) -> int:
        """Add a library section; returns its key (1, 2, ... unless given)."""
        with self._lock:
            key = self._next("section") if key is None else int(key)
            if key in self._sections:
                raise ValueError(f"section {key} exists")
            self._counters["section"] = max(self._counters["section"], key + 1)
            paths = [str(path) for path in locations]
            section = FakeSection(key, title, type, paths, [self._next("location") for _ in paths])
            section.uuid = str(uuid.UUID(bytes=hashlib.sha1(f"{key}:{title}".encode()).digest()[:16]))
            self._sections[key] = section
            return key

    def add_item(self, section: int, title: str, files: Iterable[tuple[str, int]] = (), **attrs: Any) -> int:
        """Add a movie; returns its ratingKey (101, 102, ...).

        ``attrs``: fields (summary, studio, titleSort, originallyAvailableAt, year, tagline, contentRating,
        addedAt, updatedAt, ...), tag lists (genres, labels, collections, actors, countries, directors, writers,
        producers), ``locks``, ``agent``, ``posters``, ``arts``, ``guid``, ``guids``.
        """
        with self._lock:
            return self._create_item(section, title, list(files), attrs).rating_key

    def item(self, rating_key: int) -> FakeItem:
        """The live item behind a ratingKey (KeyError if unknown)."""
        with self._lock:
            self._materialise_due()
            return self._items[int(rating_key)]

    def items(self) -> list[FakeItem]:
        """All items, by ratingKey."""
        with self._lock:
            self._materialise_due()
            return [self._items[key] for key in sorted(self._items)]

    def sections(self) -> list[FakeSection]:
        """All sections, by key."""
        with self._lock:
            return [self._sections[key] for key in sorted(self._sections)]

    def remove_item(self, rating_key: int) -> None:
        """Delete an item; its ratingKey then 404s."""
        with self._lock:
            del self._items[int(rating_key)]

    def rekey_item(self, rating_key: int) -> int:
        """Move an item to a new ratingKey, as PMS does when a file is re-added; the old key 404s."""
        with self._lock:
            item = self._items.pop(int(rating_key))
            item.rating_key = self._next("ratingKey")
            self._items[item.rating_key] = item
            return item.rating_key

    def add_pending_file(
        self, section: int, path: str, size: int = 0, title: str | None = None, **attrs: Any
    ) -> None:
        """A file that exists on disk but becomes an item only when a scan covers its folder."""
        with self._lock:
            if section not in self._sections:
                raise KeyError(f"no section {section}")
            name = title if title is not None else path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            self._pending.append(_PendingFile(section, path, size, name, attrs))

    def pending_files(self) -> list[str]:
        """Paths of files not yet materialised by a scan."""
        with self._lock:
            self._materialise_due()
            return [pending.path for pending in self._pending]

    @contextmanager
    def changing(self, rating_key: int) -> Iterator[FakeItem]:
        """Change an item in place (under the lock); afterwards its updatedAt moves and new tags get ids."""
        with self._lock:
            item = self._items[int(rating_key)]
            yield item
            item.fields["updatedAt"] = self._now()
            self._register_tags(item)

    def agent_refresh(self, rating_key: int) -> None:
        """Simulate an agent refresh: restore the item's ``agent`` values on unlocked fields and tag types."""
        with self._lock:
            self._apply_agent(self._items[int(rating_key)])

    @property
    def scans(self) -> list[tuple[int, str | None, bool]]:
        """Scans requested: (section key, path or None, force)."""
        with self._lock:
            return list(self._scans)

    @property
    def refreshes(self) -> list[int]:
        """ratingKeys for which ``PUT /library/metadata/{id}/refresh`` was called."""
        with self._lock:
            return list(self._refreshes)

    # ------------------------------------------------------------------------------------------ log and faults

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request so far, recorded before faults applied."""
        with self._lock:
            return list(self._requests)

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many requests match a method (None = any) and a path regex (re.search; None = any)."""
        wanted = method.upper() if method else None
        return sum(
            1 for record in self.requests
            if (wanted is None or record.method == wanted) and (path is None or re.search(path, record.path))
        )

    def reset_log(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def add_fault(self, fault: Fault) -> Fault:
        """Append a fault rule; rules are tried in order."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        with self._lock:
            self._faults.clear()

    # ------------------------------------------------------------------------------------------ item building

    def _next(self, counter: str) -> int:
        value = self._counters[counter]
        self._counters[counter] = value + 1
        return value

    def _now(self) -> int:
        return int(self._wallclock())

    def _create_item(self, section: int, title: str, files: list[tuple[str, int]], attrs: dict) -> FakeItem:
        if section not in self._sections:
            raise KeyError(f"no section {section}")
        if self._sections[section].type != "movie":
            raise ValueError("FakePlex holds items in movie sections only")
        item = FakeItem(rating_key=self._next("ratingKey"), section=section)
        item.fields["title"] = title
        item.files = [(str(path), int(size)) for path, size in files]
        item.parts = [(self._next("media"), self._next("part")) for _ in item.files]
        for key, value in attrs.items():
            self._set_attr(item, key, value)
        item.fields.setdefault("addedAt", self._now())
        item.fields.setdefault("updatedAt", item.fields["addedAt"])
        first_file = item.files[0][0] if item.files else ""
        item.guid = item.guid or "plex://movie/" + hashlib.sha1(f"{title}|{first_file}".encode()).hexdigest()[:24]
        self._register_tags(item)
        self._items[item.rating_key] = item
        return item

    def _set_attr(self, item: FakeItem, key: str, value: Any) -> None:
        """One ``add_item`` keyword: a field, a tag list, or one of the other FakeItem attributes."""
        if key in ITEM_FIELDS:
            if value is not None:
                item.fields[key] = value
        elif key in TAG_KWARGS or key in TAG_TYPES:
            tagtype = TAG_KWARGS.get(key, key)
            item.tags[tagtype] = _normalise_tags(tagtype, value)
        elif key == "agent":
            item.agent = {TAG_KWARGS.get(k, k): v for k, v in value.items()}
        elif key in ("locks", "posters", "arts", "guids"):
            setattr(item, key, set(value) if key == "locks" else list(value))
        elif key in ("guid", "selected_poster", "selected_art"):
            setattr(item, key, value)
        else:
            raise TypeError(f"unknown item attribute {key!r}")

    def _register_tags(self, item: FakeItem) -> None:
        """Give every tag an id now, so ids do not depend on which document was fetched first."""
        for tagtype in TAG_TYPES:
            for name in item.tag_names(tagtype):
                self._tag_ids.id_for(tagtype, name)

    def _apply_agent(self, item: FakeItem) -> None:
        for key, value in item.agent.items():
            if key in item.locks:
                continue
            if key in TAG_TYPES:
                item.tags[key] = _normalise_tags(key, value)
            elif value is None:
                item.fields.pop(key, None)
            else:
                item.fields[key] = value
        item.fields["updatedAt"] = self._now()
        self._register_tags(item)

    def _materialise_due(self) -> None:
        """Turn scanned pending files into items once their scan is due (lazy, on later requests)."""
        now = self._clock()
        ready = [pending for pending in self._pending if pending.due is not None and now >= pending.due]
        for pending in ready:
            self._pending.remove(pending)
            self._create_item(pending.section, pending.title, [(pending.path, pending.size)], pending.attrs)

    # ------------------------------------------------------------------------------------------ request handling

    def _handle(
        self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes, stopped: threading.Event
    ) -> _Reply | None:
        """Record, wait, apply faults and route one request; None means: drop the connection."""
        request = _Request.parse(method, target, headers, body)
        record = RequestRecord(
            method, request.path, list(request.query), request.raw_query, dict(request.headers), len(body),
            None, self._clock(),
        )
        with self._lock:
            self._requests.append(record)
        reply = self._respond(request, stopped)
        with self._lock:
            record.status = reply.status if reply is not None else None
        return reply

    def _respond(self, request: _Request, stopped: threading.Event) -> _Reply | None:
        if not _pause(self.latency, stopped):
            return None
        fault = self._take_fault(request)
        if fault is None:
            return self._answer(request)
        if not _pause(fault.delay, stopped) or fault.drop:
            return None
        if fault.status is not None:
            return _error_reply(fault.status, fault.body)
        if fault.body_override is not None:
            return _Reply(200, fault.body_override.encode("utf-8"))
        reply = self._answer(request)
        return None if fault.drop_after_apply else reply

    def _take_fault(self, request: _Request) -> Fault | None:
        """The first matching rule that fires (probability), with one use consumed."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(request.method, request.path, request.raw_query):
                    continue
                if fault.probability < 1.0 and self._random.random() >= fault.probability:
                    continue
                if fault.times > 0:
                    fault.times -= 1
                return fault
        return None

    def _answer(self, request: _Request) -> _Reply:
        with self._lock:
            self._materialise_due()
            if self.max_url_len is not None and len(request.target) > self.max_url_len:
                return _error_reply(414, message=f"request target longer than {self.max_url_len}")
            if request.path.startswith("/web/"):  # Plex Web's files need no token (the app signs in itself)
                return _web_file(request.path)
            if self.token is not None and request.plex_value("X-Plex-Token") != self.token:
                return _error_reply(401)
            return self._route(request)

    def _route(self, request: _Request) -> _Reply:
        for extension in self.extensions:  # first: an extension may serve part of a built-in path (collections)
            try:
                reply = extension.route(request)
            except _HttpError as exc:
                return _error_reply(exc.status, message=exc.message)
            if reply is not None:
                return reply
        for method, pattern, name in _ROUTES:
            match = pattern.fullmatch(request.path)
            if match is None or method != request.method:
                continue
            try:
                return getattr(self, name)(request, *match.groups())
            except _HttpError as exc:
                return _error_reply(exc.status, message=exc.message)
            except Exception as exc:  # the request loop's boundary: a bug in the fake becomes a visible 500
                log.exception("FakePlex: %s %s failed", request.method, request.path)
                return _error_reply(500, message=f"FakePlex error: {exc!r}")
        return _error_reply(404)

    def _section(self, key: str | int) -> FakeSection:
        section = self._sections.get(int(key))
        if section is None:
            raise _HttpError(404, f"no library section {key}")
        return section

    def _item_or_404(self, rating_key: str | int) -> FakeItem:
        item = self._items.get(int(rating_key))
        for extension in self.extensions if item is None else ():
            # other metadata objects (collections) share the image and refresh routes
            item = getattr(extension, "metadata_object", lambda key: None)(int(rating_key))
            if item is not None:
                break
        if item is None:
            raise _HttpError(404, f"no metadata item {rating_key}")
        return item

    def _section_items(self, section: FakeSection) -> list[FakeItem]:
        return [item for item in self._items.values() if item.section == section.key]

    # ------------------------------------------------------------------------------------------ server routes

    def _get_root(self, request: _Request) -> _Reply:
        return _xml_reply(_el(None, "MediaContainer", {
            "size": 0, "allowMediaDeletion": 1, "claimed": int(self.token is not None),
            "friendlyName": self.friendly_name, "machineIdentifier": MACHINE_IDENTIFIER, "multiuser": 1,
            "myPlex": 0, "platform": "Linux", "platformVersion": "6.1.0", "transcoderActiveVideoSessions": 0,
            "updatedAt": self._now(), "version": PMS_VERSION,
        }))

    def _get_identity(self, request: _Request) -> _Reply:
        return _xml_reply(_el(None, "MediaContainer", {
            "size": 0, "claimed": int(self.token is not None), "machineIdentifier": MACHINE_IDENTIFIER,
            "version": PMS_VERSION,
        }))

    def _get_library(self, request: _Request) -> _Reply:
        root = _el(None, "MediaContainer", {
            "size": 1, "allowSync": 0, "identifier": "com.plexapp.plugins.library",
            "mediaTagPrefix": "/system/bundle/media/flags/", "mediaTagVersion": 1700000000,
            "title1": "Plex Library",
        })
        _el(root, "Directory", {"key": "sections", "title": "Library Sections"})
        return _xml_reply(root)

    def _get_sections(self, request: _Request) -> _Reply:
        sections = [self._sections[key] for key in sorted(self._sections)]
        root = _el(None, "MediaContainer", {"size": len(sections), "allowSync": 0, "title1": "Plex Library"})
        for section in sections:
            directory = _el(root, "Directory", {
                "allowSync": 1, "art": "/:/resources/movie-fanart.jpg",
                "composite": f"/library/sections/{section.key}/composite/1700000000", "filters": 1,
                "refreshing": 0, "thumb": "/:/resources/movie.png", "key": section.key, "type": section.type,
                "title": section.title, "agent": section.agent, "scanner": "Plex Movie",
                "language": "en-US", "uuid": section.uuid, "updatedAt": 1700000000, "createdAt": 1600000000,
                "scannedAt": 1700000000, "content": 1, "directory": 1, "hidden": 0,
            })
            for location_id, path in zip(section.location_ids, section.locations):
                _el(directory, "Location", {"id": location_id, "path": path})
        return _xml_reply(root)

    # ------------------------------------------------------------------------------------------ listing routes

    def _section_container(self, section: FakeSection, size: int, total: int, offset: int) -> ET.Element:
        return _el(None, "MediaContainer", {
            "size": size, "totalSize": total, "offset": offset, **_SECTION_CONTAINER,
            "librarySectionID": section.key, "librarySectionTitle": section.title,
            "librarySectionUUID": section.uuid, "title1": section.title, "title2": "All Movies",
            "viewGroup": "movie",
        })

    def _get_section_all(self, request: _Request, key: str) -> _Reply:
        """The listing sub-router: Meta, totalSize-only (size 0) or a filtered, sorted, paged listing."""
        section = self._section(key)
        if request.param("includeMeta") == "1":
            return self._meta_reply(section)
        matched = self._select(section, request)
        start, size = _paging(request)
        page = matched[start:] if size is None else matched[start:start + size]
        root = self._section_container(section, len(page), len(matched), start)
        for item in page:
            root.append(self._video(item, detail=False))
        return _xml_reply(root)

    def _select(self, section: FakeSection, request: _Request) -> list[FakeItem]:
        if request.param("type") not in (None, "", MOVIE_SEARCH_TYPE):
            return []  # only movies live here; collections (type 18) are the plex_collections extension's
        now = self._wallclock()
        predicates = [
            _listing_predicate(key, value, self._tag_ids, now)
            for key, value in request.query if not _is_listing_option(key)
        ]
        items = [item for item in self._section_items(section) if all(test(item) for test in predicates)]
        items = _sorted_items(items, request.param("sort"))
        limit = request.param("limit")
        if limit:
            if not limit.isdigit():
                raise _HttpError(400, f"bad limit {limit!r}")
            items = items[:int(limit)]
        return items

    def _meta_reply(self, section: FakeSection) -> _Reply:
        total = len(self._section_items(section))
        root = _el(None, "MediaContainer", {
            "size": 0, "totalSize": total, "offset": 0, "identifier": "com.plexapp.plugins.library",
            "librarySectionID": section.key, "librarySectionTitle": section.title,
        })
        meta = _el(root, "Meta", {})
        _meta_type(meta, section)
        _meta_field_types(meta)
        return _xml_reply(root)

    def _get_collections(self, request: _Request, key: str) -> _Reply:
        """Collections Meta for plexapi's filter loading; collection items themselves are not modelled."""
        section = self._section(key)
        root = _el(None, "MediaContainer", {
            "size": 0, "totalSize": 0, "offset": 0, "identifier": "com.plexapp.plugins.library",
            "librarySectionID": section.key,
        })
        if request.param("includeMeta") == "1":
            meta = _el(root, "Meta", {})
            type_el = _el(meta, "Type", {
                "key": f"/library/sections/{section.key}/all?type=18", "type": "collection",
                "title": "Collections", "active": 0,
            })
            _el(type_el, "Field", {"key": "collection.title", "title": "Title", "type": "string"})
        return _xml_reply(root)

    def _get_choices(self, request: _Request, key: str, kind: str) -> _Reply:
        """Filter choices: ``Directory`` with the tag id as ``key`` (plexapi sends that id in filters)."""
        section = self._section(key)
        choices = self._choices(section, kind)
        root = _el(None, "MediaContainer", {
            "size": len(choices), "allowSync": 0, "content": "secondary",
            "identifier": "com.plexapp.plugins.library", "title1": section.title, "viewGroup": "secondary",
        })
        for choice_key, title in choices:
            _el(root, "Directory", {
                "fastKey": f"/library/sections/{section.key}/all?{kind}={quote(str(choice_key), safe='')}",
                "key": choice_key, "title": title, "type": kind,
            })
        return _xml_reply(root)

    def _choices(self, section: FakeSection, kind: str) -> list[tuple[Any, str]]:
        names: dict[str, str] = {}
        for item in sorted(self._section_items(section), key=lambda i: i.rating_key):
            if kind in TAG_TYPES:
                values = item.tag_names(kind)
            else:
                values = [str(item.fields[kind])] if item.fields.get(kind) not in (None, "") else []
            for value in values:
                names.setdefault(value.lower(), value)
        ordered = sorted(names.values(), key=str.lower, reverse=kind == "year")
        if kind in TAG_TYPES:
            return [(self._tag_ids.id_for(kind, name), name) for name in ordered]
        return [(name, name) for name in ordered]

    # ------------------------------------------------------------------------------------------ item documents

    def _video(self, item: FakeItem, detail: bool) -> ET.Element:
        """A ``<Video>``: full tags, ids and Field locks in details; truncated tags in listings (notes §2.5)."""
        attrs: dict[str, Any] = {"ratingKey": item.rating_key, "key": f"/library/metadata/{item.rating_key}",
                                 "guid": item.guid}
        if detail:
            section = self._sections[item.section]
            attrs.update(librarySectionTitle=section.title, librarySectionID=section.key,
                         librarySectionKey=f"/library/sections/{section.key}")
        attrs["type"] = "movie"
        attrs.update({name: item.fields.get(name) for name in _VIDEO_ATTRS})
        stamp = item.fields.get("updatedAt")
        attrs.update(_image_paths(item.rating_key, stamp, item.selected_poster, item.selected_art))
        for name in ("originallyAvailableAt", "addedAt", "updatedAt"):
            attrs[name] = item.fields.get(name)
        video = _el(None, "Video", attrs)
        self._media(video, item)
        self._tags(video, item, detail)
        for guid in item.guids:
            _el(video, "Guid", {"id": guid})
        if detail:
            _field_locks(video, item.locks)
        return video

    def _media(self, video: ET.Element, item: FakeItem) -> None:
        added = item.fields.get("addedAt")
        for (path, size), (media_id, part_id) in zip(item.files, item.parts):
            container = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else None
            media = _el(video, "Media", {"id": media_id, "container": container})
            _el(media, "Part", {
                "id": part_id, "key": f"/library/parts/{part_id}/{added}/file.{container or 'bin'}",
                "file": path, "size": size, "container": container,
            })

    def _tags(self, video: ET.Element, item: FakeItem, detail: bool) -> None:
        for tagtype in TAG_TYPES:
            tags = item.tags.get(tagtype, [])
            limit = None if detail else self.listing_limits.get(tagtype)
            for tag in tags if limit is None else tags[:limit]:
                name = _tag_name(tag)
                attrs: dict[str, Any] = {}
                if detail:
                    tag_id = self._tag_ids.id_for(tagtype, name)
                    attrs.update(id=tag_id, filter=f"{tagtype}={tag_id}")
                attrs["tag"] = name
                if isinstance(tag, dict) and detail:
                    attrs.update(role=tag.get("role"), thumb=tag.get("thumb"))
                _el(video, TAG_ELEMENTS[tagtype], attrs)

    def _get_metadata(self, request: _Request, ids: str) -> _Reply:
        """Detail documents; unknown ids are skipped, 404 when none is known. include*/checkFiles ignored."""
        items = [self._items[int(x)] for x in ids.split(",") if int(x) in self._items]
        if not items:
            raise _HttpError(404, f"no metadata item {ids}")
        attrs: dict[str, Any] = {"size": len(items), **_SECTION_CONTAINER}
        sections = {item.section for item in items}
        if len(sections) == 1:
            section = self._sections[sections.pop()]
            attrs.update(librarySectionID=section.key, librarySectionTitle=section.title,
                         librarySectionUUID=section.uuid)
        root = _el(None, "MediaContainer", attrs)
        for item in items:
            root.append(self._video(item, detail=True))
        return _xml_reply(root)

    # ------------------------------------------------------------------------------------------ edit routes

    def _put_section_all(self, request: _Request, key: str) -> _Reply:
        """plexapi's edit endpoint (notes §3.1); no ``id`` means every item of the section (lockAllField)."""
        section = self._section(key)
        ids = request.param("id")
        if not ids:
            return self._edit(self._section_items(section), request.query)
        try:
            keys = [int(x) for x in ids.split(",") if x]
        except ValueError:
            raise _HttpError(400, f"bad id list {ids!r}") from None
        items = [self._items.get(rating_key) for rating_key in keys]
        if any(item is None or item.section != section.key for item in items):
            # PMS's answer to a stale ratingKey here is unverified; 404 matches GET /library/metadata.
            raise _HttpError(404, f"unknown ratingKey in {ids!r} for section {section.key}")
        return self._edit(items, request.query)

    def _put_metadata(self, request: _Request, ids: str) -> _Reply:
        """The newer ``PUT /library/metadata/{ids}`` edit endpoint, same engine (plexapi never calls it)."""
        return self._edit([self._item_or_404(x) for x in ids.split(",")], request.query)

    def _edit(self, items: list[FakeItem], pairs: list[tuple[str, str]]) -> _Reply:
        plan = _plan_edit(pairs)
        now = self._now()
        for item in items:
            _apply_plan(plan, item, now)
            self._register_tags(item)
        for extension in self.extensions:
            getattr(extension, "items_edited", lambda edited: None)(items)
        return _empty_reply()

    def _put_refresh(self, request: _Request, rating_key: str) -> _Reply:
        item = self._item_or_404(rating_key)
        self._refreshes.append(item.rating_key)
        if self.refresh_applies_agent:
            self._apply_agent(item)
        return _empty_reply()

    # ------------------------------------------------------------------------------------------ image routes

    def _post_image(self, request: _Request, rating_key: str, route: str) -> _Reply:
        """Upload from ``url=`` or raw body bytes; the new image is selected and its lock set (notes §3.5)."""
        item = self._item_or_404(rating_key)
        kind = _IMAGE_KINDS[_ROUTE_IMAGE_KIND[route]]
        url = request.param("url")
        if url:
            self._add_image(item, kind, url)
        elif request.body:
            ref = f"upload://{kind.plural}/{hashlib.sha1(request.body).hexdigest()}"
            self._image_data[ref] = request.body
            setattr(item, f"{kind.name}_bytes", request.body)
            self._add_image(item, kind, ref)
        else:
            raise _HttpError(400, "upload needs url= or a body")
        return _empty_reply()

    def _add_image(self, item: FakeItem, kind: _ImageKind, ref: str) -> None:
        refs = getattr(item, kind.plural)
        if ref not in refs:
            refs.append(ref)
        setattr(item, f"selected_{kind.name}", ref)
        item.locks.add(kind.lock)
        item.fields["updatedAt"] = self._now()

    def _get_images(self, request: _Request, rating_key: str, route: str) -> _Reply:
        item = self._item_or_404(rating_key)
        kind = _IMAGE_KINDS[_ROUTE_IMAGE_KIND[route]]
        refs = getattr(item, kind.plural)
        selected = getattr(item, f"selected_{kind.name}")
        root = _el(None, "MediaContainer", {"size": len(refs), "identifier": "com.plexapp.plugins.library"})
        for ref in refs:
            local = f"/library/metadata/{item.rating_key}/file?url={quote(ref, safe='')}"
            key = local if ref.startswith("upload://") else ref
            _el(root, "Photo", {"key": key, "ratingKey": ref, "selected": int(ref == selected), "thumb": key})
        return _xml_reply(root)

    def _put_select_image(self, request: _Request, rating_key: str, route: str) -> _Reply:
        """``setPoster``/``setArt``: select an image (added if PMS had not listed it); locks it."""
        item = self._item_or_404(rating_key)
        url = request.param("url")
        if not url:
            raise _HttpError(400, "select needs url=")
        self._add_image(item, _IMAGE_KINDS[_ROUTE_IMAGE_KIND[route]], url)
        return _empty_reply()

    def _delete_image(self, request: _Request, rating_key: str, route: str) -> _Reply:
        """``deletePoster``/``deleteArt`` (plexapi 4.18): drop the selected image."""
        item = self._item_or_404(rating_key)
        kind = _IMAGE_KINDS[_ROUTE_IMAGE_KIND[route]]
        selected = getattr(item, f"selected_{kind.name}")
        if selected in getattr(item, kind.plural):
            getattr(item, kind.plural).remove(selected)
        setattr(item, f"selected_{kind.name}", None)
        setattr(item, f"{kind.name}_bytes", None)
        item.fields["updatedAt"] = self._now()
        return _empty_reply()

    def _get_image_bytes(self, request: _Request, rating_key: str, route: str) -> _Reply:
        """The selected uploaded image's bytes (what ``thumbUrl`` points at); 404 for URL images."""
        item = self._item_or_404(rating_key)
        kind = _IMAGE_KINDS[_ROUTE_IMAGE_KIND[route]]
        data = self._image_data.get(getattr(item, f"selected_{kind.name}") or "")
        if data is None:
            raise _HttpError(404, "no uploaded image selected")
        return _Reply(200, data, "image/jpeg")

    # ------------------------------------------------------------------------------------------ scan routes

    def _get_scan(self, request: _Request, key: str) -> _Reply:
        """``section.update(path=)``: record the scan; pending files under the path appear after scan_delay."""
        section = self._section(key)
        path = request.param("path") or None
        self._scans.append((section.key, path, request.param("force") == "1"))
        due = self._clock() + max(self.scan_delay, 0.0)
        for pending in self._pending:
            if pending.section == section.key and pending.due is None and _under(pending.path, path):
                pending.due = due
        self._materialise_due()
        return _empty_reply()

    def _delete_scan(self, request: _Request, key: str) -> _Reply:
        """``section.cancelUpdate()``: scans not yet due are forgotten; their files stay pending."""
        section = self._section(key)
        now = self._clock()
        for pending in self._pending:
            if pending.section == section.key and pending.due is not None and pending.due > now:
                pending.due = None
        return _empty_reply()
