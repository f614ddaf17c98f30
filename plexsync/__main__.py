"""``python -m plexsync <command>``: the operator's command line (demo, status, ...)."""

import sys

from plexsync.cli import main

if __name__ == "__main__":
    sys.exit(main())
