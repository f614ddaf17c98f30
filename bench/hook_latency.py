"""Benchmark: wall time of a whole hook process, spawned the way Stash spawns it.

Compares PlexSync's hook with a floor process timed in the same run (interpreter start + persist-queue
import + one put into the same queue). 5,000 jobs are queued first; a live lease stands for a running
worker, so the hook measures its own work (a spawn happens at most once per worker lifetime).

    python bench/hook_latency.py [--runs 50]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plexsync.jobs import JobQueue, new_job  # noqa: E402
from plexsync.lease import Lease  # noqa: E402
from plexsync.state import StateDB, data_dir_for  # noqa: E402

FLOOR = """
import sys, json
from persistqueue import SQLiteAckQueue
from persistqueue.serializers import json as js
data = json.loads(sys.stdin.buffer.read())
q = SQLiteAckQueue(sys.argv[1], auto_resume=False, serializer=js, db_file_name="queue.db")
q.put({"scene_id": data["args"]["hookContext"]["id"]})
sys.stdout.write('{"output": "queued"}')
"""


def hook_input(plugin_dir: Path, scene_id: int) -> bytes:
    example = json.loads((ROOT.parent / "shared/examples/stash/example_hook_stdin.json").read_text()) \
        if (ROOT.parent / "shared/examples/stash/example_hook_stdin.json").exists() else None
    payload = example or {"server_connection": {"Scheme": "http", "Host": "0.0.0.0", "Port": 9999,
                                                "SessionCookie": {"Name": "session", "Value": "x"}},
                          "args": {"mode": "hook", "hookContext": {"id": 1, "type": "Scene.Update.Post",
                                                                    "inputFields": ["title", "id"]}}}
    payload["server_connection"]["PluginDir"] = str(plugin_dir)
    payload["args"]["hookContext"]["id"] = scene_id
    return json.dumps(payload, separators=(",", ":")).encode()


def timed(argv: list, data: bytes, env: dict, cwd: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, input=data, capture_output=True, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    if b"queued" not in done.stdout:
        raise SystemExit(f"unexpected answer: {done.stdout!r} {done.stderr[-500:]!r}")
    return elapsed


def prepare(plugin_dir: Path, backlog: int) -> None:
    data_dir = data_dir_for(str(plugin_dir))
    queue = JobQueue(data_dir)
    for scene_id in range(backlog):
        queue.put(new_job(scene_id + 1, "update"))
    queue.close()
    Lease(StateDB(data_dir), token="bench-worker").acquire(pid=os.getpid(), ttl=3600)


def summary(samples: list) -> dict:
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered) * 1000, 1),
            "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--backlog", type=int, default=5000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plugin_dir, floor_dir = Path(tmp) / "PlexSync", Path(tmp) / "floor"
        plugin_dir.mkdir()
        prepare(plugin_dir, options.backlog)
        env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
        hook_argv = [sys.executable, str(ROOT / "PlexSync.py")]
        floor_argv = [sys.executable, "-c", FLOOR, str(floor_dir)]
        hooks, floors = [], []
        for run in range(options.runs):  # interleaved, so both see the same machine load
            data = hook_input(plugin_dir, 100_000 + run)
            hooks.append(timed(hook_argv, data, env, tmp))
            floors.append(timed(floor_argv, data, env, tmp))
    hook, floor = summary(hooks), summary(floors)
    ratio = round(hook["median_ms"] / floor["median_ms"], 2)
    print(json.dumps({"runs": options.runs, "backlog": options.backlog, "hook": hook, "floor": floor,
                      "median_ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()
