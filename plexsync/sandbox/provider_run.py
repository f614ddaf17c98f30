"""The metadata provider served on loopback in a background thread, for tests and the demo.

The same app and service ``python -m plexsync provider`` runs, on uvicorn, on a free port.
"""

import threading
import time
from typing import Callable

import uvicorn

from plexsync.provider.app import create_app
from plexsync.provider.config import load_config
from plexsync.provider.service import Provider


class ProviderThread:
    """One provider (configured like the service, from an environment mapping) on 127.0.0.1."""

    def __init__(self, env: dict, clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = Provider(load_config(env), clock=clock)
        self._server = uvicorn.Server(uvicorn.Config(create_app(self.provider), host="127.0.0.1", port=0,
                                                     log_config=None, access_log=False, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="provider", daemon=True)

    def start(self, warm: bool = True) -> "ProviderThread":
        """Serve; with ``warm``, read the settings and build the index first (as start-up does)."""
        if warm:
            self.provider.warm_up()
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            raise RuntimeError("the provider did not start")
        return self

    @property
    def url(self) -> str:
        """The provider's base URL (what a user pastes into Plex)."""
        return f"http://127.0.0.1:{self._server.servers[0].sockets[0].getsockname()[1]}"

    def stop(self) -> None:
        """Stop serving and the provider's background threads."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.provider.close()

    def __enter__(self) -> "ProviderThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
