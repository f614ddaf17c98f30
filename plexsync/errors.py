"""Every exception PlexSync raises, classified by what the caller must do about it.

The split that routes work (style.md §11): transient errors are retried with backoff and count towards
the circuit breaker; not-found-yet errors are retried on a longer schedule and never trip the breaker;
permanent errors go straight to the dead letters; configuration errors stop the run with one clear line.
Adapters (``stash``, ``plex``) translate library exceptions into these; upper layers see nothing else.
"""


class PlexSyncError(Exception):
    """Base class of every PlexSync error."""

    error_class = "permanent"
    scene_title = ""  # set by the syncer once it knows the scene, for the one-line outcome log


class BadInput(PlexSyncError):
    """The plugin input from Stash (stdin) is unusable; answered with one error line, nothing queued."""


class ConfigError(PlexSyncError):
    """A setting is missing or invalid; the message names the key and what it accepts."""

    error_class = "config"


class TransientError(PlexSyncError):
    """Worth retrying soon: connection refused, timeouts, HTTP 5xx and 429."""

    error_class = "transient"
    service = "plex"  # whose circuit breaker counts it


class PlexUnavailable(TransientError):
    """Plex did not answer usefully; counts towards the Plex circuit breaker."""


class StashUnavailable(TransientError):
    """Stash GraphQL did not answer usefully."""

    service = "stash"


class NotFoundYet(PlexSyncError):
    """Plex has no item for the scene's file yet (not scanned); retried on the long schedule."""

    error_class = "not_found"


class ItemMissing(NotFoundYet):
    """A Plex item PlexSync knew (by ratingKey) is gone: Plex re-added or removed the file."""


class PermanentError(PlexSyncError):
    """Retrying cannot help; the job goes to the dead letters with this message."""

    error_class = "permanent"


class AuthError(PermanentError):
    """Plex refused our credentials (401/403): a configuration outage, so jobs are held, never buried."""

    service = "plex"  # whose circuit breaker holds the jobs until the credentials work again


class StashAuthError(AuthError):
    """Stash refused PlexSync's session or API key."""

    service = "stash"


class AmbiguousMatch(PermanentError):
    """Several Plex items could be the scene; PlexSync never writes on a guess."""


class InvalidData(PermanentError):
    """Plex rejected what we sent (400) or the scene's data cannot be written."""


class StashTooOld(PermanentError):
    """The Stash that runs PlexSync lacks what an operation needs (play history needs v0.25); nothing is changed."""


class Busy(PlexSyncError):
    """Another process is doing the same work right now (a pull); this run did nothing."""


class MissingInPlex(NotFoundYet):
    """Plex has no item for the scene's file and ``missing_in_plex`` is ``ignore``: recorded, never retried."""
