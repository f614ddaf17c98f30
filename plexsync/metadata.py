"""What a Stash scene should look like in Plex, and the one edit that gets it there.

Text is sanitized once, here, at the boundary (NFC, no control characters, length limits cut at a
word boundary, tags de-duplicated case-insensitively and capped, dates validated). Ownership rules:
Stash wins for every enabled field, but an empty Stash value never erases a Plex value PlexSync did
not write; tags and actors PlexSync wrote earlier and the user removed in Stash are removed from Plex,
while ones the user added in Plex survive; ``preserve_plex_edits`` leaves a field alone that holds a
value PlexSync did not write. Every written field is locked so an agent refresh cannot revert it.
"""

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePath
from typing import Callable, Optional
from urllib.parse import quote

from plexsync import titles
from plexsync.paths import basename
from plexsync.rating import to_plex
from plexsync.tagroutes import TagRoutes

TITLE_MAX, SUMMARY_MAX, TAG_MAX, TAGS_MAX = 255, 10_000, 128, 100
SCALARS = ("title", "summary", "studio", "originallyAvailableAt")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u2028\u2029\ufeff]")


def clean(text: Optional[str], limit: int) -> str:
    """NFC, control characters removed, whitespace trimmed, cut at a word boundary under ``limit``."""
    if not text:
        return ""
    text = _CONTROL.sub("", unicodedata.normalize("NFC", str(text))).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


def clean_list(values: list, limit: int = TAGS_MAX) -> list:
    """Cleaned, non-empty, de-duplicated case-insensitively (first spelling wins), at most ``limit``."""
    seen, result = set(), []
    for value in values:
        text = clean(value, TAG_MAX)
        if text and text.lower() not in seen:
            seen.add(text.lower())
            result.append(text)
    return result[:limit]


def clean_date(value: Optional[str]) -> str:
    """A valid ``YYYY-MM-DD`` or empty."""
    if not value or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):
        return ""
    try:
        date.fromisoformat(value)
    except ValueError:
        return ""
    return value


@dataclass(frozen=True)
class Desired:
    """The Plex state a scene asks for; empty string / empty list = nothing to say (leave Plex alone)."""

    scalars: dict
    tags: dict  # plex tag type (genre|label|actor|collection) -> list, only for enabled types
    image_url: str = ""
    image_kinds: tuple = ()
    fingerprint: str = field(default="", compare=False)
    thumbs: dict = field(default_factory=dict)  # actor name -> photo URL (sync_performer_photos)
    groups: dict = field(default_factory=dict)  # collection title -> the scene's index in that group
    retired: tuple = ()  # tag types whose values PlexSync wrote earlier go (tags now routed elsewhere)
    collections: tuple = ()  # CollectionRef of each collection the scene belongs in
    rating: Optional[float] = None  # Plex's scale (0-10), only with ``sync_rating``; None = no rating to show


@dataclass(frozen=True)
class CollectionRef:
    """A collection a scene belongs in, and the Stash object (``studio`` or ``group``) behind it."""

    kind: str
    id: int
    title: str
    index: Optional[int] = None  # the scene's place in a group


@dataclass(frozen=True)
class Shaping:
    """What shaping needs besides the settings: the tag routes and the performer photo URL maker."""

    routes: TagRoutes = field(default_factory=TagRoutes)
    photo: Optional[Callable[[dict], str]] = None  # performer -> photo URL ("" for none)


def performer_name(performer: dict) -> str:
    """The cast name: Stash's disambiguation appended, so namesakes stay apart in Plex (``Name (UK)``)."""
    name = clean(performer.get("name"), TAG_MAX)
    extra = clean(performer.get("disambiguation"), TAG_MAX)
    return clean(f"{name} ({extra})", TAG_MAX) if name and extra else name


def scene_groups(scene: dict) -> list:
    """(id, name, scene_index) of each group the scene is in (``movies``, or ``groups`` on newer Stash)."""
    found = []
    for entry in (scene.get("movies") or []) + (scene.get("groups") or []):
        group = entry.get("movie") or entry.get("group") or {}
        if group.get("id") is not None:
            found.append((int(group["id"]), group.get("name"), entry.get("scene_index")))
    return list({group_id: (group_id, name, index) for group_id, name, index in found}.values())


