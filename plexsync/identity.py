"""PlexSync's identity as a Plex metadata provider: the identifier, ratingKeys and guids.

Shared by the provider (which hands these to Plex) and the plugin (which recognises items Plex matched
through the provider). The identifier is stable forever: Plex stores each matched item's guid
verbatim, so changing it would orphan every match (plex-provider-notes.md §2.3, §9).
"""

import re
from typing import Optional

IDENTIFIER = "tv.plex.agents.custom.plexsync"
GUID_PREFIX = f"{IDENTIFIER}://movie/scene-"
_RATING_KEY = re.compile(r"scene-([1-9][0-9]{0,17})")
_GUID = re.compile(re.escape(GUID_PREFIX) + r"([1-9][0-9]{0,17})")


def rating_key(scene_id: int) -> str:
    """The ratingKey of a scene: ``scene-<id>`` (only ``[a-zA-Z0-9_-]``, as Plex requires)."""
    return f"scene-{int(scene_id)}"


def guid(scene_id: int) -> str:
    """The guid Plex stores on an item matched to a scene: ``<identifier>://movie/scene-<id>``."""
    return f"{GUID_PREFIX}{int(scene_id)}"


def scene_from_rating_key(key: str) -> Optional[int]:
    """The scene id a ratingKey names, or None when it is not one of ours."""
    found = _RATING_KEY.fullmatch(key or "")
    return int(found[1]) if found else None


def scene_from_guid(value: str) -> Optional[int]:
    """The scene id an item's guid names, or None when the provider did not match the item."""
    found = _GUID.fullmatch(value or "")
    return int(found[1]) if found else None
