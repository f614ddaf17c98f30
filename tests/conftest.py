import os

# plexapi reads these once, at import (plex-api-notes.md §1.1): no autoreload, no developer config.
os.environ["PLEXAPI_PLEXAPI_AUTORELOAD"] = "false"
os.environ["PLEXAPI_CONFIG_PATH"] = "/nonexistent/plexapi.ini"

import pytest  # noqa: E402

from plexsync.state import StateDB  # noqa: E402


class Clock:
    """An injected wall clock that tests move by hand (no test sleeps through a backoff)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def no_worker_left_behind(tmp_path):
    """Background workers a test started (directly or through a task) end with the test."""
    yield
    from helpers import stop_workers_under

    stop_workers_under(tmp_path)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def db(data_dir):
    database = StateDB(data_dir)
    yield database
    database.close()


@pytest.fixture
def sandbox(tmp_path):
    from plexsync.sandbox.world import Sandbox

    world = Sandbox(root=tmp_path / "sandbox").start()
    yield world
    world.stop()


@pytest.fixture
def runtime_for(sandbox, clock):
    """Build the worker's runtime in-process against the sandbox (real HTTP, real SQLite)."""
    from plexsync.runtime import build
    from plexsync.state import StateDB, data_dir_for

    built = []

    def make(**settings):
        if settings:
            sandbox.configure(**settings)
        data_dir = data_dir_for(str(sandbox.plugin_dir))
        runtime = build(sandbox.connection(), data_dir, StateDB(data_dir), resume=True,
                        clock=clock, sleep=lambda seconds: None)
        built.append(runtime)
        return runtime

    yield make
    for runtime in built:
        runtime.close()
    from plexsync import stashlog

    stashlog.PATHS.enabled = False  # reading settings may have switched path privacy on for this process