def skip_reason(scene: dict, settings) -> Optional[str]:
    """Why settings keep a scene out of Plex (``only_organized``, ``skip_scene_tags``), or None."""
    if settings.only_organized and not scene.get("organized"):
        return "not organized (only_organized)"
    skip = set(settings.skip_tags)
    for tag in scene.get("tags") or []:
        if str(tag.get("name") or "").lower() in skip:
            return f'tagged "{tag.get("name")}" (skip_scene_tags)'
    return None


def scene_title(scene: dict, settings) -> str:
    """The title ``title_template`` makes; "" when only the file name would remain (Plex shows that already)."""
    parts = titles.parse(settings.title_template)
    own = clean(scene.get("title"), TITLE_MAX)
    if own and parts == ("", "title", ""):
        return own  # the default template: nothing to render
    files = scene.get("files") or []
    stem = "" if own or not files or not files[0].get("path") else clean(PurePath(basename(files[0]["path"])).stem, TITLE_MAX)
    values = {name: _title_field(scene, name) for name in set(parts[1::2]) - {"title"}}
    text = clean(titles.render(settings.title_template, {**values, "title": own or stem}), TITLE_MAX)
    return "" if not own and text == stem else text


def _title_field(scene: dict, name: str) -> str:
    if name == "studio":
        return clean((scene.get("studio") or {}).get("name"), TITLE_MAX)
    if name == "date":
        return clean_date(scene.get("date"))
    if name == "code":
        return clean(scene.get("code"), TITLE_MAX)
    return ", ".join(clean_list([performer_name(p) for p in scene.get("performers") or []]))


def desired_state(scene: dict, settings, shaping: Optional[Shaping] = None) -> Desired:
    """Build the desired Plex state from a Stash scene (fetched from GraphQL) and the settings."""
    shaping = shaping or Shaping()
    studio = clean((scene.get("studio") or {}).get("name"), TITLE_MAX)
    scalars = {}
    if settings.sync_title:
        scalars["title"] = scene_title(scene, settings)
    if settings.sync_summary:
        scalars["summary"] = clean(scene.get("details"), SUMMARY_MAX)
    if settings.sync_studio:
        scalars["studio"] = studio
    if settings.sync_date:
        scalars["originallyAvailableAt"] = clean_date(scene.get("date"))
    tags, retired = _routed_tags(scene, settings, shaping.routes)
    thumbs = {}
    if settings.sync_performers:
        tags["actor"] = clean_list([performer_name(p) for p in scene.get("performers") or []])
        thumbs = _thumbs(scene, tags["actor"], shaping.photo)
    refs = collection_refs(scene, settings)
    if settings.sync_collection:
        tags["collection"] = clean_list([ref.title for ref in refs])
    kinds = tuple(k for k, on in (("poster", settings.sync_poster), ("art", settings.sync_background)) if on)
    url = ((scene.get("paths") or {}).get("screenshot") or "") if kinds else ""
    groups = {ref.title: ref.index for ref in refs if ref.kind == "group"}
    rating = to_plex(scene.get("rating100")) if settings.sync_rating else None
    base = Desired(scalars, tags, url, kinds, thumbs=thumbs, groups=groups, retired=retired, collections=refs, rating=rating)
    return Desired(scalars, tags, url, kinds, fingerprint(base), thumbs, groups, retired, refs, rating)


def _routed_tags(scene: dict, settings, routes: TagRoutes) -> tuple:
    """Tags by Plex tag type after ``exclude_tags``/``label_tags``, and the types PlexSync no longer fills."""
    if not settings.sync_tags:
        return {}, ()
    default = "label" if settings.tags_as == "labels" else "genre"
    if not routes.excluded and not routes.labels:  # nothing routed: every tag where tags_as says
        other = "label" if default == "genre" else "genre"
        return {default: clean_list([t.get("name") for t in scene.get("tags") or []])}, (other,)
    lists: dict = {default: []}
    for tag in scene.get("tags") or []:
        route = routes.route(int(tag["id"])) if tag.get("id") is not None else "default"
        if route != "exclude":
            lists.setdefault("label" if route == "label" else default, []).append(tag.get("name"))
    tags = {kind: clean_list(names) for kind, names in lists.items()}
    return tags, tuple(kind for kind in ("genre", "label") if kind not in tags)


