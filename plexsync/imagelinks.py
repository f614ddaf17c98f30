"""Signed image links to the metadata provider's image route, made by the provider and by the plugin.

Plex fetches provider images through its cloud image service, which cannot reach a LAN address
(plex-provider-notes.md §4), so image links exist only under a public base URL
(``PLEXSYNC_PUBLIC_URL``). The provider is unauthenticated by Plex's design, so each link carries an
HMAC of what it names: without the key nobody can make the provider fetch anything else from Stash.
Links never expire (Plex caches images by URL) and change when the image does (the version is
Stash's ``?t=``). The key is ``PLEXSYNC_SIGNING_KEY`` or, by default, derived from Stash's API key,
so the plugin (performer photos, ``sync_performer_photos``) signs exactly what the provider serves.
"""

import hashlib
import hmac
import re
from typing import Optional
from urllib.parse import parse_qs, urlsplit

KINDS = ("scene", "performer")
_VERSION = re.compile(r"^[0-9A-Za-z_-]{1,40}$")
_PURPOSE = b"plexsync provider image links v1"


def version_of(stash_url: Optional[str]) -> str:
    """The cache buster Stash put on an image URL (``?t=``), or ``0``."""
    value = parse_qs(urlsplit(stash_url or "").query).get("t", ["0"])[0]
    return value if _VERSION.match(value) else "0"


def stash_image(url: Optional[str]) -> str:
    """Stash's image URL, or "" for none: Stash serves a placeholder (``default=true``) where there is no image."""
    return "" if not url or "default=true" in url else url


def derived_key(api_key: str) -> bytes:
    """The signing key both sides derive from Stash's API key when ``PLEXSYNC_SIGNING_KEY`` is not set."""
    return hmac.new(api_key.encode(), _PURPOSE, hashlib.sha256).digest()


class ImageLinks:
    """Makes and checks signed image URLs under the public base URL."""

    def __init__(self, public_url: str, key: bytes) -> None:
        self.public_url, self._key = public_url.rstrip("/"), key

    def _signature(self, kind: str, object_id: int, version: str) -> str:
        message = f"{kind}/{int(object_id)}/{version}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def url(self, kind: str, object_id: int, version: str) -> str:
        """The public, signed URL of one image."""
        return f"{self.public_url}/images/{kind}/{int(object_id)}?v={version}&sig={self._signature(kind, object_id, version)}"

    def valid(self, kind: str, object_id: int, version: str, signature: str) -> bool:
        """True if the signature is the one this provider gives that image."""
        if kind not in KINDS or not _VERSION.match(version or ""):
            return False
        return hmac.compare_digest(self._signature(kind, object_id, version), signature or "")
