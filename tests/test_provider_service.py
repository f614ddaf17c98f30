"""``python -m plexsync provider`` as a real process: clear one-line refusals, clean exit on SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from helpers import wait_for

from plexsync.sandbox.fake_stash import FakeStash

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "stash-api-key-for-the-service-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(env: dict, port: int) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STASH_", "PLEXSYNC_"))}
    return subprocess.Popen([sys.executable, "-m", "plexsync", "provider", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env={**clean, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def stash():
    with FakeStash(api_key=API_KEY, require_auth=True) as fake:
        yield fake


@pytest.mark.parametrize("env, message", [
    ({}, "STASH_URL: not set"),
    ({"STASH_URL": "localhost:9999"}, "STASH_URL: must be http:// or https://"),
    ({"STASH_URL": "http://127.0.0.1:9", "PLEXSYNC_PATH_MAP": "/data"}, "PLEXSYNC_PATH_MAP: rule 1 '/data' has no '=>'"),
    ({"STASH_URL": "http://127.0.0.1:9", "PLEXSYNC_PUBLIC_URL": "plex sync"}, "PLEXSYNC_PUBLIC_URL: must be"),
])
def test_a_bad_environment_gives_one_line_and_exit_status_2(env, message):
    process = start(env, free_port())
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 2
    assert message in stderr and len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


def test_a_wrong_api_key_or_bad_saved_settings_refuse_to_start(stash):
    wrong = start({"STASH_URL": stash.url, "STASH_API_KEY": "not-the-key-at-all"}, free_port())
    stash.set_plugin_settings("PlexSync", {"tags_as": "sideways"})
    bad = start({"STASH_URL": stash.url, "STASH_API_KEY": API_KEY}, free_port())

    assert wrong.wait(timeout=60) == 1 and bad.wait(timeout=60) == 1
    wrong_err, bad_err = wrong.stderr.read(), bad.stderr.read()
    assert "STASH_API_KEY: Stash refused" in wrong_err and "not-the-key-at-all" not in wrong_err
    assert "tags_as: must be one of" in bad_err
    assert "Traceback" not in wrong_err + bad_err


def test_the_service_serves_until_sigterm_and_exits_cleanly(stash):
    stash.add_scene(title="Clip", files=[("/data/videos/clip.mp4", 10)])
    port = free_port()
    process = start({"STASH_URL": stash.url, "STASH_API_KEY": API_KEY}, port)
    url = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        try:
            return requests.get(f"{url}/health", timeout=1).json()["index"]["ready"]
        except requests.RequestException:
            return False

    assert wait_for(serving, timeout=60)
    found = requests.post(f"{url}/library/metadata/matches", json={"type": 1, "filename": "clip.mp4"}, timeout=5).json()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)

    assert found["MediaContainer"]["Metadata"][0]["ratingKey"] == "scene-1"
    assert process.returncode == 0 and "Traceback" not in stderr
    assert 'match "clip.mp4" -> scene 1 "Clip"' in stderr and API_KEY not in stderr