def _thumbs(scene: dict, names: list, photo: Optional[Callable[[dict], str]]) -> dict:
    if photo is None:
        return {}
    found = {}
    for performer in scene.get("performers") or []:
        name, url = performer_name(performer), photo(performer)
        if url and name in names:
            found.setdefault(name, url)
    return found


def collection_refs(scene: dict, settings) -> tuple:
    """The collections a scene belongs in, in ``collections_from`` order, de-duplicated by title."""
    studio = scene.get("studio") or {}
    parent = studio.get("parent_studio") or {}
    refs = []
    for source in settings.collection_sources:
        if source == "studio" and studio.get("name"):
            refs.append(CollectionRef("studio", int(studio.get("id") or 0), clean(studio["name"], TITLE_MAX)))
        elif source == "parent_studio" and parent.get("name"):
            refs.append(CollectionRef("studio", int(parent.get("id") or 0), clean(parent["name"], TITLE_MAX)))
        elif source == "group":
            refs += [CollectionRef("group", gid, clean(name, TITLE_MAX), index)
                     for gid, name, index in scene_groups(scene) if clean(name, TITLE_MAX)]
    unique: dict = {}
    for ref in refs:
        unique.setdefault(ref.title.lower(), ref)
    return tuple(unique.values())


def fingerprint(desired: Desired) -> str:
    """A hash of what would be written (the screenshot URL without its ``?t=`` cache buster).

    Photo URLs, group positions and the rating count only when there are any, so settings that add nothing to a
    scene leave its fingerprint as it was (no resync of everything after an upgrade).
    """
    payload = {"s": desired.scalars, "t": desired.tags, "i": desired.image_url.split("?")[0], "k": desired.image_kinds}
    if desired.thumbs:
        payload["p"] = desired.thumbs
    if desired.groups:
        payload["g"] = desired.groups
    if desired.rating is not None:
        payload["r"] = desired.rating
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PlexView:
    """What the Plex item shows now (from a detail fetch)."""

    scalars: dict
    tags: dict
    locked: frozenset
    thumbs: dict = field(default_factory=dict)  # actor name, lower-cased -> photo URL


def plex_view(item) -> PlexView:
    """Read a plexapi Movie (detail document) into plain values."""
    available = item.originallyAvailableAt.strftime("%Y-%m-%d") if item.originallyAvailableAt else ""
    scalars = {"title": item.title or "", "summary": item.summary or "", "studio": item.studio or "",
               "originallyAvailableAt": available}
    tags = {"genre": [t.tag for t in item.genres], "label": [t.tag for t in item.labels],
            "actor": [t.tag for t in item.roles], "collection": [t.tag for t in item.collections]}
    locked = frozenset(f.name for f in item.fields if getattr(f, "locked", False))
    thumbs = {t.tag.lower(): t.thumb for t in item.roles if getattr(t, "thumb", None)}
    return PlexView(scalars, tags, locked, thumbs)


def owned_by_provider(view: PlexView, written: dict) -> dict:
    """What a sync may treat as written by PlexSync on an item Plex matched through PlexSync's provider.

    Besides the sync record, every unlocked value: Plex locks a field a user edits, so an unlocked
    value came from the library's agent, which for such an item is PlexSync's provider, i.e. Stash.
    So tags removed in Stash are removed from the item although the push never wrote them.
    """
    owned = dict(written)
    for name in SCALARS:
        if name not in view.locked and view.scalars.get(name) and not owned.get(name):
            owned[name] = view.scalars[name]
    for kind, tags in view.tags.items():
        if kind not in view.locked and tags:
            owned[kind] = list(dict.fromkeys((owned.get(kind) or []) + tags))
    return owned


def _scalar_edit(name: str, want: str, have: str, wrote: Optional[str], locked: bool, preserve: bool) -> Optional[str]:
    """The value to send for one field, "" to clear it, or None to leave it alone."""
    if not want:
        return "" if have and wrote is not None and have == wrote else None
    if preserve and have and have != want and have != wrote:
        return None
    if have == want and locked:
        return None
    return want


def merged_tags(want: list, have: list, wrote: list) -> list:
    """Stash's list first, then tags the user added in Plex; tags PlexSync wrote and Stash dropped go."""
    ours = {t.lower() for t in wrote} | {t.lower() for t in want}
    return want + [t for t in have if t.lower() not in ours]


