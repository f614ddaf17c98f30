"""The provider's image answers: signed links (``plexsync.imagelinks``, shared with the plugin) and the
content type of the bytes it relays from Stash."""

from plexsync.imagelinks import KINDS, ImageLinks, version_of

__all__ = ["KINDS", "ImageLinks", "content_type", "version_of"]


def content_type(data: bytes) -> str:
    """The image type from its first bytes (Stash serves JPEG, PNG, WebP or GIF)."""
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"GIF8"):
        return "image/gif"
    return "image/jpeg"
