"""The project cloned alone, without ../shared next to it: the demo runs on the subset SDL, and the tests that
need a Stash release skip with one line saying what is missing while the rest still run."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """The repository's files (tracked, or new and not ignored) copied where no ../shared exists."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    target = tmp_path_factory.mktemp("alone") / "PlexSync"
    for name in listed:
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    assert not (target.parent / "shared").exists()
    return target


def run(clone: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE")}  # measure this checkout only
    return subprocess.run([sys.executable, *args], cwd=clone, env=env, capture_output=True, text=True, timeout=300)


def test_the_demo_runs_on_the_subset_sdl(clone):
    done = run(clone, "-m", "plexsync", "demo", "--json")
    assert done.returncode == 0, done.stderr
    assert "The fake Stash serves the project's subset of Stash's schema" in done.stdout
    assert json.loads(done.stdout[done.stdout.index("{\n"):])["synced"] is True


def test_the_tests_needing_a_release_skip_with_one_line_and_the_rest_run(clone):
    done = run(clone, "-m", "pytest", "tests/test_stash_contract.py", "tests/test_stash_schema.py",
               "-p", "no:cacheprovider", "-o", "addopts=", "-q", "-rs")
    assert done.returncode == 0, done.stdout[-3000:]
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skipped and all("stash-schema is absent: no Stash release schema to test against" in line for line in skipped)
    assert " passed" in done.stdout.splitlines()[-1]
