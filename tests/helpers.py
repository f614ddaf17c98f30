"""Small helpers the end-to-end tests share."""

import collections
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path


def wait_for(predicate, timeout: float = 60.0, every: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes (for real processes; never a backoff)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


def puts_per_item(sandbox) -> collections.Counter:
    """How many successful edit PUTs each Plex item received."""
    counts = collections.Counter()
    for record in sandbox.plex.requests:
        if record.method == "PUT" and record.path.endswith("/all") and record.status == 200:
            for key in (record.param("id") or "").split(","):
                counts[int(key)] += 1
    return counts


def worker_pids(sandbox) -> list:
    """Live worker processes of this sandbox, read from the process table."""
    marker = str(sandbox.plugins_dir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_bytes().rsplit(b")", 1)[1][1:2]
        except OSError:
            continue
        if b"--worker" in cmdline and marker in environ and state != b"Z":
            found.append(int(entry.name))
    return found


def _uses(pid: str, root: str) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(root) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def stop_workers_under(root: Path, grace: float = 5.0) -> list:
    """SIGTERM (then SIGKILL) every background worker with a file open under ``root``; returns their pids.

    A worker now waits out an outage (and a test's fake Stash may be gone for good), so tests that
    start workers outside a sandbox, or leave one watching, end them here.
    """
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"--worker" in (entry / "cmdline").read_bytes() and _uses(entry.name, str(root)):
                pids.append(int(entry.name))
        except OSError:
            continue
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.05)
    for pid in pids:
        _signal(pid, signal.SIGKILL)
    return pids


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass


@contextmanager
def plex_with_sections(token: str, now: int, sections: dict):
    """A running fake Plex whose clock reads ``now``, with ``sections`` (title -> folder) added."""
    from plexsync.sandbox.fake_plex import FakePlex

    with FakePlex(token=token, wallclock=lambda: now) as fake:
        for title, folder in sections.items():
            fake.add_section(title=title, locations=[folder])
        yield fake
