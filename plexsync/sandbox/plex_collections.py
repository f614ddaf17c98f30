"""Collections in the fake Plex (type 18), as PMS keeps them; attach one to a :class:`FakePlex`.

What PMS does and plexapi 4.18 sends (plexapi ``collection.py``, ``library.py``; plex-api-notes.md):

* A regular collection is a tag: an item joins when its ``collection`` tag list gains the title (an
  edit, ``addCollection``), and the collection object exists from the moment its first member does,
  with its own ratingKey (from the same counter as items). Titles match case-insensitively within
  a section. A collection whose last member leaves stays, empty, until deleted [PMS, unverified].
* Listing: ``GET /library/sections/{id}/all?type=18`` (``section.collections()``) and
  ``GET /library/sections/{id}/collections``: ``<Directory type="collection">`` with ``childCount``,
  ``collectionSort``, ``summary``, ``thumb``; paged and ``totalSize`` like item listings.
* Detail: ``GET /library/metadata/{rk}`` (``Field`` locks, labels); members:
  ``GET /library/metadata/{rk}/children`` in the collection's order: release date (``collectionSort``
  0, the default), alphabetical (1) or custom (2, set by moves; new members join at the end).
* Edits: ``PUT /library/sections/{id}/all?type=18&id={rk}`` with ``title``, ``titleSort``, ``summary``,
  ``contentRating`` values, labels and locks. A title edit renames the tag on every member too
  [PMS, unverified: the collection is its tag].
* Advanced settings: ``GET``/``PUT /library/metadata/{rk}/prefs`` (``collectionSort``, ``collectionMode``).
* Members: ``PUT {key}/items?uri=server://.../library/metadata/1,2`` (add), ``DELETE {key}/items/{item}``,
  ``PUT {key}/items/{item}/move[?after={other}]`` (custom order); create with
  ``POST /library/collections?type=1&title=&smart=0&sectionId=&uri=``; ``DELETE /library/metadata/{rk}``.
* Posters: the item image routes (``POST .../posters`` uploads bytes or ``url=``, selects and locks
  ``thumb``; ``GET .../posters``; ``PUT .../poster?url=``) serve collections too.
"""

from __future__ import annotations

import re
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import unquote

from plexsync.sandbox.fake_plex import (
    FakeItem, FakePlex, _EditPlan, _HttpError, _paging, _plan_edit, _Reply, _Request, _el, _empty_reply, _field_locks,
    _image_paths, _tag_name, _xml_reply,
)

COLLECTION_TYPE = "18"  # plexapi utils.searchType("collection")
SORTS = {0: "Release date", 1: "Alphabetical", 2: "Custom"}
MODES = {-1: "Library default", 0: "Hide collection", 1: "Hide items in this collection", 2: "Show this collection and its items"}
EDITABLE = frozenset({"title", "titleSort", "summary", "contentRating"})
LOCKABLE = EDITABLE | {"thumb", "art", "label"}
_METADATA = re.compile(r"/library/metadata/(\d+(?:,\d+)*)")
_SUBPATH = re.compile(r"/library/metadata/(\d+)/(children|prefs|items)(?:/(\d+)(/move)?)?")
_SECTION = re.compile(r"/library/sections/(\d+)/(all|collections)")


@dataclass
class FakeCollection:
    """A regular collection: its fields, images and the order of its members (ratingKeys)."""

    rating_key: int
    section: int
    fields: dict = field(default_factory=dict)  # title, titleSort, summary, contentRating, addedAt, updatedAt
    locks: set = field(default_factory=set)
    labels: list = field(default_factory=list)
    order: list = field(default_factory=list)  # members in the order they joined, changed by moves
    collection_sort: int = 0
    collection_mode: int = -1
    guid: str = ""
    posters: list = field(default_factory=list)
    arts: list = field(default_factory=list)
    selected_poster: Optional[str] = None
    selected_art: Optional[str] = None
    poster_bytes: Optional[bytes] = None
    art_bytes: Optional[bytes] = None

    @property
    def title(self) -> str:
        """The collection's title (its tag)."""
        return self.fields["title"]


