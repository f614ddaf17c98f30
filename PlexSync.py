"""PlexSync: Stash runs this file for every hook and task declared in PlexSync.yml."""

import sys

from plexsync import deps

if __name__ == "__main__":
    problem = deps.check()  # before anything imports a dependency: one clear error, never a traceback
    if problem:
        sys.exit(deps.fail(problem))
    from plexsync.app import main

    sys.exit(main())
