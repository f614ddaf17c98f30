"""PlexSync: Stash runs this file for every hook and task declared in PlexSync.yml."""

import sys

from plexsync.app import main

if __name__ == "__main__":
    sys.exit(main())