class PlexCollections:
    """Collection objects over a FakePlex's items (see the module docstring)."""

    def __init__(self, plex: FakePlex) -> None:
        self.plex = plex
        self._lock: threading.RLock = plex._lock
        self._collections: dict = {}  # ratingKey -> FakeCollection
        self._seen_items = -1  # item count at the last full look at the items' tags
        plex.extensions.append(self)

    # ------------------------------------------------------------------ state API for tests

    def all(self, section: Optional[int] = None) -> list:
        """Every collection (of one section), by ratingKey."""
        with self._lock:
            self._observe()
            return [c for _, c in sorted(self._collections.items()) if section is None or c.section == section]

    def by_title(self, title: str, section: Optional[int] = None) -> Optional[FakeCollection]:
        """The collection with this title (case-insensitive), or None."""
        return next((c for c in self.all(section) if c.title.lower() == title.lower()), None)

    def members(self, collection: FakeCollection) -> list:
        """Member ratingKeys in the collection's order."""
        with self._lock:
            self._observe()
            return [item.rating_key for item in self._ordered(collection)]

    def add(self, section: int, title: str, items: list = (), **fields: Any) -> int:
        """A collection made by hand in Plex (its members get the tag); returns its ratingKey."""
        with self._lock:
            collection = self._create(section, title)
            collection.fields.update(fields)
            for rating_key in items:
                self._join(self.plex._items[int(rating_key)], collection)
            return collection.rating_key

    # ------------------------------------------------------------------ FakePlex hooks

    def metadata_object(self, rating_key: int) -> Optional[FakeCollection]:
        """The collection behind a ratingKey, for the shared image routes."""
        self._catch_up()
        return self._collections.get(rating_key)

    def items_edited(self, items: list) -> None:
        """After an item edit: collections gain members (created with their first) or lose them."""
        self._observe(items)

    def route(self, request: _Request) -> Optional[_Reply]:
        """The collection routes; None (cheaply: every request comes here first) for anything else."""
        path = request.path
        if request.method == "POST" and path == "/library/collections":
            self._catch_up()
            return self._post_collection(request)
        section = _SECTION.fullmatch(path)
        if section:
            return self._section_route(request, int(section[1]), section[2])
        sub = _SUBPATH.fullmatch(path)
        if sub:
            self._catch_up()
            found = self._collections.get(int(sub[1]))
            return self._sub_route(request, found, sub[2], sub[3], bool(sub[4])) if found else None
        whole = _METADATA.fullmatch(path)
        if whole:
            self._catch_up()
            keys = [int(k) for k in whole[1].split(",")]
            if all(k in self._collections for k in keys):
                return self._metadata_route(request, [self._collections[k] for k in keys])
        return None

    # ------------------------------------------------------------------ membership

    def _catch_up(self) -> None:
        """A full look at the items' tags when items were added or removed since the last one."""
        if len(self.plex._items) != self._seen_items:
            self._observe()

    def _observe(self, items: Optional[list] = None) -> None:
        """Bring collections in line with the items' collection tags (new titles become collections)."""
        with self._lock:
            if items is None:
                items, self._seen_items = list(self.plex._items.values()), len(self.plex._items)
            keys = {item.rating_key for item in items}
            for item in items:
                for title in item.tag_names("collection"):
                    collection = self._find(item.section, title) or self._create(item.section, title)
                    if item.rating_key not in collection.order:
                        collection.order.append(item.rating_key)
            for collection in self._collections.values():
                if keys & set(collection.order):
                    collection.order = [k for k in collection.order if k not in keys or self._is_member(k, collection)]

    def _is_member(self, rating_key: int, collection: FakeCollection) -> bool:
        item = self.plex._items.get(rating_key)
        return item is not None and item.section == collection.section and \
            collection.title.lower() in (t.lower() for t in item.tag_names("collection"))

    def _find(self, section: int, title: str) -> Optional[FakeCollection]:
        return next((c for c in self._collections.values() if c.section == section and c.title.lower() == title.lower()), None)

    def _create(self, section: int, title: str) -> FakeCollection:
        if section not in self.plex._sections:
            raise _HttpError(404, f"no library section {section}")
        now = self.plex._now()
        collection = FakeCollection(self.plex._next("ratingKey"), section, {"title": title, "addedAt": now, "updatedAt": now},
                                    guid=f"collection://{uuid.uuid4()}")
        self._collections[collection.rating_key] = collection
        return collection

    def _join(self, item: FakeItem, collection: FakeCollection) -> None:
        if collection.title.lower() not in (t.lower() for t in item.tag_names("collection")):
            item.tags["collection"].append(collection.title)
            item.fields["updatedAt"] = self.plex._now()
        if item.rating_key not in collection.order:
            collection.order.append(item.rating_key)

    def _leave(self, item: FakeItem, collection: FakeCollection) -> None:
        item.tags["collection"] = [t for t in item.tags["collection"] if _tag_name(t).lower() != collection.title.lower()]
        item.fields["updatedAt"] = self.plex._now()
        self._observe([item])

    def _ordered(self, collection: FakeCollection) -> list:
        items = [self.plex._items[k] for k in collection.order if k in self.plex._items]
        if collection.collection_sort == 2:
            return items
        if collection.collection_sort == 1:
            return sorted(items, key=lambda i: str(i.fields.get("titleSort") or i.fields.get("title") or "").lower())
        return sorted(items, key=lambda i: (i.fields.get("originallyAvailableAt") or "9999", i.fields.get("addedAt") or 0))

    # ------------------------------------------------------------------ documents

    def _directory(self, collection: FakeCollection, detail: bool) -> ET.Element:
        section = self.plex._sections[collection.section]
        stamp = collection.fields.get("updatedAt")
        attrs = {
            "ratingKey": collection.rating_key, "key": f"/library/metadata/{collection.rating_key}/children",
            "guid": collection.guid, "type": "collection", "title": collection.title,
            "titleSort": collection.fields.get("titleSort"), "subtype": "movie", "summary": collection.fields.get("summary"),
            "contentRating": collection.fields.get("contentRating"), "index": collection.rating_key,
            **_image_paths(collection.rating_key, stamp, collection.selected_poster, collection.selected_art),
            "librarySectionID": section.key, "librarySectionTitle": section.title,
            "librarySectionKey": f"/library/sections/{section.key}", "childCount": len(self._ordered(collection)),
            "collectionSort": collection.collection_sort, "collectionMode": collection.collection_mode, "smart": 0,
            "addedAt": collection.fields.get("addedAt"), "updatedAt": stamp,
        }
        directory = _el(None, "Directory", attrs)
        for label in collection.labels:
            _el(directory, "Label", {"tag": label})
        if detail:
            _field_locks(directory, collection.locks)
        return directory

    def _listing(self, request: _Request, section: int) -> _Reply:
        title = (request.param("title") or "").lower()
        exact = (request.param("title=") or "").lower()
        found = [c for c in self.all(section) if title in c.title.lower() and (not exact or c.title.lower() == exact)]
        found.sort(key=lambda c: (str(c.fields.get("titleSort") or c.title).lower(), c.rating_key))
        start, size = _paging(request)
        page = found[start:] if size is None else found[start:start + size]
        root = _el(None, "MediaContainer", {"size": len(page), "totalSize": len(found), "offset": start,
                                            "librarySectionID": section, "identifier": "com.plexapp.plugins.library"})
        for collection in page:
            root.append(self._directory(collection, detail=False))
        return _xml_reply(root)

    def _section_route(self, request: _Request, section: int, route: str) -> Optional[_Reply]:
        if request.param("includeMeta") == "1" or (route == "all" and request.param("type") != COLLECTION_TYPE):
            return None
        self._catch_up()
        if route == "collections" and request.method == "GET":
            return self._listing(request, section)
        if route == "all":
            if request.method == "GET":
                return self._listing(request, section)
            if request.method == "PUT":
                return self._edit(request, section)
        return None

    def _metadata_route(self, request: _Request, collections: list) -> Optional[_Reply]:
        if request.method == "DELETE" and len(collections) == 1:
            return self._delete(collections[0])
        if request.method != "GET":
            return None
        root = _el(None, "MediaContainer", {"size": len(collections), "identifier": "com.plexapp.plugins.library"})
        for collection in collections:
            directory = self._directory(collection, detail=True)
            if request.param("includePreferences") == "1":
                directory.append(self._settings(collection))
            root.append(directory)
        return _xml_reply(root)

    # ------------------------------------------------------------------ changes

    def _edit(self, request: _Request, section: int) -> _Reply:
        keys = [int(k) for k in (request.param("id") or "").split(",") if k.isdigit()]
        collections = [self._collections.get(k) for k in keys]
        if not keys or any(c is None or c.section != section for c in collections):
            raise _HttpError(404, f"unknown collection in {request.param('id')!r} for section {section}")
        plan = _plan_edit(request.query)
        _check_plan(plan)
        for collection in collections:
            self._apply(collection, plan)
        return _empty_reply()

    def _apply(self, collection: FakeCollection, plan: _EditPlan) -> None:
        title = plan.values.get("title")
        if title and title.lower() != collection.title.lower():
            if self._find(collection.section, title):
                raise _HttpError(400, f"a collection named {title!r} exists")
            self._rename_members(collection, title)
        for name, value in plan.values.items():
            if value is None and name != "title":
                collection.fields.pop(name, None)
            elif value is not None:
                collection.fields[name] = value
        if "label" in plan.tag_lists:
            collection.labels = [entry["tag"] for _, entry in sorted(plan.tag_lists["label"].items()) if entry.get("tag")]
        gone = {name.lower() for name in plan.removals.get("label", [])}
        collection.labels = [label for label in collection.labels if label.lower() not in gone]
        for name, locked in plan.locks.items():
            (collection.locks.add if locked else collection.locks.discard)(name)
        collection.fields["updatedAt"] = self.plex._now()

    def _rename_members(self, collection: FakeCollection, title: str) -> None:
        for rating_key in collection.order:
            item = self.plex._items[rating_key]
            item.tags["collection"] = [title if _tag_name(t).lower() == collection.title.lower() else t
                                       for t in item.tags["collection"]]

    def _sub_route(self, request: _Request, collection: FakeCollection, route: str, member: Optional[str],
                   move: bool) -> Optional[_Reply]:
        if route == "children" and request.method == "GET" and member is None:
            return self._children(request, collection)
        if route == "prefs" and member is None:
            return self._prefs(request, collection)
        if route == "items" and member is None and request.method == "PUT":
            return self._add_items(request, collection)
        if route == "items" and member is not None:
            return self._member_change(request, collection, int(member), move)
        return None

    def _children(self, request: _Request, collection: FakeCollection) -> _Reply:
        items = self._ordered(collection)
        start, size = _paging(request)
        page = items[start:] if size is None else items[start:start + size]
        section = self.plex._sections[collection.section]
        root = _el(None, "MediaContainer", {"size": len(page), "totalSize": len(items), "offset": start,
                                            "librarySectionID": section.key, "librarySectionTitle": section.title,
                                            "title1": collection.title, "identifier": "com.plexapp.plugins.library"})
        for item in page:
            root.append(self.plex._video(item, detail=False))
        return _xml_reply(root)

    def _prefs(self, request: _Request, collection: FakeCollection) -> Optional[_Reply]:
        if request.method == "GET":
            root = _el(None, "MediaContainer", {"size": 2})
            root.append(self._settings(collection))
            return _xml_reply(root)
        if request.method != "PUT":
            return None
        values = dict(request.query)
        sort, mode = values.get("collectionSort"), values.get("collectionMode")
        if (sort is not None and not _choice(sort, SORTS)) or (mode is not None and not _choice(mode, MODES)):
            raise _HttpError(400, "collectionSort must be 0, 1 or 2 and collectionMode -1..2")
        collection.collection_sort = int(sort) if sort is not None else collection.collection_sort
        collection.collection_mode = int(mode) if mode is not None else collection.collection_mode
        return _empty_reply()

    @staticmethod
    def _settings(collection: FakeCollection) -> ET.Element:
        """``<Preferences>`` with the advanced settings (plexapi's ``preferences()`` reads them from the
        detail document with ``includePreferences=1``)."""
        preferences = _el(None, "Preferences", {})
        for name, current, default, choices in (("collectionMode", collection.collection_mode, -1, MODES),
                                                ("collectionSort", collection.collection_sort, 0, SORTS)):
            _el(preferences, "Setting", {"id": name, "label": name, "summary": "", "type": "int", "default": default,
                                         "value": current, "hidden": 0, "advanced": 0, "group": "",
                                         "enumValues": "|".join(f"{k}:{v}" for k, v in choices.items())})
        return preferences

    def _add_items(self, request: _Request, collection: FakeCollection) -> _Reply:
        for rating_key in _uri_keys(request.param("uri")):
            item = self.plex._items.get(rating_key)
            if item is None or item.section != collection.section:
                raise _HttpError(400, f"item {rating_key} is not in section {collection.section}")
            self._join(item, collection)
        collection.fields["updatedAt"] = self.plex._now()
        return _empty_reply()

    def _member_change(self, request: _Request, collection: FakeCollection, rating_key: int, move: bool) -> Optional[_Reply]:
        if rating_key not in collection.order:
            raise _HttpError(404, f"item {rating_key} is not in collection {collection.rating_key}")
        if request.method == "DELETE" and not move:
            self._leave(self.plex._items[rating_key], collection)
            return _empty_reply()
        if request.method != "PUT" or not move:
            return None
        after = request.param("after")
        if after is not None and (not after.isdigit() or int(after) not in collection.order or int(after) == rating_key):
            raise _HttpError(400, f"after={after!r} is not another member")
        collection.order.remove(rating_key)
        collection.order.insert(collection.order.index(int(after)) + 1 if after else 0, rating_key)
        collection.fields["updatedAt"] = self.plex._now()
        return _empty_reply()

    def _post_collection(self, request: _Request) -> _Reply:
        title, section = request.param("title"), request.param("sectionId")
        if request.param("smart") not in (None, "0") or not title or not (section or "").isdigit():
            raise _HttpError(400, "a regular collection needs title, sectionId and smart=0")
        collection = self._find(int(section), title) or self._create(int(section), title)
        for rating_key in _uri_keys(request.param("uri")):
            self._join(self.plex._items[rating_key], collection)
        root = _el(None, "MediaContainer", {"size": 1})
        root.append(self._directory(collection, detail=True))
        return _xml_reply(root)

    def _delete(self, collection: FakeCollection) -> _Reply:
        for rating_key in list(collection.order):
            item = self.plex._items[rating_key]
            item.tags["collection"] = [t for t in item.tags["collection"] if _tag_name(t).lower() != collection.title.lower()]
        del self._collections[collection.rating_key]
        return _empty_reply()


def _check_plan(plan: _EditPlan) -> None:
    """A collection takes its own fields and labels only (PMS answers 400 for others)."""
    bad = [name for name in plan.values if name not in EDITABLE] + [name for name in plan.locks if name not in LOCKABLE]
    bad += [kind for kind in list(plan.tag_lists) + list(plan.removals) if kind != "label"]
    if bad:
        raise _HttpError(400, f"not a collection field: {bad[0]}")
    if "title" in plan.values and not plan.values["title"]:
        raise _HttpError(400, "a collection needs a title")


def _choice(value: str, choices: dict) -> bool:
    return value.lstrip("-").isdigit() and int(value) in choices


def _uri_keys(uri: Optional[str]) -> list:
    """The ratingKeys of ``server://<machine>/com.plexapp.plugins.library/library/metadata/1,2``."""
    match = re.fullmatch(r"server://[0-9a-f]+/com\.plexapp\.plugins\.library/library/metadata/(\d+(?:,\d+)*)", unquote(uri or ""))
    if match is None:
        raise _HttpError(400, f"bad uri {uri!r}")
    return [int(key) for key in match[1].split(",")]

