"""The provider's own configuration, from the environment; everything else comes from the plugin settings.

``STASH_URL`` (required), ``STASH_API_KEY`` (when Stash has authentication on), ``PLEXSYNC_PUBLIC_URL``
(optional: the public base URL Plex's image service can reach, which turns on signed image links),
``PLEXSYNC_PATH_MAP`` (optional: overrides the plugin's ``path_map``), ``PLEXSYNC_SIGNING_KEY``
(optional: the key that signs image links; by default it is derived from the Stash API key) and
``PLEXSYNC_CONTENT_RATING`` (default ``XXX``; empty marks the content as not adult). A bad value gives
one line naming the variable (ConfigError).
"""

import os
import re
import secrets
from dataclasses import dataclass, field
from typing import Mapping, Optional

from plexsync.errors import ConfigError
from plexsync.imagelinks import derived_key
from plexsync.settings import parse_path_map

_URL = re.compile(r"^https?://[^/\s?#]+(/[^\s?#]*)?$")
DEFAULT_CONTENT_RATING = "XXX"


@dataclass(frozen=True)
class ProviderConfig:
    """What the provider needs to reach Stash and to present itself to Plex."""

    stash_url: str
    api_key: str = field(default="", repr=False)
    public_url: str = ""
    path_map: Optional[str] = None  # None: use the plugin's path_map setting
    signing_key: bytes = field(default=b"", repr=False)
    content_rating: str = DEFAULT_CONTENT_RATING

    @property
    def adult(self) -> bool:
        """True when the library is marked adult (a content rating is set)."""
        return bool(self.content_rating)


def _url(env: Mapping[str, str], name: str, required: bool, example: str) -> str:
    value = (env.get(name) or "").strip().rstrip("/")
    if not value:
        if required:
            raise ConfigError(f"{name}: not set; the URL of Stash as this machine reaches it, e.g. {example}")
        return ""
    if not _URL.match(value):
        raise ConfigError(f"{name}: must be http:// or https:// followed by a host, e.g. {example}")
    return value


def _signing_key(env: Mapping[str, str], api_key: str) -> bytes:
    """The image-link key: given, else derived from the API key (stable across restarts), else random."""
    given = env.get("PLEXSYNC_SIGNING_KEY") or ""
    if given:
        if len(given) < 16:
            raise ConfigError("PLEXSYNC_SIGNING_KEY: must be at least 16 characters")
        return given.encode()
    if api_key:
        return derived_key(api_key)
    return secrets.token_bytes(32)


def _path_map(env: Mapping[str, str]) -> Optional[str]:
    value = env.get("PLEXSYNC_PATH_MAP")
    if value is None or not value.strip():
        return None
    try:
        parse_path_map(value)
    except ValueError as exc:
        raise ConfigError(f"PLEXSYNC_PATH_MAP: {exc}") from None
    return value


def load_config(env: Mapping[str, str] = os.environ) -> ProviderConfig:
    """Read and check the environment; ConfigError names the first bad variable."""
    stash_url = _url(env, "STASH_URL", True, "http://127.0.0.1:9999")
    public_url = _url(env, "PLEXSYNC_PUBLIC_URL", False, "https://plexsync.example.org")
    api_key = (env.get("STASH_API_KEY") or "").strip()
    rating = (env.get("PLEXSYNC_CONTENT_RATING", DEFAULT_CONTENT_RATING) or "").strip()
    if len(rating) > 20:
        raise ConfigError("PLEXSYNC_CONTENT_RATING: at most 20 characters (e.g. XXX, or empty for not adult)")
    return ProviderConfig(stash_url, api_key, public_url, _path_map(env), _signing_key(env, api_key), rating)
