"""A whole sandbox: fake Stash and fake Plex on loopback, PlexSync installed in a temporary plugins folder.

Used by the end-to-end tests, the benchmarks and the demo. Stash sees the library under
``/data/videos`` and Plex under ``/media/videos`` (the Docker layout the README describes), joined by a
``path_map`` rule, so every test exercises path mapping.

The fake Stash serves the newest Stash release's own schema when ``../shared/stash-schema`` is next
to the repository, else the project's subset SDL (``stash_schema.py``); ``stash_options`` can choose
another release (``schema_dir``) or any other FakeStash option.
"""

import os
import signal
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from plexsync.protocol import ServerConnection
from plexsync.sandbox.fake_plex import FakePlex
from plexsync.sandbox import stash_schema
from plexsync.sandbox.plex_collections import PlexCollections
from plexsync.sandbox.fake_stash import FakeStash
from plexsync.sandbox.plex_playback import Playback

REPO = Path(__file__).resolve().parent.parent.parent
PLEX_TOKEN = "sandbox-plex-token-0123456789"
STASH_ROOT, PLEX_ROOT = "/data/videos", "/media/videos"


class Sandbox:
    """Fake Stash + fake Plex + a plugins folder with PlexSync, ready to run hooks and tasks."""

    def __init__(self, root: Optional[Path] = None, plex_latency: float = 0.0, settings: Optional[dict] = None,
                 stash_options: Optional[dict] = None) -> None:
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="plexsync-sandbox-")
        self.root = Path(root or self._tmp.name)
        self.plex = FakePlex(token=PLEX_TOKEN, latency=plex_latency)
        self.playback = Playback(self.plex)  # play history, watch state and ratings
        self.collections = PlexCollections(self.plex)
        self.stash = FakeStash(**{"schema_dir": stash_schema.newest_release(), **(stash_options or {})})
        self.plugins_dir = self.root / "plugins"
        self.plugin_dir = self.plugins_dir / "PlexSync"
        self.extra_settings = settings or {}
        self.section = None
        self._size = 1_000_000

    def start(self) -> "Sandbox":
        """Start both servers, create the Plex library, install and configure PlexSync."""
        self.plex.start()
        self.stash.start()
        self.section = self.plex.add_section(title="Movies", locations=[PLEX_ROOT])
        self.install()
        self.configure()
        return self

    def install(self) -> None:
        """Install PlexSync the way a user who clones the repository does (entry and manifest)."""
        self.plugin_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / "PlexSync.yml", self.plugin_dir / "PlexSync.yml")
        entry = self.plugin_dir / "PlexSync.py"
        if not entry.exists():
            try:
                entry.symlink_to(REPO / "PlexSync.py")  # runs this checkout's code (and its coverage)
                (self.plugin_dir / "ui").symlink_to(REPO / "ui")  # the manifest's ui.javascript and ui.css
            except OSError:
                shutil.copyfile(REPO / "PlexSync.py", entry)
                shutil.copytree(REPO / "plexsync", self.plugin_dir / "plexsync", dirs_exist_ok=True)
                shutil.copytree(REPO / "ui", self.plugin_dir / "ui", dirs_exist_ok=True)

    def configure(self, **settings) -> None:
        """Save PlexSync's settings in the fake Stash (replacing them, as Stash's UI does)."""
        values = {"plex_url": self.plex.url, "plex_token": PLEX_TOKEN,
                  "path_map": f"{STASH_ROOT}=>{PLEX_ROOT}", **self.extra_settings, **settings}
        self.stash.set_plugin_settings("PlexSync", values)

    def add_scene(self, title: str = "Scene", in_plex: bool = True, folder: str = "", **fields) -> tuple:
        """A scene in Stash with one file, and (``in_plex``) the Plex item for it; (scene_id, ratingKey)."""
        self._size += 1
        name = fields.pop("file_name", None) or f"{title.replace('/', '_')}-{self._size}.mp4"
        relative = f"{folder.strip('/')}/{name}" if folder else name
        size = fields.pop("size", self._size)
        scene_id = self.stash.add_scene(title=title, files=[(f"{STASH_ROOT}/{relative}", size)], **fields)
        rating_key = None
        if in_plex:
            rating_key = self.plex.add_item(section=self.section, title=Path(name).stem,
                                            files=[(f"{PLEX_ROOT}/{relative}", size)])
        return scene_id, rating_key

    def connection(self) -> ServerConnection:
        """The connection Stash would hand the plugin."""
        raw = self.stash.server_connection(str(self.plugin_dir))
        return ServerConnection.from_json(raw)

    def host(self, **options):
        """A Stash host that runs the installed plugin exactly as Stash does."""
        from plexsync.sandbox.stash_host import StashHost

        return StashHost(self.plugins_dir, self.stash, python=sys.executable, **options)

    def serve_operations(self, **host_options):
        """Let the fake Stash answer ``runPluginOperation`` by running PlexSync through a Stash host."""
        from plexsync.sandbox.plugin_operations import PluginOperations

        operations = PluginOperations(self.host(**host_options))
        self.stash.add_resolver("Mutation", "runPluginOperation", operations.resolve)
        return operations

    @property
    def data_dir(self) -> Path:
        """PlexSync's data folder inside the plugin folder."""
        return self.plugin_dir / "data"

    def worker_pid(self) -> Optional[int]:
        """The pid holding the worker lease, if a live process does."""
        if not (self.data_dir / "state.db").exists():
            return None
        from plexsync.lease import Lease
        from plexsync.state import StateDB

        db = StateDB(self.data_dir)
        holder = Lease(db, token="").holder()
        db.close()
        return holder.pid if holder else None

    def stop_worker(self, grace: float = 5.0) -> None:
        """Stop a background worker left running: SIGTERM (it finishes its job), then SIGKILL."""
        from plexsync.procs import process_alive

        pid = self.worker_pid()
        if not pid or pid == os.getpid():
            return
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while process_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

    def stop(self) -> None:
        """Stop any worker, both servers, and remove the temporary folder."""
        self.stop_worker()
        self.plex.stop()
        self.stash.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
