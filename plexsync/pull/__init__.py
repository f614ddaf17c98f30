"""The pull: Plex's plays, resume points and ratings brought back into Stash (see ``sweep``)."""
