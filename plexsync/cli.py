"""The operator's command line: ``python -m plexsync <command> --plugin-dir DIR``.

The same functions as the Stash tasks, with readable output, for people who run Stash in Docker and
want to look at the queue from a shell. ``--json`` prints the task's output object instead.
"""

import argparse
import json
import logging
import sys
from pathlib import Path

from plexsync import stashlog
from plexsync.deadletters import DeadLetters
from plexsync.errors import PlexSyncError
from plexsync.protocol import PluginInput, ServerConnection
from plexsync.state import StateDB, data_dir_for
from plexsync.status import iso

DEFAULT_PLUGIN_DIR = Path(__file__).resolve().parent.parent


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--plugin-dir", default=str(DEFAULT_PLUGIN_DIR), help="the PlexSync plugin folder (holds data/)")
    common.add_argument("--json", action="store_true", help="print the output object as JSON")
    parser = argparse.ArgumentParser(prog="python -m plexsync", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add = lambda name, text: commands.add_parser(name, help=text, parents=[common])  # noqa: E731
    add("status", "queue, retries, dead letters, breaker, worker")
    dlq = add("dlq", "dead letters")
    dlq.add_argument("action", choices=["list", "retry", "clear"])
    dlq.add_argument("--scene-id", type=int)
    dlq.add_argument("--error-class", choices=["permanent", "transient", "not_found", "bug"])
    queue = add("queue", "the job queue")
    queue.add_argument("action", choices=["clear"])
    add("log", "the background worker's last 200 log records")
    package = add("package", "build dist/PlexSync.zip and dist/index.yml for a Stash plugin source")
    package.add_argument("--dist", default=str(DEFAULT_PLUGIN_DIR / "dist"))
    demo = add("demo", "run PlexSync against the built-in sandbox (fake Stash + fake Plex)")
    demo.add_argument("--keep", action="store_true", help="keep the temporary plugins folder")
    provider = commands.add_parser("provider", help="run the Plex metadata provider (needs requirements-provider.txt)")
    provider.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    provider.add_argument("--port", type=int, default=8790, help="port to listen on (default 8790)")
    return parser


def _demo(options) -> object:
    try:
        from plexsync.sandbox.demo import run_demo  # the sandbox is not shipped in the plugin package
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith("plexsync"):
            raise PlexSyncError(f"the demo needs the sandbox's requirements ({exc.name} is missing): "
                                "python3 -m pip install -r requirements-sandbox.txt") from None
        raise PlexSyncError("the demo needs a checkout of the repository (the sandbox is not in the plugin package)") from None
    return run_demo(keep=options.keep)


def _provider(options) -> int:
    """Run the provider; its dependencies are imported only here (Stash's Python never needs them)."""
    try:
        from plexsync.provider.server import main as serve
    except ImportError as exc:
        print(f"error: the provider needs FastAPI and uvicorn ({exc.name} is missing): "
              "python3 -m pip install -r requirements-provider.txt", file=sys.stderr)
        return 1
    return serve(options.host, options.port)


def _task(options, mode: str, **args) -> object:
    from plexsync.tasks import run_task

    connection = ServerConnection(plugin_dir=options.plugin_dir)
    return run_task(PluginInput(connection, {"mode": mode, **{k: v for k, v in args.items() if v is not None}}))


def _dlq_list(options) -> list:
    db = StateDB(data_dir_for(options.plugin_dir))
    letters = DeadLetters(db).list(options.scene_id, options.error_class)
    db.close()
    return [{"id": d.id, "scene_id": d.job.scene_id, "error_class": d.error_class, "attempts": d.attempts,
             "failed_at": iso(d.failed_at), "message": d.message.splitlines()[0] if d.message else ""} for d in letters]


def _run(options) -> object:
    match options.command, getattr(options, "action", None):
        case "demo", _:
            return _demo(options)
        case "package", _:
            from plexsync.package import build

            return build(Path(options.dist))
        case "status", _:
            return _task(options, "status")
        case "log", _:
            return _task(options, "log")
        case "queue", "clear":
            return _task(options, "queue_clear")
        case "dlq", "list":
            return _dlq_list(options)
        case "dlq", action:
            mode = "dlq_retry" if action == "retry" else "dlq_clear"
            return _task(options, mode, scene_id=options.scene_id, error_class=options.error_class)


def _print(result: object) -> None:
    if isinstance(result, list):
        for row in result:
            print(f"#{row['id']} scene {row['scene_id']} [{row['error_class']}] x{row['attempts']} {row['failed_at']}: {row['message']}")
        print(f"{len(result)} dead letters")
    elif isinstance(result, dict):
        for key, value in result.items():
            print(f"{key}: {json.dumps(value) if isinstance(value, (dict, list)) else value}")


def main(argv=None) -> int:
    """Run one command; exit status 1 with one line on error."""
    options = _parser().parse_args(argv)
    if options.command == "provider":
        return _provider(options)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(stashlog.SECRETS)
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[handler], force=True)
    try:
        result = _run(options)
    except PlexSyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        if options.json:
            print(json.dumps(result, indent=2, default=str))
        else:
            _print(result)
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
    return 0
