"""Performer photos for Plex's cast (``sync_performer_photos``), at a URL Plex fetches with no secret in it.

Plex keeps the URL of an actor's photo and fetches it itself, without credentials (people photos at
LAN addresses work, plex-provider-notes.md §4), so the URL must work as it is:

* Stash without authentication (no username set): Stash's own performer image URL, as Stash builds
  it from the address PlexSync reaches it at (``external_host`` in Stash's config changes that);
* Stash with authentication: the metadata provider's signed image route, when the plugin's
  environment has the provider's ``PLEXSYNC_PUBLIC_URL`` (and ``PLEXSYNC_SIGNING_KEY`` if the provider
  has one; by default both sides derive the key from Stash's API key);
* otherwise no photo, said once in the log (again only when the reason changes).

A Stash placeholder (``default=true``, a performer without an image) is never sent, nor is any URL
holding a secret PlexSync knows (the API key, the session cookie, the Plex token).
"""

import logging
import os
import re
from typing import Callable, Mapping, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from plexsync.imagelinks import ImageLinks, derived_key, stash_image, version_of
from plexsync.stash import StashClient
from plexsync.stashlog import SECRETS
from plexsync.state import StateDB

log = logging.getLogger(__name__)
PUBLIC_URL_ENV, SIGNING_KEY_ENV = "PLEXSYNC_PUBLIC_URL", "PLEXSYNC_SIGNING_KEY"
SAID_KEY = "performer_photos_said"
_URL = re.compile(r"^https?://[^/\s?#]+(/[^\s?#]*)?$")

PhotoMaker = Callable[[dict], str]


def stash_photo(performer: dict) -> str:
    """Stash's image URL for a performer, or "" for none (placeholder, or a secret in it)."""
    url = stash_image(performer.get("image_path"))
    if not url:
        return ""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "apikey"]
    clean = urlunsplit(parts._replace(query=urlencode(query)))
    return "" if SECRETS.scrub(clean) != clean else clean


def signed_photos(links: ImageLinks) -> PhotoMaker:
    """Photos through the provider's signed route (``/images/performer/<id>?v=&sig=``)."""
    def photo(performer: dict) -> str:
        if not stash_photo(performer) or performer.get("id") is None:
            return ""
        return links.url("performer", int(performer["id"]), version_of(performer.get("image_path")))
    return photo


def photo_maker(settings, stash: StashClient, db: StateDB, env: Mapping[str, str] = os.environ) -> Optional[PhotoMaker]:
    """How performer photo URLs are made under these settings, or None for no photos (said once)."""
    if not settings.sync_performer_photos:
        return None
    if not stash.authentication_on():
        _said(db, "")
        return stash_photo
    public = (env.get(PUBLIC_URL_ENV) or "").strip().rstrip("/")
    key = env.get(SIGNING_KEY_ENV) or ""
    signing = key.encode() if len(key) >= 16 else (derived_key(stash.api_key) if stash.api_key and not key else b"")
    if _URL.match(public) and signing:
        _said(db, "")
        return signed_photos(ImageLinks(public, signing))
    _said(db, _reason(public, key, stash.api_key))
    return None


def _reason(public: str, key: str, api_key: str) -> str:
    if not public:
        return (f"Stash has authentication on, so its image URLs need a secret, and {PUBLIC_URL_ENV} is not set in "
                "Stash's environment: set it to the metadata provider's public URL (see the README)")
    if not _URL.match(public):
        return f"{PUBLIC_URL_ENV} must be http:// or https:// followed by a host"
    if key:
        return f"{SIGNING_KEY_ENV} must be at least 16 characters (the provider's own key)"
    return f"Stash has no API key to derive the signing key from: generate one in Stash or set {SIGNING_KEY_ENV}"


def _said(db: StateDB, reason: str) -> None:
    """Log why there are no photos once (per reason, across processes), and note when photos work again."""
    if db.get(SAID_KEY, "") == reason:
        return
    db.put(SAID_KEY, reason)
    if reason:
        log.warning("performer photos: none are sent: %s", reason)
