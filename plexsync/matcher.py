"""Matching a Stash scene to exactly one Plex item, with a confidence.

GUID: Plex matched the item through PlexSync's metadata provider, and its guid names the scene: the
strongest identity, above any path. HIGH: a mapped full path is on exactly one item. LOW: no full-path
hit, but exactly one item has the same file name and size. Several candidates: ambiguous. Under
``strict_matching`` only GUID and HIGH are written; LOW and ambiguous matches are dead-lettered with
the candidates listed. Never a write on a guess.

Conflict: the item at the scene's path carries a provider guid naming *another* scene (a Fix Match in
Plex, or a file moved between scenes in Stash). It is logged; under ``strict_matching`` the path wins
(Stash's file is the fact), otherwise the guid wins and the scene takes the item its own guid names,
or is dead-lettered when there is none.
"""

import logging
from dataclasses import dataclass

from plexsync.errors import AmbiguousMatch, NotFoundYet
from plexsync.library import LibraryIndex
from plexsync.paths import PathMapper, basename
from plexsync.stashlog import PATHS

log = logging.getLogger(__name__)
GUID, HIGH, LOW = "guid", "high", "low"


@dataclass(frozen=True)
class Match:
    """The Plex item a scene maps to."""

    rating_key: int
    confidence: str
    plex_file: str


def scene_files(scene: dict) -> list:
    """(path, size) of each of the scene's files, primary first."""
    return [(f["path"], int(f.get("size") or 0)) for f in scene.get("files") or [] if f.get("path")]


class Matcher:
    """Resolves scenes against the library index."""

    def __init__(self, index: LibraryIndex, mapper: PathMapper, strict: bool = True) -> None:
        self.index, self.mapper, self.strict = index, mapper, strict

    def match(self, scene: dict) -> Match:
        """The one item for this scene; NotFoundYet, or AmbiguousMatch (a permanent error)."""
        files = scene_files(scene)
        if not files:
            raise AmbiguousMatch(f"scene {scene.get('id')} has no files, so there is nothing to match in Plex")
        scene_id = int(scene.get("id") or 0)
        found = self._identity(scene_id, files)
        if found is None:
            self.index.refresh()
            found = self._identity(scene_id, files)
        return found or self._by_name(files)

    def _identity(self, scene_id: int, files: list):
        """The item the provider's guid or the exact path names, by the conflict rule in the docstring."""
        guided = self._by_guid(scene_id)
        try:
            pathed = self._by_path(files)
        except AmbiguousMatch:
            if guided:
                return guided
            raise
        other = self.index.scene_of(pathed.rating_key) if pathed else None
        if other not in (None, scene_id):
            return self._conflict(scene_id, other, pathed, guided)
        return guided or pathed

    def _by_guid(self, scene_id: int):
        items = self.index.by_scene(scene_id) if scene_id else []
        if len(items) > 1:
            raise AmbiguousMatch(f"several Plex items carry scene {scene_id}'s provider guid: ratingKeys "
                                 f"{', '.join(str(key) for key, _ in items)}; use Fix Match in Plex on all but one")
        return Match(items[0][0], GUID, items[0][1]) if items else None

    def _conflict(self, scene_id: int, other: int, pathed: Match, guided):
        where = f"Plex item {pathed.rating_key} has scene {scene_id}'s file, but Plex matched it to scene {other} through the provider"
        if self.strict:
            log.warning("%s; strict_matching: the path wins", where)
            return pathed
        if guided:
            log.warning("%s; the guid wins: scene %s goes to item %s, whose guid names it", where, scene_id, guided.rating_key)
            return guided
        raise AmbiguousMatch(f"{where}; fix the match in Plex, or turn strict_matching on to let the path win")

    def _by_path(self, files: list):
        hits = {}
        for path, _ in files:
            plex_path = self.mapper.to_plex(path)
            for key in self.index.by_path(plex_path):
                hits[key] = plex_path
        if len(hits) > 1:
            raise AmbiguousMatch(f"several Plex items have the scene's files: ratingKeys {', '.join(map(str, sorted(hits)))}")
        if hits:
            key, plex_path = next(iter(hits.items()))
            return Match(key, HIGH, plex_path)
        return None

    def _by_name(self, files: list) -> Match:
        candidates = sorted({pair for path, size in files for pair in self.index.by_name(basename(self.mapper.to_plex(path)), size)})
        if not candidates:
            shown = PATHS.shown(self.mapper.to_plex(files[0][0]))
            raise NotFoundYet(f"Plex has no item for {shown} yet (not scanned, or path_map does not map the Stash path to Plex's)")
        listing = "; ".join(f"{key}: {PATHS.shown(file)}" for key, file in candidates[:5])
        if len({key for key, _ in candidates}) > 1:
            raise AmbiguousMatch(f"no Plex item has the exact path, and several have the same file name and size ({listing}); fix path_map")
        key, file = candidates[0]
        if self.strict:
            raise AmbiguousMatch(f"only a low-confidence match (same file name and size, other folder): {listing}; "
                                 "fix path_map, or turn strict_matching off to accept it")
        return Match(key, LOW, file)
