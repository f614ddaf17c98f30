"""``python -m plexsync provider``: run the metadata provider on uvicorn until SIGTERM or SIGINT.

Start-up checks what can be checked: the environment (ConfigError: one line, exit 2) and, if Stash
answers, that it accepts the API key and that PlexSync's saved settings are valid (one line, exit
1). A Stash that does not answer yet is not an error: the provider serves (``/health`` says so,
matches answer no match) and catches up when Stash comes. uvicorn owns the signals and drains the
requests in flight before it returns; the exit status is then 0.
"""

import logging
import os
import signal
import sys
from typing import Optional

import uvicorn

from plexsync import stashlog
from plexsync.errors import AuthError, ConfigError, TransientError
from plexsync.provider.app import create_app
from plexsync.provider.config import ProviderConfig, load_config
from plexsync.provider.service import Provider

log = logging.getLogger("plexsync.provider")
DEFAULT_HOST, DEFAULT_PORT = "0.0.0.0", 8790


def configure_logging(stream=None) -> None:
    """Plain timestamped lines on stderr, secrets masked (the provider runs outside Stash)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.addFilter(stashlog.SECRETS)
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def check_stash(provider: Provider) -> Optional[str]:
    """A reason to refuse to start (Stash refuses the key, settings invalid), or None."""
    try:
        settings = provider.load_settings()
    except AuthError as exc:
        return f"STASH_API_KEY: {exc}"
    except ConfigError as exc:
        return f"PlexSync's settings in Stash: {exc}"
    except TransientError as exc:
        log.warning("Stash does not answer yet (%s); serving anyway and retrying", exc)
        return None
    log.info("Stash answers at %s; path_map %s", provider.config.stash_url, settings.path_map or "(none)")
    return None


def _exit_cleanly(signum, frame) -> None:
    """SIGTERM/SIGINT outside uvicorn's own handling (before it starts, or re-raised by it after its
    graceful shutdown): leave with status 0 instead of dying by the signal."""
    raise SystemExit(0)


def serve(config: ProviderConfig, host: str, port: int) -> int:
    """Run until a signal; returns the exit status."""
    for handled in (signal.SIGINT, signal.SIGTERM):
        signal.signal(handled, _exit_cleanly)
    # The threads that wait on Stash need the GIL back quickly while the event loop is busy with other
    # requests; a 0.5 ms switch interval instead of 5 ms cut the metadata wait by 2-3 ms in paired runs of
    # bench/provider.py's scan.
    sys.setswitchinterval(0.0005)
    provider = Provider(config)
    refusal = check_stash(provider)
    if refusal:
        log.error("%s", refusal)
        return 1
    provider.start()
    images = f"signed image links under {config.public_url}" if config.public_url else "no image links (PLEXSYNC_PUBLIC_URL not set)"
    log.info("PlexSync metadata provider on http://%s:%s, %s", host, port, images)
    server = uvicorn.Server(uvicorn.Config(create_app(provider), host=host, port=port, log_config=None,
                                           access_log=False, timeout_graceful_shutdown=5))
    try:
        server.run()
    finally:
        provider.close()
    return 0 if server.started else 1


def main(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, env=os.environ) -> int:
    """Entry point of ``python -m plexsync provider``."""
    configure_logging()
    try:
        config = load_config(env)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    return serve(config, host, port)
