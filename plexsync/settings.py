"""The plugin's settings: one validated model, read from Stash's plugin configuration.

Every key here is declared in ``PlexSync.yml`` and vice versa (a test asserts it). Stash omits
settings the user never saved (stash-plugin-protocol.md §4.1), so every field has a default. A bad
value gives one line naming the key and what it accepts; the Plex token never appears in a message.
"""

import functools
import os
import re
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from plexsync import titles
from plexsync.errors import ConfigError
from plexsync.stashlog import mask

PLUGIN_ID = "PlexSync"
COLLECTION_SOURCES = ("studio", "parent_studio", "group")
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]|^\\\\")


@dataclass(frozen=True)
class PathRule:
    """One ``path_map`` rule: a Stash path prefix and the Plex prefix it becomes."""

    stash: str
    plex: str


class Settings(BaseModel):
    """Every PlexSync setting with its default (the manifest declares the same keys)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    plex_url: str = ""
    plex_token: SecretStr = SecretStr("")
    plex_libraries: str = ""
    path_map: str = ""
    strict_matching: bool = True
    preserve_plex_edits: bool = False
    sync_title: bool = True
    sync_summary: bool = True
    sync_studio: bool = True
    sync_date: bool = True
    sync_performers: bool = True
    sync_tags: bool = True
    sync_poster: bool = True
    sync_background: bool = True
    sync_collection: bool = True
    tags_as: Literal["genres", "labels"] = "genres"
    max_retries: int = Field(5, ge=1, le=20)
    connect_timeout: float = Field(5, ge=1, le=30)
    read_timeout: float = Field(30, ge=5, le=120)
    trigger_plex_scan: bool = True
    dlq_retention_days: int = Field(30, ge=1, le=365)
    debug_logging: bool = False
    obfuscate_paths: bool = False
    reconcile_interval: Literal["never", "daily", "weekly"] = "never"
    sync_rating: bool = True
    pull_plays: bool = False
    pull_resume: bool = False
    pull_ratings: bool = False
    pull_other_users: bool = False
    pull_interval: Literal["never", "hourly", "daily"] = "never"
    collections_from: str = "studio"
    sync_performer_photos: bool = False
    exclude_tags: str = ""
    label_tags: str = ""
    only_organized: bool = False
    skip_scene_tags: str = ""
    missing_in_plex: Literal["retry", "ignore"] = "retry"
    title_template: str = titles.DEFAULT_TEMPLATE

    @field_validator("plex_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must start with http:// or https:// followed by a host, e.g. http://192.168.1.10:32400")
        return value

    @field_validator("tags_as", "reconcile_interval", "pull_interval", "missing_in_plex", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("path_map")
    @classmethod
    def _check_path_map(cls, value: str) -> str:
        parse_path_map(value)
        return value

    @field_validator("collections_from")
    @classmethod
    def _check_collections_from(cls, value: str) -> str:
        unknown = [name for name in names_in(value.lower()) if name not in COLLECTION_SOURCES]
        if unknown:
            raise ValueError(f"unknown source {unknown[0]!r}; use a comma-separated list of {', '.join(COLLECTION_SOURCES)}")
        return value

    @field_validator("title_template")
    @classmethod
    def _check_title_template(cls, value: str) -> str:
        return titles.check(value.strip() or titles.DEFAULT_TEMPLATE)

    @property
    def collection_sources(self) -> tuple:
        """Where collections come from (``collections_from``), in the configured order; none with
        ``sync_collection`` off."""
        return _sources(self.collections_from) if self.sync_collection else ()

    @property
    def excluded_tags(self) -> list:
        """``exclude_tags`` names, lower-cased (a listed parent excludes its descendants too)."""
        return [name.lower() for name in names_in(self.exclude_tags)]

    @property
    def label_parents(self) -> list:
        """``label_tags`` names, lower-cased (the tag and its descendants become labels)."""
        return [name.lower() for name in names_in(self.label_tags)]

    @property
    def skip_tags(self) -> list:
        """``skip_scene_tags`` names, lower-cased: scenes carrying any of them are not synced."""
        return [name.lower() for name in names_in(self.skip_scene_tags)]

    @property
    def libraries(self) -> list:
        """Configured Plex section names; empty means every movie section."""
        return names_in(self.plex_libraries)

    @property
    def path_rules(self) -> list:
        """The ``path_map`` rules, longest Stash prefix first (longest prefix wins)."""
        return sorted(parse_path_map(self.path_map), key=lambda rule: len(rule.stash), reverse=True)

    @property
    def token(self) -> str:
        """The Plex token (only ever sent in a header)."""
        return self.plex_token.get_secret_value()

    @property
    def pulls(self) -> bool:
        """True if anything is to be pulled from Plex (plays, resume points or ratings)."""
        return self.pull_plays or self.pull_resume or self.pull_ratings

    def require_plex(self) -> None:
        """Raise ConfigError unless Plex can be reached with these settings."""
        if not self.plex_url:
            raise ConfigError("plex_url: not set; enter your Plex server's URL (e.g. http://192.168.1.10:32400) in Settings > Plugins > PlexSync")
        if not self.token:
            raise ConfigError("plex_token: not set; enter your X-Plex-Token in Settings > Plugins > PlexSync")

    def describe(self) -> str:
        """One line for logs, token masked."""
        return f"plex_url={self.plex_url or '(unset)'} plex_token={mask(self.token) or '(unset)'} libraries={self.libraries or 'all movie sections'}"


@functools.lru_cache(maxsize=8)
def _sources(text: str) -> tuple:
    return tuple(dict.fromkeys(names_in(text.lower())))


def names_in(text: str) -> list:
    """The non-empty, trimmed names of a comma-separated setting."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def parse_path_map(text: str) -> list:
    """Parse ``/stash/prefix=>/plex/prefix; ...``; raises ValueError naming the bad rule."""
    rules = []
    for number, part in enumerate(filter(None, (p.strip() for p in text.replace("\n", ";").split(";"))), 1):
        if "=>" not in part:
            raise ValueError(f"rule {number} '{part[:60]}' has no '=>' (write /stash/prefix=>/plex/prefix)")
        stash, plex = (side.strip() for side in part.split("=>", 1))
        if not stash or not plex:
            raise ValueError(f"rule {number} '{part[:60]}' needs a path on both sides of '=>'")
        rules.append(PathRule(stash, plex))
    return rules


