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
