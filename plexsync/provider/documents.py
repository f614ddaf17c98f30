"""The JSON documents Plex reads from the provider (plex-provider-notes.md §1.3, §2.2, §3.2).

The metadata comes from the same shaping as the plugin's push (``plexsync.metadata.desired_state``):
the same cleaning, the same ``sync_*`` switches and ``tags_as``, so pull and push write the same
values. What a provider cannot send is left to the push: labels (``tags_as: labels`` sends no
Genre), uploaded covers, and removing tags (a Plex refresh adds tags, never removes them).
"""

from pathlib import PurePath
from typing import Optional

from plexsync import __version__
from plexsync.identity import IDENTIFIER, guid, rating_key
from plexsync.imagelinks import stash_image
from plexsync.metadata import TITLE_MAX, Shaping, clean, desired_state, performer_name
from plexsync.paths import basename
from plexsync.provider.images import ImageLinks, version_of
from plexsync.provider.index import SceneSummary
from plexsync.provider.matching import Candidate

MATCH_KEY, METADATA_KEY = "/library/metadata/matches", "/library/metadata"


def media_provider() -> dict:
    """The root document Plex reads when the provider is added (movies only: ``Types: [1]``)."""
    return {"MediaProvider": {
        "identifier": IDENTIFIER, "title": "PlexSync (Stash)", "version": __version__,
        "Types": [{"type": 1, "Scheme": [{"scheme": IDENTIFIER}]}],
        "Feature": [{"type": "metadata", "key": METADATA_KEY}, {"type": "match", "key": MATCH_KEY}],
    }}


def container(metadata: list, key: str = "Metadata") -> dict:
    """The MediaContainer envelope around a list of items (or images)."""
    return {"MediaContainer": {"offset": 0, "totalSize": len(metadata), "identifier": IDENTIFIER,
                               "size": len(metadata), key: metadata}}


def _stem(path: str) -> str:
    return PurePath(basename(path)).stem


def _identity(scene_id: int) -> dict:
    key = rating_key(scene_id)
    return {"type": "movie", "ratingKey": key, "guid": guid(scene_id), "key": f"{METADATA_KEY}/{key}"}


def _title(title: Optional[str], first_path: str, scene_id: int, settings) -> str:
    """Stash's title; with ``sync_title`` off or no title, the file name as Plex would show it."""
    wanted = clean(title, TITLE_MAX) if settings.sync_title else ""
    return wanted or clean(_stem(first_path), TITLE_MAX) or f"Scene {scene_id}"


def match_item(candidate: Candidate, settings) -> dict:
    """One entry of a match answer, from the index alone (no Stash request)."""
    scene = candidate.scene
    first = scene.files[0].path if scene.files else ""
    item = {**_identity(scene.id), "title": _title(scene.title, first, scene.id, settings), "score": candidate.score}
    if settings.sync_date and len(scene.date) == 10:
        item.update(year=int(scene.date[:4]), originallyAvailableAt=scene.date)
    return item


def _tags(names: list) -> list:
    return [{"tag": name} for name in names]


def _roles(scene: dict, links: Optional[ImageLinks]) -> list:
    """Performers in Stash order, numbered from 1, with signed photos when images are on (none for a
    performer without an image: Stash's placeholder is no photo)."""
    roles, seen = [], set()
    for performer in scene.get("performers") or []:
        name = performer_name(performer)
        if not name or name.lower() in seen:
            continue
        seen.add(name.lower())
        role = {"tag": name, "order": len(roles) + 1}
        if links and stash_image(performer.get("image_path")):
            role["thumb"] = links.url("performer", int(performer["id"]), version_of(performer["image_path"]))
        roles.append(role)
    return roles


def images(scene: dict, settings, links: Optional[ImageLinks]) -> list:
    """``Image[]``: the cover as poster and background (as the settings ask), only with a public URL."""
    cover = (scene.get("paths") or {}).get("screenshot")
    if not links or not cover:
        return []
    url = links.url("scene", int(scene["id"]), version_of(cover))
    kinds = (("coverPoster", settings.sync_poster), ("background", settings.sync_background))
    return [{"type": kind, "url": url, "alt": "Stash cover"} for kind, on in kinds if on]


def metadata(scene: dict, settings, links: Optional[ImageLinks], content_rating: str,
             shaping: Optional[Shaping] = None) -> dict:
    """The full Metadata object for one scene (the document behind ``GET /library/metadata/scene-<id>``):
    the same title template, tag routes and cast names as the push."""
    desired = desired_state(scene, settings, shaping)
    files = scene.get("files") or []
    title = desired.scalars.get("title") or _title(scene.get("title"), files[0]["path"] if files else "",
                                                   int(scene["id"]), settings)
    item = {**_identity(int(scene["id"])), "title": title}
    scalars = desired.scalars
    if scalars.get("summary"):
        item["summary"] = scalars["summary"]
    if scalars.get("studio"):
        item.update(studio=scalars["studio"], Studio=_tags([scalars["studio"]]))
    if scalars.get("originallyAvailableAt"):
        item.update(originallyAvailableAt=scalars["originallyAvailableAt"], year=int(scalars["originallyAvailableAt"][:4]))
    if files and files[0].get("duration"):
        item["duration"] = int(float(files[0]["duration"]) * 1000)
    if content_rating:
        item.update(contentRating=content_rating, isAdult=True)
    _add_people_and_tags(item, scene, desired.tags, settings, links)
    _add_images(item, images(scene, settings, links))
    return item


def _add_people_and_tags(item: dict, scene: dict, tags: dict, settings, links: Optional[ImageLinks]) -> None:
    if tags.get("genre"):
        item["Genre"] = _tags(tags["genre"])
    roles = _roles(scene, links) if settings.sync_performers else []
    if roles:
        item["Role"] = roles
    director = clean(scene.get("director"), TITLE_MAX)
    if director:
        item["Director"] = _tags([director])
    if tags.get("collection"):
        item["Collection"] = _tags(tags["collection"])


def _add_images(item: dict, found: list) -> None:
    if not found:
        return
    item["Image"] = found
    for entry in found:
        item["thumb" if entry["type"] == "coverPoster" else "art"] = entry["url"]


def summary_title(scene: SceneSummary, settings) -> str:
    """The title a match answer shows for an indexed scene (for log lines)."""
    return _title(scene.title, scene.files[0].path if scene.files else "", scene.id, settings)
