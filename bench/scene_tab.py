"""Benchmark: the scene tab's status call (``scene_status``), a whole plugin process as Stash runs it.

Compares it with the hook benchmark's floor process timed in the same run (interpreter start +
persist-queue import + one put), interleaved so both see the same machine load. The state is a
busy install: 5,000 jobs queued, 10,000 sync records, 200 dead letters, a month of hourly counts, a
live worker lease. Target: median within 1.5x the floor. Also reported, as plain wall times: the
page's ``overview`` on the same state, and ``scene_diff`` and ``sync_scene`` of one scene through
the Stash host against the sandbox (fake Stash and fake Plex on loopback).

``--instructions`` also counts the instructions of one ``scene_status`` and one floor process with
valgrind (callgrind), a figure that does not move with the machine's load.

    python bench/scene_tab.py [--runs 40] [--instructions]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hook_latency import FLOOR, _callgrind, hook_input, prepare, summary  # noqa: E402

from plexsync.deadletters import DeadLetters  # noqa: E402
from plexsync.jobs import new_job  # noqa: E402
from plexsync.state import StateDB, data_dir_for  # noqa: E402

RECORDS, LETTERS = 10_000, 200


def fill(plugin_dir: Path) -> None:
    """Sync records, dead letters and hourly counts of a busy install (the queue comes from ``prepare``)."""
    db = StateDB(data_dir_for(str(plugin_dir)))
    now = time.time()
    written = json.dumps({"title": "A scene", "genre": ["a", "b"], "match": {"by": "path", "confidence": "high",
                                                                             "library": "Movies"}})
    with db.transaction() as conn:
        conn.executemany("INSERT INTO sync_records VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [(n, n + 100, f"/media/videos/{n}.mp4", now, now, "fp", written) for n in range(1, RECORDS + 1)])
        conn.executemany("INSERT INTO hourly_counts VALUES (?, ?)", [(int(now // 3600) - h, 7) for h in range(24 * 31)])
    letters = DeadLetters(db)
    for n in range(LETTERS):
        letters.bury(new_job(RECORDS + n, "update"), "permanent", "several Plex items have the scene's files: ratingKeys 1, 2")
    db.close()


def operation_input(plugin_dir: Path, args: dict) -> bytes:
    payload = json.loads(hook_input(plugin_dir, 1))
    payload["args"] = args
    return json.dumps(payload).encode()


def timed(argv: list, data: bytes, env: dict, cwd: str, expect: bytes) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, input=data, capture_output=True, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    if expect not in done.stdout:
        raise SystemExit(f"unexpected answer: {done.stdout[:300]!r} {done.stderr[-500:]!r}")
    return elapsed


def local_calls(runs: int, count: bool) -> dict:
    """scene_status and overview against the floor, interleaved."""
    with tempfile.TemporaryDirectory() as tmp:
        plugin_dir, floor_dir = Path(tmp) / "PlexSync", Path(tmp) / "floor"
        plugin_dir.mkdir()
        prepare(plugin_dir, 5000)
        fill(plugin_dir)
        env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
        entry = [sys.executable, str(ROOT / "PlexSync.py")]
        floor_argv = [sys.executable, "-c", FLOOR, str(floor_dir)]
        status, floors, pages = [], [], []
        timed(entry, operation_input(plugin_dir, {"mode": "scene_status", "scene_id": "1"}), env, tmp,
              b'"plex_breaker"')  # the first run compiles PlexSync's bytecode, as Stash's first call does
        for run in range(runs):
            scene = str(1 + run * 97 % RECORDS)
            status.append(timed(entry, operation_input(plugin_dir, {"mode": "scene_status", "scene_id": scene}),
                                env, tmp, b'"plex_breaker"'))
            floors.append(timed(floor_argv, hook_input(plugin_dir, run + 1), env, tmp, b"queued"))
            if run % 4 == 0:
                pages.append(timed(entry, operation_input(plugin_dir, {"mode": "overview"}), env, tmp, b'"syncs_per_hour"'))
        counts = instructions(plugin_dir, env, tmp) if count else {}
    return {"scene_status": summary(status), "floor": summary(floors), "overview": summary(pages),
            "median_ratio": round(statistics.median(status) / statistics.median(floors), 2), **counts}


def instructions(plugin_dir: Path, env: dict, tmp: str) -> dict:
    """Instructions of one scene_status and one floor process (valgrind's callgrind): immune to machine load."""
    if not shutil.which("valgrind"):
        return {"instructions": {"error": "valgrind not installed"}}
    env = {**env, "PYTHONHASHSEED": "0"}
    status = _callgrind([str(ROOT / "PlexSync.py")], operation_input(plugin_dir, {"mode": "scene_status", "scene_id": "7"}), env, tmp)
    floor = _callgrind(["-c", FLOOR, str(Path(tmp) / "floor")], hook_input(plugin_dir, 424242), env, tmp)
    return {"instructions": {"scene_status": status, "floor": floor, "ratio": round(status / floor, 3)}}


def remote_calls(runs: int) -> dict:
    """scene_diff and sync_scene of one scene, through the Stash host against the sandbox."""
    from plexsync.sandbox.world import Sandbox

    with Sandbox() as sandbox:
        host = sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1"})
        scene, _ = sandbox.add_scene("Benchmarked", tags=["a"])
        diffs, syncs = [], []
        for run in range(runs):
            sandbox.stash.update_scene(scene, title=f"Benchmarked {run}")
            for mode, samples in (("scene_diff", diffs), ("sync_scene", syncs)):
                result = host.run_operation("PlexSync", {"mode": mode, "scene_id": str(scene)})
                if result.error:
                    raise SystemExit(f"{mode}: {result.error}")
                samples.append(result.duration)
    return {"scene_diff": summary(diffs), "sync_scene": summary(syncs)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--instructions", action="store_true", help="also count instructions with valgrind")
    options = parser.parse_args()
    report = {"runs": options.runs, "records": RECORDS, "dead_letters": LETTERS, "queued": 5000,
              **local_calls(options.runs, options.instructions), **remote_calls(max(5, options.runs // 4))}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
