"""Task modes (``defaultArgs.mode`` in PlexSync.yml): each takes the plugin input and returns ``output``.

The set of mode names is fixed (automation relies on it); modes whose issue has not landed answer
"not implemented yet" as an error.
"""

import logging
from typing import Callable

from plexsync import status
from plexsync.errors import BadInput
from plexsync.hook import plugin_dir
from plexsync.protocol import PluginInput
from plexsync.state import data_dir_for

log = logging.getLogger(__name__)

MODES = (
    "sync_all", "sync_recent", "process_queue", "status", "reconcile", "preview", "dlq_retry",
    "dlq_clear", "dlq_purge", "queue_clear", "health", "reindex", "log",
)


def run_status(plugin_input: PluginInput) -> dict:
    """``status``: counts and state from local files; needs neither Stash nor Plex."""
    report = status.collect(data_dir_for(plugin_dir(plugin_input.connection)))
    status.log_report(report)
    return report


HANDLERS: dict = {"status": run_status}


def handler_for(mode: str) -> Callable[[PluginInput], object]:
    """The function for a task mode; BadInput for unknown or not yet implemented modes."""
    if mode not in MODES:
        raise BadInput(f"unknown task mode {mode!r}: expected one of {', '.join(MODES)}")
    if mode not in HANDLERS:
        raise BadInput(f"task mode {mode!r} is not implemented yet in this version of PlexSync")
    return HANDLERS[mode]