def _describe_error(error: dict) -> str:
    key = ".".join(str(p) for p in error.get("loc", ())) or "settings"
    context = error.get("ctx") or {}
    kind = error.get("type", "")
    bounds = _RANGES.get(key)
    if bounds and kind in ("greater_than_equal", "less_than_equal", "int_parsing", "float_parsing", "int_from_float"):
        return f"{key}: must be a number from {bounds[0]} to {bounds[1]}"
    if kind == "literal_error":
        return f"{key}: must be one of {context.get('expected', '')}"
    if kind.startswith("bool"):
        return f"{key}: must be true or false"
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{key}: {message}"


_RANGES = {"max_retries": (1, 20), "connect_timeout": (1, 30), "read_timeout": (5, 120), "dlq_retention_days": (1, 365)}


def load_settings(stored: Mapping[str, Any], env: Mapping[str, str] = os.environ) -> Settings:
    """Build Settings from Stash's stored map, with PLEX_URL/PLEX_TOKEN as fallbacks; ConfigError on bad values."""
    values = {key: value for key, value in dict(stored or {}).items() if value is not None}
    if not values.get("plex_url") and env.get("PLEX_URL"):
        values["plex_url"] = env["PLEX_URL"]
    if not values.get("plex_token") and env.get("PLEX_TOKEN"):
        values["plex_token"] = env["PLEX_TOKEN"]
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError("; ".join(_describe_error(e) for e in exc.errors(include_input=False))) from None
