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
from typing import Optional
from urllib.parse import quote

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


def desired_state(scene: dict, settings) -> Desired:
    """Build the desired Plex state from a Stash scene (fetched from GraphQL) and the settings."""
    studio = clean((scene.get("studio") or {}).get("name"), TITLE_MAX)
    scalars = {}
    if settings.sync_title:
        scalars["title"] = clean(scene.get("title"), TITLE_MAX)
    if settings.sync_summary:
        scalars["summary"] = clean(scene.get("details"), SUMMARY_MAX)
    if settings.sync_studio:
        scalars["studio"] = studio
    if settings.sync_date:
        scalars["originallyAvailableAt"] = clean_date(scene.get("date"))
    tags = {}
    if settings.sync_tags:
        tags["label" if settings.tags_as == "labels" else "genre"] = clean_list([t.get("name") for t in scene.get("tags") or []])
    if settings.sync_performers:
        tags["actor"] = clean_list([p.get("name") for p in scene.get("performers") or []])
    if settings.sync_collection:
        tags["collection"] = [studio] if studio else []
    kinds = tuple(k for k, on in (("poster", settings.sync_poster), ("art", settings.sync_background)) if on)
    url = ((scene.get("paths") or {}).get("screenshot") or "") if kinds else ""
    base = Desired(scalars, tags, url, kinds)
    return Desired(scalars, tags, url, kinds, fingerprint=fingerprint(base))


def fingerprint(desired: Desired) -> str:
    """A hash of what would be written (the screenshot URL without its ``?t=`` cache buster)."""
    payload = {"s": desired.scalars, "t": desired.tags, "i": desired.image_url.split("?")[0], "k": desired.image_kinds}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PlexView:
    """What the Plex item shows now (from a detail fetch)."""

    scalars: dict
    tags: dict
    locked: frozenset


def plex_view(item) -> PlexView:
    """Read a plexapi Movie (detail document) into plain values."""
    available = item.originallyAvailableAt.strftime("%Y-%m-%d") if item.originallyAvailableAt else ""
    scalars = {"title": item.title or "", "summary": item.summary or "", "studio": item.studio or "",
               "originallyAvailableAt": available}
    tags = {"genre": [t.tag for t in item.genres], "label": [t.tag for t in item.labels],
            "actor": [t.tag for t in item.roles], "collection": [t.tag for t in item.collections]}
    locked = frozenset(f.name for f in item.fields if getattr(f, "locked", False))
    return PlexView(scalars, tags, locked)


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
    """(edit params for one PUT, the values now owned by PlexSync). Empty params = nothing to write."""
    params, owned = {}, {}
    for name, want in desired.scalars.items():
        value = _scalar_edit(name, want, view.scalars.get(name, ""), written.get(name), name in view.locked, preserve)
        owned[name] = want if want and (value is not None or view.scalars.get(name) == want) else None
        if value is not None:
            _put_scalar(params, name, value)
    for kind, want in desired.tags.items():
        have, wrote = view.tags.get(kind, []), written.get(kind) or []
        result = merged_tags(want, have, wrote)
        owned[kind] = want
        if result != have or (result and kind not in view.locked):
            _put_tags(params, kind, result, have)
    return params, {k: v for k, v in owned.items() if v is not None}


def _put_scalar(params: dict, name: str, value: str) -> None:
    params[f"{name}.value"] = value
    params[f"{name}.locked"] = 1 if value else 0
    if name == "title" and value:
        params["titleSort.value"], params["titleSort.locked"] = value, 1
    if name == "originallyAvailableAt":
        params["year.value"], params["year.locked"] = (value[:4], 1) if value else ("", 0)


def _put_tags(params: dict, kind: str, tags: list, have: list) -> None:
    for index, tag in enumerate(tags):
        params[f"{kind}[{index}].tag.tag"] = tag
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
