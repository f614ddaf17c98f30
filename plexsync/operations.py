"""The operations Stash's UI calls through ``runPluginOperation`` (README, "Operations").

Stash runs an operation synchronously inside the browser's GraphQL request and returns our
``output`` (or turns our ``error`` into a GraphQL error). ``scene_status`` and ``overview`` read
PlexSync's own files and are answered here, as cheaply as a hook; ``scene_diff``, ``sync_scene``
and ``retry_dead_letter`` talk to Stash and Plex and live in ``scene_sync``, which the composition
root imports only for them. Operations are not tasks: they are not in the manifest's task list.
"""

from typing import Callable, Optional

from plexsync import stashlog
from plexsync.errors import BadInput
from plexsync.hook import HOOK_RELAY_LIMIT, LOG_SETTINGS_KEY, plugin_dir
from plexsync.jobs import JobQueue
from plexsync.overview import MAX_DAYS, overview
from plexsync.protocol import PluginInput
from plexsync.scene_state import scene_state
from plexsync.state import StateDB, data_dir_for
from plexsync.worklog import relay

LOCAL = ("scene_status", "overview")
REMOTE = ("scene_diff", "sync_scene", "retry_dead_letter")
OPERATIONS = LOCAL + REMOTE


class Operation:
    """One operation run: the plugin input plus PlexSync's state files."""

    def __init__(self, plugin_input: PluginInput) -> None:
        self.input = plugin_input
        self.args = plugin_input.args
        self.connection = plugin_input.connection
        self.data_dir = data_dir_for(plugin_dir(plugin_input.connection))
        self.db = StateDB(self.data_dir)
        stashlog.apply_cached(self.db.get(LOG_SETTINGS_KEY) or {})

    def int_arg(self, name: str, default: Optional[int] = None) -> int:
        """A positive integer argument (Stash's UI sends ids as strings); BadInput naming it otherwise."""
        value = self.args.get(name)
        if value in (None, "") and default is not None:
            return default
        try:
            number = int(str(value).strip())
        except (TypeError, ValueError):
            number = 0
        if number <= 0 or isinstance(value, bool):
            raise BadInput(f"args.{name} must be a positive integer, got {str(value)[:40]!r}")
        return number

    def scene_status(self) -> dict:
        """``scene_status`` for ``args.scene_id`` (also the tail of every foreground sync's answer)."""
        queue = JobQueue(self.data_dir, threads=False)
        try:
            return scene_state(self.db, queue, self.int_arg("scene_id"))
        finally:
            queue.close()

    def close(self) -> None:
        """Close the state database."""
        self.db.close()


def _overview(operation: Operation) -> dict:
    return overview(operation.data_dir, operation.db, min(operation.int_arg("days", 3), MAX_DAYS))


LOCAL_HANDLERS: dict = {"scene_status": Operation.scene_status, "overview": _overview}


def run_operation(plugin_input: PluginInput, handlers: Optional[dict] = None) -> object:
    """Run the operation named by ``args.mode`` (``handlers`` adds the remote ones) and return its output."""
    handler: Optional[Callable] = {**LOCAL_HANDLERS, **(handlers or {})}.get(plugin_input.mode)
    if handler is None:
        raise BadInput(f"unknown operation {plugin_input.mode!r}: expected one of {', '.join(OPERATIONS)}")
    operation = Operation(plugin_input)
    try:
        relay(operation.data_dir, operation.db, limit=HOOK_RELAY_LIMIT)
        return handler(operation)
    finally:
        operation.close()
