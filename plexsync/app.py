"""Composition root: one plugin invocation from stdin to the one JSON answer on stdout.

Import discipline: the hook path (the common case, run synchronously by Stash for every scene save)
must not pay for pydantic, plexapi, requests or tenacity, and neither do the UI's local operations
(the scene tab's status, the PlexSync page). So this module imports only their dependencies at the
top; the task, foreground-sync and worker machinery is imported in ``_dispatch`` and
``worker_main``, the one deliberate exception to imports-at-the-top (style.md §3).
"""

import logging
import sys
import traceback

from plexsync import stashlog
from plexsync.errors import BadInput, ConfigError, PlexSyncError
from plexsync.hook import handle_hook
from plexsync.protocol import PluginInput, encode_result, parse_input

log = logging.getLogger("plexsync")


def _dispatch(plugin_input: PluginInput) -> object:
    if plugin_input.mode == "hook":
        return handle_hook(plugin_input)
    from plexsync.operations import LOCAL, REMOTE, run_operation  # light, but not the hook's business

    if plugin_input.mode in LOCAL:  # the scene tab's status and the page: local files, hook-light
        return run_operation(plugin_input)
    if plugin_input.mode in REMOTE:
        from plexsync.scene_sync import HANDLERS  # talks to Stash and Plex: the sync machinery

        return run_operation(plugin_input, HANDLERS)
    from plexsync.tasks import run_task  # tasks import the heavier machinery; hooks never do

    return run_task(plugin_input)


def run(data: bytes) -> str:
    """Handle one invocation; returns the JSON text for stdout. Never raises."""
    try:
        output = _dispatch(parse_input(data))
        return stashlog.SECRETS.scrub(encode_result(output=output))
    except (BadInput, ConfigError) as exc:
        log.error("%s", exc)
        return stashlog.SECRETS.scrub(encode_result(error=str(exc)))
    except PlexSyncError as exc:
        log.error("%s: %s", type(exc).__name__, exc)
        return stashlog.SECRETS.scrub(encode_result(error=f"{type(exc).__name__}: {exc}"))
    except Exception as exc:  # the process boundary: one clear line, the trace only at debug
        log.debug("unexpected error: %s", "".join(traceback.format_exception(exc)))
        log.error("unexpected error (a bug in PlexSync; please report it): %s: %s", type(exc).__name__, exc)
        return stashlog.SECRETS.scrub(encode_result(error=f"unexpected error: {type(exc).__name__}: {exc}"))


def main(argv=None, stdin=None, stdout=None, stderr=None) -> int:
    """Entry point for ``PlexSync.py``: read all of stdin, answer one JSON object, exit 0."""
    argv = sys.argv[1:] if argv is None else argv
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout
    if stderr is None and hasattr(sys.stderr, "reconfigure"):
        sys.stderr.reconfigure(encoding="utf-8", errors="replace")  # Windows code pages garble paths
    stashlog.configure(stream=stderr or sys.stderr)
    if argv[:1] == ["--worker"]:
        from plexsync.worker import worker_main  # only the detached worker needs it

        return worker_main(stdin.read())
    result = run(stdin.read())
    stdout.write(result)
    stdout.flush()
    return 0
