"""Matching the file Plex scans to a Stash scene, never guessing.

``filename`` arrives as an absolute Plex path, a path relative to the library folder, or a bare file
name (sources disagree, plex-provider-notes.md §2.1), so all three are tried, strongest first:

* **100, path**: the path, mapped back with the inverse of ``path_map``, is a Stash file (a relative
  path is tried under each ``path_map`` Plex prefix too);
* **95, path suffix**: exactly one scene has a file whose path ends with the same folders and name;
* **90 / 85, name**: exactly one scene has a file of that name whose duration is within 2 s of the one
  Plex sends (90), or Plex sends no duration (85).

Several scenes at any tier is no automatic match: an empty list, and Plex leaves the item unmatched
rather than wrong. ``manual: 1`` (Fix Match) ranks every candidate instead, up to 20, and also searches
the typed title, or takes a typed scene id (``123``, ``scene-123`` or a Stash scene URL).
"""

import re
from dataclasses import dataclass
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from plexsync.paths import PathMapper, basename, is_windows
from plexsync.provider.index import SceneSummary, StashFileIndex

MANUAL_LIMIT = 20
DURATION_SLACK = 2.0  # seconds
_SCENE_ID = re.compile(r"^\s*(?:scene-)?([1-9][0-9]{0,17})\s*$|/scenes/([1-9][0-9]{0,17})(?:[/?#]|$)")
_WORD = re.compile(r"[0-9a-z]+")


class MatchRequest(BaseModel):
    """The body of Plex's ``POST /library/metadata/matches`` (unknown fields ignored)."""

    model_config = ConfigDict(extra="ignore")

    type: int = 1
    title: Optional[str] = Field(None, max_length=1000)
    year: Optional[int] = None
    filename: Optional[str] = Field(None, max_length=4096)
    guid: Optional[str] = Field(None, max_length=1000)
    manual: int = 0
    includeAdult: Optional[int] = None
    duration: Optional[int] = Field(None, ge=0)  # milliseconds

    @field_validator("manual", "includeAdult", mode="before")
    @classmethod
    def _flag(cls, value):
        return int(value) if isinstance(value, bool) else value

    @property
    def seconds(self) -> Optional[float]:
        """The duration Plex sent, in seconds (None when absent or zero)."""
        return self.duration / 1000 if self.duration else None


@dataclass(frozen=True)
class Candidate:
    """A scene that could be the file, with Plex's 0-100 score and why."""

    scene: SceneSummary
    score: int
    reason: str


def _parts(filename: str) -> list:
    return [part for part in re.split(r"[\\/]", filename) if part]


def _ends_with(path: str, parts: list) -> int:
    """How many trailing components of ``path`` equal ``parts`` (case-insensitively)."""
    mine, theirs = [p.lower() for p in _parts(path)], [p.lower() for p in parts]
    count = 0
    while count < min(len(mine), len(theirs)) and mine[-1 - count] == theirs[-1 - count]:
        count += 1
    return count


class FileMatcher:
    """Finds the scenes a Plex file name can belong to, by the tiers in the module docstring."""

    def __init__(self, index: StashFileIndex, mapper: PathMapper) -> None:
        self.index, self.mapper = index, mapper

    def by_path(self, filename: str) -> list:
        """Scenes with a file at the Stash path this Plex path maps to (relative: under each rule too)."""
        tried = [self.mapper.to_stash(filename)] if filename.startswith(("/", "\\")) or is_windows(filename) else []
        relative = "/".join(_parts(filename))
        tried += [self.mapper.to_stash(rule.plex.rstrip("/\\") + "/" + relative) for rule in self.mapper.rules]
        found = {}
        for stash_path in tried:
            for scene in self.index.scenes_at(stash_path):
                found[scene.id] = scene
        return list(found.values())

    def named(self, filename: str, seconds: Optional[float]) -> list:
        """(file, trailing components in common) for files with this name and a fitting duration."""
        parts = _parts(filename)
        if not parts:
            return []
        files = self.index.files_named(parts[-1])
        if seconds:
            files = [f for f in files if f.duration <= 0 or abs(f.duration - seconds) <= DURATION_SLACK]
        return [(f, _ends_with(f.path, parts)) for f in files]

    def automatic(self, request: MatchRequest) -> Optional[Candidate]:
        """The one scene the file certainly belongs to, or None."""
        filename = request.filename or ""
        if not filename.strip():
            return None
        exact = self.by_path(filename)
        if exact:
            return Candidate(exact[0], 100, "path") if len(exact) == 1 else None
        named = self.named(filename, request.seconds)
        deepest = max((depth for _, depth in named), default=0)
        if deepest >= 2:
            scenes = {f.scene_id for f, depth in named if depth == deepest}
            return self._one(scenes, 95, "path suffix")
        scenes = {f.scene_id for f, _ in named}
        return self._one(scenes, 90 if request.seconds else 85, "name and duration" if request.seconds else "name")

    def _one(self, scene_ids: set, score: int, reason: str) -> Optional[Candidate]:
        if len(scene_ids) != 1:
            return None
        scene = self.index.scene(next(iter(scene_ids)))
        return Candidate(scene, score, reason) if scene else None

    def manual(self, request: MatchRequest) -> list:
        """Ranked candidates for Fix Match: typed scene id, file tiers, then the typed title; at most 20."""
        found: dict = {}
        for candidate in self._typed_id(request.title) + self._by_file(request) + self._by_title(request):
            if candidate.score > found.get(candidate.scene.id, Candidate(candidate.scene, -1, "")).score:
                found[candidate.scene.id] = candidate
        ranked = sorted(found.values(), key=lambda c: (-c.score, c.scene.title.lower(), c.scene.id))
        return ranked[:MANUAL_LIMIT]

    def _typed_id(self, title: Optional[str]) -> list:
        hit = _SCENE_ID.search(title or "")
        scene = self.index.scene(int(hit[1] or hit[2])) if hit else None
        return [Candidate(scene, 100, "scene id")] if scene else []

    def _by_file(self, request: MatchRequest) -> list:
        filename = request.filename or ""
        if not filename.strip():
            return []
        found = [Candidate(scene, 100, "path") for scene in self.by_path(filename)]
        for entry, depth in self.named(filename, request.seconds):
            scene = self.index.scene(entry.scene_id)
            if scene:
                found.append(Candidate(scene, 95 if depth >= 2 else 85, "path suffix" if depth >= 2 else "name"))
        return found

    def _by_title(self, request: MatchRequest) -> list:
        words = set(_WORD.findall((request.title or "").lower()))
        if not words:
            return []
        found = []
        for scene in self.index.summaries():
            score = _title_score(words, scene, request.year)
            if score:
                found.append(Candidate(scene, score, "title"))
        return found


def _title_score(words: set, scene: SceneSummary, year: Optional[int]) -> int:
    """0-80 by how many typed words the scene's title (or file name) has; +5 for the same year."""
    title = scene.title or (basename(scene.files[0].path) if scene.files else "")
    have = set(_WORD.findall(title.lower()))
    share = len(words & have) / len(words)
    if share < 0.5:
        return 0
    score = 80 if have == words else 40 + int(35 * share)
    if year and scene.date[:4] == str(year):
        score += 5
    return min(score, 80)
