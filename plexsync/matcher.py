"""Matching a Stash scene to exactly one Plex item, by file path, with a confidence.

HIGH: a mapped full path is on exactly one item. LOW: no full-path hit, but exactly one item has the
same file name and size. Several candidates: ambiguous. Under ``strict_matching`` only HIGH is written;
LOW and ambiguous matches are dead-lettered with the candidates listed. Never a write on a guess.
"""

import logging
from dataclasses import dataclass

from plexsync.errors import AmbiguousMatch, NotFoundYet
from plexsync.library import LibraryIndex
from plexsync.paths import PathMapper, basename
from plexsync.stashlog import PATHS

log = logging.getLogger(__name__)
HIGH, LOW = "high", "low"


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
        found = self._by_path(files)
        if found is None:
            self.index.refresh()
            found = self._by_path(files)
        return found or self._by_name(files)

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
