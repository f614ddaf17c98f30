"""PlexSync: Stash runs this file for every hook and task declared in PlexSync.yml."""

import sys

# A bulk edit runs the hook hundreds of times in a row, and compiling PlexSync's modules from source on
# each run costs more than everything the hook does (PYTHONDONTWRITEBYTECODE is common in Docker images):
# keep their bytecode in the plugin folder's __pycache__, as Python does by default. A read-only folder
# only means Python does not write it.
sys.dont_write_bytecode = False

from plexsync import deps  # noqa: E402

if __name__ == "__main__":
    problem = deps.check()  # before anything imports a dependency: one clear error, never a traceback
    if problem:
        sys.exit(deps.fail(problem))
    from plexsync.app import main

    sys.exit(main())
