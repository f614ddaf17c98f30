"""Which Stash scene a Plex item is: the pull acts only on items PlexSync knows.

In this order: the scene whose last sync went to the item (its sync record); the scene the item's
provider guid names (library index); else the scene the matcher maps to the item by its files, the same
rules as the push (``strict_matching`` included). The last needs the scenes' files: one paged listing
(1,000 scenes per request), made only when items with new activity are not linked otherwise, against
the library index refreshed once. An item two scenes claim stays unlinked: never a write on a guess.
"""

import logging
from contextlib import contextmanager
from typing import Iterator

from plexsync.errors import AmbiguousMatch, NotFoundYet
from plexsync.library import LibraryIndex
from plexsync.matcher import Matcher
from plexsync.pull.scenes import StashScenes
from plexsync.records import SyncRecords

log = logging.getLogger(__name__)


@contextmanager
def settled(index: LibraryIndex) -> Iterator[None]:
    """The index refreshed once, then looked up as it is: a pass over every scene must not relist Plex
    for each scene the matcher misses (``offline`` is the index's switch for lookups without refreshes)."""
    index.refresh(force=True)
    was, index.offline = index.offline, True
    try:
        yield
    finally:
        index.offline = was


class Links:
    """ratingKey -> scene id for the items a pull has activity for."""

    def __init__(self, records: SyncRecords, matcher: Matcher, scenes: StashScenes) -> None:
        self.records, self.matcher, self.scenes = records, matcher, scenes

    def resolve(self, rating_keys: set) -> dict:
        """The scene of each item that has one; the others are absent."""
        keys = sorted(rating_keys)
        claims = {key: set(ids) for key, ids in self.records.scenes_of(keys).items()}
        for key in keys:
            if key not in claims:
                scene_id = self.matcher.index.scene_of(key)
                if scene_id is not None:
                    claims[key] = {scene_id}
        missing = set(keys) - set(claims)
        if missing:
            for key, scene_id in self._by_files(missing):
                claims.setdefault(key, set()).add(scene_id)
        return {key: ids.pop() for key, ids in claims.items() if len(ids) == 1 or self._ambiguous(key, ids)}

    def _by_files(self, wanted: set) -> Iterator[tuple]:
        """(ratingKey, scene id) for the wanted items, from one pass over the scenes' files."""
        left = set(wanted)
        with settled(self.matcher.index):
            for page in self.scenes.files():
                for scene in page:
                    key = self._match(scene)
                    if key in wanted:
                        left.discard(key)
                        yield key, int(scene["id"])
                if not left:
                    return

    def _match(self, scene: dict):
        if not scene.get("files"):
            return None
        try:
            return self.matcher.match(scene).rating_key
        except (NotFoundYet, AmbiguousMatch):
            return None

    @staticmethod
    def _ambiguous(key: int, ids: set) -> bool:
        log.warning("Plex item %s: scenes %s all map to it; nothing pulled for it", key, ", ".join(map(str, sorted(ids))))
        return False
