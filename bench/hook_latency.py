"""Benchmark: wall time of a whole hook process, spawned the way Stash spawns it.

Compares PlexSync's hook with a floor process timed in the same run (interpreter start + persist-queue
import + one put), interleaved so both see the same machine load. Two situations:

* ``idle``: 5,000 jobs queued; a live lease stands for a running worker, so the hook measures its own
  work (a spawn happens at most once per worker lifetime);
* ``draining``: a real background worker drains 3,000 jobs against the sandbox (fake Plex at 5 ms) while
  the hooks run, writing its log that every hook relays.

``--instructions`` also counts the instructions of one hook and one floor process with valgrind
(callgrind), a figure that does not move with the machine's load.

    python bench/hook_latency.py [--runs 50] [--mode idle draining] [--instructions]
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


def compare(plugin_dir: Path, tmp: str, runs: int, inputs) -> dict:
    """Time ``runs`` hooks and floors, interleaved; ``inputs(run)`` gives each hook's stdin."""
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
    hook_argv = [sys.executable, str(ROOT / "PlexSync.py")]
    floor_argv = [sys.executable, "-c", FLOOR, str(Path(tmp) / "floor")]
    timed(hook_argv, inputs(-1), env, tmp)  # first run compiles PlexSync's bytecode, as Stash's first hook does
    hooks, floors = [], []
    for run in range(runs):  # interleaved, so both see the same machine load
        data = inputs(run)
        hooks.append(timed(hook_argv, data, env, tmp))
        floors.append(timed(floor_argv, data, env, tmp))
    hook, floor = summary(hooks), summary(floors)
    return {"hook": hook, "floor": floor, "median_ratio": round(hook["median_ms"] / floor["median_ms"], 2)}


def idle(runs: int, backlog: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        plugin_dir = Path(tmp) / "PlexSync"
        plugin_dir.mkdir()
        prepare(plugin_dir, backlog)
        return {"mode": "idle", "backlog": backlog, **compare(plugin_dir, tmp, runs, lambda run: hook_input(plugin_dir, 100_000 + run))}


def draining(runs: int, backlog: int) -> dict:
    from plexsync.sandbox.world import Sandbox

    with Sandbox(plex_latency=0.005) as sandbox, tempfile.TemporaryDirectory() as tmp:
        scenes = [sandbox.add_scene(f"Drain {n}")[0] for n in range(backlog)]
        queue = JobQueue(data_dir_for(str(sandbox.plugin_dir)))
        queue.put_many([new_job(scene_id, "update") for scene_id in scenes[1:]])
        queue.close()
        sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "5"}).scene_update(scenes[0], title="Drain 0")  # the worker starts
        connection = sandbox.stash.server_connection(str(sandbox.plugin_dir))

        def inputs(run: int) -> bytes:
            payload = json.loads(hook_input(sandbox.plugin_dir, scenes[run % len(scenes)]))
            return json.dumps({**payload, "server_connection": connection}).encode()
        result = compare(sandbox.plugin_dir, tmp, runs, inputs)
        still_draining = sandbox.worker_pid() is not None
    return {"mode": "draining", "backlog": backlog, "worker_draining_throughout": still_draining, **result}


def instructions(path: Path = None) -> dict:
    """Instructions of one hook and one floor process (valgrind's callgrind), or why not."""
    if not shutil.which("valgrind"):
        return {"error": "valgrind not installed"}
    with tempfile.TemporaryDirectory() as tmp:
        plugin_dir = Path(tmp) / "PlexSync"
        plugin_dir.mkdir()
        prepare(plugin_dir, 5000)
        env = {**os.environ, "PYTHONPATH": str(ROOT.parent), "PYTHONHASHSEED": "0"}
        data = hook_input(plugin_dir, 424242)
        timed([sys.executable, str(ROOT / "PlexSync.py")], data, env, tmp)
        counts = {name: _callgrind(argv, data, env, tmp) for name, argv in
                  (("hook", [str(ROOT / "PlexSync.py")]), ("floor", ["-c", FLOOR, str(Path(tmp) / "floor")]))}
    return {**counts, "ratio": round(counts["hook"] / counts["floor"], 3)}


def _callgrind(argv: list, data: bytes, env: dict, cwd: str) -> int:
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, *argv],
                          input=data, capture_output=True, env=env, cwd=cwd)
    line = next(line for line in done.stderr.decode().splitlines() if "Collected" in line)
    return int(line.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--mode", nargs="+", choices=("idle", "draining"), default=["idle", "draining"])
    parser.add_argument("--instructions", action="store_true")
    options = parser.parse_args()
    results = {"runs": options.runs}
    if "idle" in options.mode:
        results["idle"] = idle(options.runs, 5000)
    if "draining" in options.mode:
        results["draining"] = draining(options.runs, 3000)
    if options.instructions:
        results["instructions"] = instructions()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
