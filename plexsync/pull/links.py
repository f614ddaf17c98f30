"""Which Stash scene a Plex item is: the pull acts only on items PlexSync knows.

In this order: the scene whose last sync went to the item (its sync record); the scene the item's
provider guid names (library index); a link an earlier pull found by files (``pull_links``); else the
scene the matcher maps to the item by its files, by the same rules as the push (``strict_matching``
included). That last one needs the scenes' files: one paged listing (1,000 scenes per request), made
only when items with new activity are not linked otherwise, against the library index refreshed once.
What it finds is kept with the Stash file it matched by, and a link is used only while the scene still
has that file (``stale``). An item two scenes claim stays unlinked: never a write on a guess.
"""

import logging
from contextlib import contextmanager
from typing import Iterator, Optional

from plexsync.errors import AmbiguousMatch, NotFoundYet
from plexsync.library import LibraryIndex
from plexsync.matcher import Matcher, scene_files
from plexsync.pull.scenes import StashScenes
from plexsync.records import SyncRecords
from plexsync.state import StateDB

log = logging.getLogger(__name__)
SCHEMA = ("CREATE TABLE IF NOT EXISTS pull_links (rating_key INTEGER PRIMARY KEY, scene_id INTEGER NOT NULL,"
          " stash_file TEXT NOT NULL)")


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

    def __init__(self, db: StateDB, records: SyncRecords, matcher: Matcher, scenes: StashScenes) -> None:
        self.db, self.records, self.matcher, self.scenes = db, records, matcher, scenes
        self.files: dict = {}  # ratingKey -> the Stash file a file-found link was matched by
        db.execute(SCHEMA)

    def resolve(self, rating_keys: set) -> dict:
        """The scene of each item that has one; the others are absent."""
        keys = sorted(rating_keys)
        claims = {key: set(ids) for key, ids in self.records.scenes_of(keys).items()}
        for key in keys:
            scene_id = self.matcher.index.scene_of(key) if key not in claims else None
            if scene_id is not None:
                claims[key] = {scene_id}
        self._known_by_files([key for key in keys if key not in claims], claims)
        missing = set(keys) - set(claims)
        if missing:
            for key, scene_id in self._by_files(missing):
                claims.setdefault(key, set()).add(scene_id)
        return {key: ids.pop() for key, ids in claims.items() if len(ids) == 1 or self._ambiguous(key, ids)}

    def _known_by_files(self, keys: list, claims: dict) -> None:
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            for key, scene_id, stash_file in self.db.query(
                    f"SELECT rating_key, scene_id, stash_file FROM pull_links WHERE rating_key IN ({','.join('?' * len(chunk))})",
                    tuple(chunk)):
                claims[key], self.files[key] = {scene_id}, stash_file

    def _by_files(self, wanted: set) -> Iterator[tuple]:
        """(ratingKey, scene id) for the wanted items, from one pass over the scenes' files; each is kept."""
        left = set(wanted)
        with settled(self.matcher.index):
            for page in self.scenes.files():
                for scene in page:
                    key = self._match(scene)
                    if key in wanted:
                        left.discard(key)
                        self._keep(key, scene)
                        yield key, int(scene["id"])
                if not left:
                    return

    def _keep(self, key: int, scene: dict) -> None:
        stash_file = scene_files(scene)[0][0]
        self.files[key] = stash_file
        self.db.execute("INSERT OR REPLACE INTO pull_links (rating_key, scene_id, stash_file) VALUES (?, ?, ?)",
                        (key, int(scene["id"]), stash_file))

    def _match(self, scene: dict) -> Optional[int]:
        if not scene.get("files"):
            return None
        try:
            return self.matcher.match(scene).rating_key
        except (NotFoundYet, AmbiguousMatch):
            return None

    def stale(self, key: int, scene: dict) -> bool:
        """True if the item was linked by a file the scene no longer has; the link is then forgotten."""
        expected = self.files.get(key)
        if expected is None or expected in {path for path, _ in scene_files(scene)}:
            return False
        self.db.execute("DELETE FROM pull_links WHERE rating_key = ?", (key,))
        return True

    @staticmethod
    def _ambiguous(key: int, ids: set) -> bool:
        log.warning("Plex item %s: scenes %s all map to it; nothing pulled for it", key, ", ".join(map(str, sorted(ids))))
        return False
