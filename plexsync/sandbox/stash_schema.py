"""Which GraphQL schema the fake Stash serves: the project's subset SDL, or a Stash release's own schema.

``stash_subset.graphql`` (next to this module) is the part of Stash's schema that PlexSync and the
fake Stash use, written for this project. Stash's own ``graphql/schema`` files for several releases
live outside the repository, one folder per release in ``../shared/stash-schema/`` relative to the
repository root; nothing from there is copied in. When that folder is absent (the project was
cloned alone) only the subset is available, and the tests that need a release skip.

Supported releases are the folders from v0.25.1 on (the README's compatibility line). A folder that
is not a tagged release (``develop-2026-01-11``) sorts after every tagged one and is supported too,
but "the newest release" is the newest tagged one: what users run.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Optional, Union

from graphql import GraphQLSchema, build_schema

REPO = Path(__file__).resolve().parents[2]
SHARED_SCHEMAS = REPO.parent / "shared" / "stash-schema"
SUBSET_SDL = Path(__file__).with_name("stash_subset.graphql")
OLDEST_SUPPORTED = (0, 25, 1)
MISSING = f"{SHARED_SCHEMAS} is absent: no Stash release schema to test against"

# What the subset declares that an older supported release lacks (the subset follows the newest one).
# tests/test_stash_schema.py checks that each entry really is missing there and nothing else is.
RELEASE_GAPS = {
    "v0.25.1": {"Scene.groups", "Group", "SceneGroup", "SceneGroupInput", "SceneUpdateInput.groups",
                "StashID.updated_at", "StashIDInput.updated_at"},  # groups arrived in v0.27
    "v0.27.2": {"StashID.updated_at", "StashIDInput.updated_at"},   # arrived in v0.28
}

SchemaSource = Union[str, Path, None]


def release_version(folder: Path) -> Optional[tuple]:
    """``(0, 25, 1)`` for a folder named ``v0.25.1``; None for one that is not a tagged release."""
    match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)", folder.name)
    return tuple(int(part) for part in match.groups()) if match else None


def _order(folder: Path) -> tuple:
    version = release_version(folder)
    return (0, version, "") if version else (1, (), folder.name)


def supported_releases(root: Path = SHARED_SCHEMAS) -> list:
    """Every supported release folder under ``root``, oldest first (empty when ``root`` is absent)."""
    if not root.is_dir():
        return []
    folders = [f for f in root.iterdir() if f.is_dir() and any(f.glob("*.graphql"))]
    supported = [f for f in folders if (release_version(f) or OLDEST_SUPPORTED) >= OLDEST_SUPPORTED]
    return sorted(supported, key=_order)


def newest_release(root: Path = SHARED_SCHEMAS) -> Optional[Path]:
    """The newest tagged release folder, or None when there is none."""
    tagged = [f for f in supported_releases(root) if release_version(f)]
    return tagged[-1] if tagged else None


def release(name: str, root: Path = SHARED_SCHEMAS) -> Optional[Path]:
    """The folder of one release (``"v0.25.1"``), or None when it is not there."""
    folder = root / name
    return folder if folder.is_dir() else None


def schema_sdl(source: SchemaSource = None) -> str:
    """The SDL text: the project's subset (``None``) or a release folder's files concatenated."""
    if source is None:
        return SUBSET_SDL.read_text(encoding="utf-8")
    files = sorted(Path(source).glob("*.graphql"))
    if not files:
        raise FileNotFoundError(f"no .graphql files in {source}")
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


def load_schema(source: SchemaSource = None) -> GraphQLSchema:
    """The built schema for the subset (``None``) or a release folder; built once per process."""
    return _build(str(Path(source).resolve()) if source is not None else None)


@functools.lru_cache(maxsize=None)
def _build(source: Optional[str]) -> GraphQLSchema:
    return build_schema(schema_sdl(source))


def describe(source: SchemaSource = None) -> str:
    """What a fake Stash with this schema serves, for people reading the demo's output."""
    if source is None:
        return "the project's subset of Stash's schema (plexsync/sandbox/stash_subset.graphql)"
    return f"Stash {Path(source).name}'s own schema ({source})"
