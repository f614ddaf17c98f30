"""The Stash side of a pull: what the scenes hold now, and the one request per scene that changes.

Reads: the scenes with new activity, 100 per ``findScenes(ids:)`` (which fails naming a missing id:
that scene is dropped and the rest asked again); for items no sync record or provider guid links,
pages of every scene's files (1,000 per request) for the matcher. Writes: one document per scene that
changes, whose parts run only when needed (``@include``) and each in its own Stash transaction, in
this order: ``sceneAddPlay(id, times)`` (the plays at Plex's times; Stash then derives ``play_count``
and ``last_played_at``), ``sceneSaveActivity(id, resume_time)`` (0 clears, as Stash's own player does
at the end of a video) and ``sceneUpdate(input: {id, rating100})``, which answers the scene as it
now is for the sync record. Neither of the first two fires a Stash hook or touches ``updated_at``
(``internal/api/resolver_mutation_scene.go``, ``pkg/sqlite/scene.go`` ``SaveActivity``); the rating
update does both, as any edit.
"""

import re
from datetime import datetime, timezone
from typing import Iterator, Optional

from plexsync.errors import InvalidData, StashTooOld
from plexsync.stash import SYNC_SCENE_FRAGMENT, StashClient

MIN_VERSION = (0, 25)
READ_BATCH = 100
FILES_PAGE = 1000
PULL_SCENES_QUERY = (
    "query PullScenes($ids: [ID!]) { findScenes(ids: $ids) {"
    " scenes { id title rating100 resume_time last_played_at play_history updated_at files { path } } } }"
)
SCENE_FILES_QUERY = (
    "query SceneFiles($filter: FindFilterType) { findScenes(filter: $filter) { count scenes { id files { path size } } } }"
)
PULL_SCENE_MUTATION = (
    "mutation PullScene($id: ID!, $times: [Timestamp!], $plays: Boolean!, $resume_time: Float, $resume: Boolean!,"
    " $input: SceneUpdateInput!, $rate: Boolean!) {"
    " sceneAddPlay(id: $id, times: $times) @include(if: $plays) { count }"
    " sceneSaveActivity(id: $id, resume_time: $resume_time) @include(if: $resume)"
    " sceneUpdate(input: $input) @include(if: $rate) { ...SyncScene } }" + SYNC_SCENE_FRAGMENT
)
_MISSING = re.compile(r"scene with id (\d+) not found")


def parse_version(text: str) -> Optional[tuple]:
    """(major, minor) of a Stash version string such as ``v0.25.1`` or ``v0.30.1-12-gabc``; None if unknown."""
    found = re.match(r"v?(\d+)\.(\d+)", text or "")
    return (int(found[1]), int(found[2])) if found else None


def stash_time(unix: int) -> str:
    """A unix time as the RFC3339 UTC text Stash's ``Timestamp`` accepts (Stash stores play times in UTC)."""
    return datetime.fromtimestamp(unix, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class StashScenes:
    """The pull's reads and writes against Stash."""

    def __init__(self, stash: StashClient) -> None:
        self.stash = stash

    def check_version(self) -> str:
        """Stash's version; StashTooOld before v0.25 (no play history with times), which changes nothing."""
        version = self.stash.version()
        parsed = parse_version(version)
        if parsed is not None and parsed < MIN_VERSION:
            raise StashTooOld(f"Stash {version} has no play history (it came in v0.25.0): nothing was pulled; "
                              "update Stash to pull plays, resume points and ratings")
        return version

    def read(self, scene_ids: list) -> dict:
        """scene id -> the scene's rating, resume time, plays and ``updated_at``; deleted scenes are absent."""
        found = {}
        for start in range(0, len(scene_ids), READ_BATCH):
            found.update(self._read_batch([str(i) for i in scene_ids[start:start + READ_BATCH]]))
        return found

    def _read_batch(self, ids: list) -> dict:
        while ids:
            try:
                data = self.stash.query(PULL_SCENES_QUERY, {"ids": ids}, "PullScenes")["findScenes"]
            except InvalidData as exc:  # findScenes(ids:) fails for the whole batch when one id is gone
                missing = _MISSING.search(str(exc))
                if missing is None or missing[1] not in ids:
                    raise
                ids = [i for i in ids if i != missing[1]]
                continue
            return {int(scene["id"]): scene for scene in data["scenes"] if scene}
        return {}

    def files(self) -> Iterator[list]:
        """Every scene's id and files, page by page (sorted by id, so pages stay stable)."""
        page = 1
        while True:
            variables = {"filter": {"page": page, "per_page": FILES_PAGE, "sort": "id", "direction": "ASC"}}
            data = self.stash.query(SCENE_FILES_QUERY, variables, "SceneFiles")["findScenes"]
            yield data["scenes"]
            if not data["scenes"] or page * FILES_PAGE >= data["count"]:
                return
            page += 1

    def apply(self, scene_id: int, times: list, resume: Optional[float], rating: Optional[tuple]) -> Optional[dict]:
        """One request: add the plays (unix times), set the resume time (None: leave it), set the rating
        (``(rating100 or None,)``; None: leave it). Returns the scene after a rating update, else None."""
        variables = {
            "id": str(scene_id), "times": [stash_time(t) for t in times] or None, "plays": bool(times),
            "resume_time": resume, "resume": resume is not None,
            "input": {"id": str(scene_id), **({"rating100": rating[0]} if rating is not None else {})},
            "rate": rating is not None,
        }
        data = self.stash.query(PULL_SCENE_MUTATION, variables, "PullScene")
        return data.get("sceneUpdate") if rating is not None else None
