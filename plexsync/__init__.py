"""PlexSync: keeps Plex in step with Stash."""

__version__ = "0.1.0"
