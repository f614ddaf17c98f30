"""The fake Stash's groups, studios, tags and performers beyond their names: what collections, tag routing
and performer photos read. A mixin of :class:`~plexsync.sandbox.fake_stash.FakeStash` (its resolvers are
found like the fake's own, by ``@resolves``).

Behaviour copied from Stash, with where it comes from:

* image URLs carry ``?t=<updated_at>`` and, for an object without an image, ``&default=true``
  (``internal/api/urlbuilders``); the placeholder is served all the same;
* a group's front cover is ``/group/<id>/frontimage`` (``/movie/<id>/frontimage`` before v0.27; both served);
* ``findMovies``/``findStudios``/``findTags`` with ``ids`` return those objects that exist; paging is
  ``FindFilterType``'s (``per_page`` -1 = all);
* a tag's ``parents``/``children`` are its direct neighbours; a deleted group leaves its scenes
  without an ``updated_at`` bump (a foreign-key cascade, like a deleted tag).
"""

from __future__ import annotations

import time
from typing import Any, Optional

from graphql import GraphQLError

PLACEHOLDER = b"\x89PNG\r\n\x1a\nFAKE-STASH-DEFAULT-IMAGE"


def resolves(type_name: str, field_name: str):
    """Mark a FakeStash method as the resolver of ``type_name.field_name`` (see fake_stash's docstring)."""
    def mark(method):
        method.resolves = (type_name, field_name)
        return method
    return mark


class StashObjects:
    """Groups (synopsis, front cover), studios (details, logo), tag hierarchy and performer images."""

    # -- the store ----------------------------------------------------------------------------------

    def add_group(self, name: str, synopsis: Optional[str] = None, front_image: Optional[bytes] = None) -> int:
        """Create a group (a "movie" before Stash 0.27); returns its id."""
        with self._lock:
            gid = self._new_id("group")
            self._groups[gid] = {"id": gid, "name": name, "synopsis": synopsis, "image": front_image, "t": self._stamp()}
            return gid

    def update_group(self, gid: int, **changes: Any) -> None:
        """Change a group's ``name``, ``synopsis`` or ``front_image`` (its ``?t=`` moves); scenes are untouched."""
        self._update(self._groups, gid, changes, {"name": "name", "synopsis": "synopsis", "front_image": "image"})

    def destroy_group(self, gid: int) -> None:
        """Delete a group; its scenes lose it without an updated_at bump."""
        with self._lock:
            del self._groups[gid]
            for scene in self._scenes.values():
                scene.groups = [(g, i) for g, i in scene.groups if g != gid]

    def update_studio(self, sid: int, **changes: Any) -> None:
        """Change a studio's ``name``, ``details``, ``image`` or ``parent`` (an id or None); scenes are untouched."""
        self._update(self._studios, sid, changes, {"name": "name", "details": "details", "image": "image", "parent": "parent"})

    def set_tag_parents(self, tid: int, parents: list) -> None:
        """Move a tag in the hierarchy (parent ids or names)."""
        with self._lock:
            self._tags[tid]["parents"] = [self._ref(self._tags, p, self.add_tag) for p in parents]

    def set_performer_image(self, pid: int, data: Optional[bytes]) -> None:
        """Give a performer an image (None: back to the placeholder); its ``?t=`` moves."""
        self._update(self._performers, pid, {"image": data}, {"image": "image"})

    def _update(self, table: dict, object_id: int, changes: dict, names: dict) -> None:
        unknown = set(changes) - set(names)
        if unknown:
            raise TypeError(f"unknown field(s): {', '.join(sorted(unknown))}")
        with self._lock:
            entry = table[object_id]
            for key, value in changes.items():
                entry[names[key]] = value
            entry["t"] = max(entry.get("t", 0) + 1, self._stamp())

    def _stamp(self) -> int:
        return int(getattr(self, "_clock", time.time)())

    # -- views ---------------------------------------------------------------------------------------

    @staticmethod
    def _image_url(base: str, path: str, entry: dict) -> str:
        return f"{base}/{path}?t={entry.get('t', 0)}" + ("" if entry.get("image") else "&default=true")

    def _group_view(self, gid: int, base: str = "") -> dict:
        group = self._groups[gid]
        return {"id": str(gid), "name": group["name"], "synopsis": group.get("synopsis"),
                "front_image_path": self._image_url(base or self._default_base(), f"group/{gid}/frontimage", group)}

    def _object_image(self, kind: str, object_id: int) -> Optional[bytes]:
        """The bytes a ``/<kind>/<id>/image`` (or a group's ``frontimage``) serves; None for no such object."""
        table = {"performer": self._performers, "studio": self._studios, "group": self._groups, "movie": self._groups}[kind]
        entry = table.get(object_id)
        if entry is None:
            return None
        return entry.get("image") or PLACEHOLDER

    # -- resolvers ------------------------------------------------------------------------------------

    @resolves("Query", "findMovies")
    def _find_movies(self, parent: None, args: dict, request) -> dict:
        return self._find(self._groups, args, "movie_filter", "movies", lambda g: self._group_view(g, request.base))

    @resolves("Query", "findStudios")
    def _find_studios(self, parent: None, args: dict, request) -> dict:
        return self._find(self._studios, args, "studio_filter", "studios", lambda s: self._studio_view(s, request.base))

    @resolves("Query", "findTags")
    def _find_tags(self, parent: None, args: dict, request) -> dict:
        return self._find(self._tags, args, "tag_filter", "tags", self._tag_view)

    def _find(self, table: dict, args: dict, filter_name: str, key: str, view) -> dict:
        """``{count, <key>: [...]}`` by ``ids`` and ``filter`` (sorted by id, paged as Stash pages)."""
        if args.get(filter_name):
            raise GraphQLError(f"the fake Stash does not implement {filter_name}")
        with self._lock:
            matching, page = self._listed(table, args)
            return {"count": len(matching), key: [view(object_id) for object_id in page]}

    @resolves("Tag", "parents")
    def _tag_parents(self, parent: dict, args: dict, request) -> list:
        with self._lock:
            return [self._tag_view(t) for t in self._tags[int(parent["id"])].get("parents", []) if t in self._tags]

    @resolves("Tag", "children")
    def _tag_children(self, parent: dict, args: dict, request) -> list:
        tid = int(parent["id"])
        with self._lock:
            return [self._tag_view(t) for t, tag in self._tags.items() if tid in tag.get("parents", [])]

    @staticmethod
    def _listed(table: dict, args: dict) -> tuple:
        """(all matching ids, the page of them) by ``ids`` and ``filter`` (sorted by id; pages as Stash's)."""
        ids = sorted(table) if args.get("ids") is None else [int(i) for i in args["ids"] if str(i).isdigit() and int(i) in table]
        find_filter = args.get("filter") or {}
        per_page = find_filter.get("per_page")
        per_page = 25 if per_page is None else per_page
        if per_page < 0:
            return ids, ids
        page = max(find_filter.get("page") or 1, 1)
        return ids, ids[(page - 1) * per_page:page * per_page]