def plan_edit(desired: Desired, view: PlexView, written: dict, preserve: bool) -> tuple:
    """(edit params for one PUT, the values now owned by PlexSync). Empty params = nothing to write.

    A tag type in ``desired.retired`` (tags now routed elsewhere) loses what PlexSync wrote to it.
    Actor photos: Stash's where it has one, otherwise the photo Plex shows is sent back unchanged
    (indexed arrays replace every entry, photos included).
    """
    params, owned = {}, {}
    for name, want in desired.scalars.items():
        value = _scalar_edit(name, want, view.scalars.get(name, ""), written.get(name), name in view.locked, preserve)
        owned[name] = want if want and (value is not None or view.scalars.get(name) == want) else None
        if value is not None:
            _put_scalar(params, name, value)
    wanted = {**{kind: [] for kind in desired.retired if written.get(kind)}, **desired.tags}
    for kind, want in wanted.items():
        have, wrote = view.tags.get(kind, []), written.get(kind) or []
        result = merged_tags(want, have, wrote)
        owned[kind] = want
        photos = _photos(result, desired.thumbs, view.thumbs) if kind == "actor" else {}
        if result != have or (result and kind not in view.locked) or (photos and _new_photos(desired.thumbs, view.thumbs)):
            _put_tags(params, kind, result, have, photos)
    return params, {k: v for k, v in owned.items() if v is not None}


def _photos(names: list, wanted: dict, shown: dict) -> dict:
    """The photo to send with each actor: Stash's, else the one Plex shows (kept)."""
    return {name: wanted.get(name) or shown.get(name.lower()) for name in names if wanted.get(name) or shown.get(name.lower())}


def _new_photos(wanted: dict, shown: dict) -> bool:
    return any(shown.get(name.lower()) != url for name, url in wanted.items())


def _put_scalar(params: dict, name: str, value: str) -> None:
    params[f"{name}.value"] = value
    params[f"{name}.locked"] = 1 if value else 0
    if name == "title" and value:
        params["titleSort.value"], params["titleSort.locked"] = value, 1
    if name == "originallyAvailableAt":
        params["year.value"], params["year.locked"] = (value[:4], 1) if value else ("", 0)


def _put_tags(params: dict, kind: str, tags: list, have: list, photos: Optional[dict] = None) -> None:
    for index, tag in enumerate(tags):
        params[f"{kind}[{index}].tag.tag"] = tag
        if photos and photos.get(tag):
            params[f"{kind}[{index}].tag.thumb"] = photos[tag]
    if not tags and have:
        # indexed arrays replace the list; an empty list needs the removal form (plex-api-notes.md §3.3)
        params[f"{kind}[].tag.tag-"] = ",".join(quote(tag) for tag in have)
    params[f"{kind}.locked"] = 1


def describe(params: dict) -> str:
    """Which fields an edit changes, for the one-line outcome log (``title, studio, 3 genres``)."""
    parts = []
    for name in ("title", "summary", "studio", "originallyAvailableAt"):
        if f"{name}.value" in params:
            parts.append("date" if name == "originallyAvailableAt" else name)
    for kind in ("genre", "label", "actor", "collection"):
        count = sum(1 for key in params if key.startswith(f"{kind}[") and key.endswith("].tag.tag"))
        if count or f"{kind}[].tag.tag-" in params:
            parts.append(f"{count} {kind}s" if count != 1 else f"1 {kind}")
    photos = sum(1 for key in params if key.endswith("].tag.thumb"))
    if photos:
        parts.append(f"{photos} photos" if photos != 1 else "1 photo")
    return ", ".join(parts)


def drift(written: dict, view: PlexView) -> list:
    """How the Plex item no longer shows what PlexSync wrote: changed or emptied fields, removed locks."""
    found = []
    for name in SCALARS:
        if written.get(name):
            if view.scalars.get(name) != written[name]:
                found.append(f"{name} changed in Plex")
            elif name not in view.locked:
                found.append(f"{name} unlocked")
    for kind in ("genre", "label", "actor", "collection"):
        wrote = written.get(kind) or []
        if not wrote:
            continue
        present = {tag.lower() for tag in view.tags.get(kind, [])}
        missing = [tag for tag in wrote if tag.lower() not in present]
        if missing:
            found.append(f"{len(missing)} {kind}s missing in Plex")
        elif kind not in view.locked:
            found.append(f"{kind} unlocked")
    return found
