"""Benchmark: the background worker draining a backlog against the sandbox.

Queues N jobs for N changed scenes (each with a new cover), starts the worker with one hook the way
Stash runs it, and measures jobs per second until every item is right in the fake Plex, Plex
requests per job, and the worker's peak RSS (VmHWM sampled from /proc while it runs).

    python bench/drain.py [--jobs 1000] [--latency-ms 0 5]
"""

import argparse
import collections
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import peak_rss_mb  # noqa: E402
from plexsync.jobs import JobQueue, new_job  # noqa: E402
from plexsync.sandbox.world import Sandbox  # noqa: E402
from plexsync.state import data_dir_for  # noqa: E402


def run(jobs: int, latency_ms: float, background: bool) -> dict:
    with Sandbox(plex_latency=latency_ms / 1000, settings={"sync_background": background}) as sandbox:
        scenes = [sandbox.add_scene(f"Bench {n}", tags=["a", "b", "c"], performers=["P1", "P2"], studio="S",
                                    details="Some details", date="2024-01-02") for n in range(jobs)]
        queue = JobQueue(data_dir_for(str(sandbox.plugin_dir)))
        for scene_id, _ in scenes[1:]:
            queue.put(new_job(scene_id, "update"))
        queue.close()
        host = sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1"})
        sandbox.plex.reset_log()
        started = time.perf_counter()
        host.scene_update(scenes[0][0], title="Bench 0")
        pid, peak = None, 0.0
        pending = {key: f"Bench {n}" for n, (_, key) in enumerate(scenes)}
        while pending:
            pid = pid or sandbox.worker_pid()
            if pid:
                peak = max(peak, peak_rss_mb(pid))
            pending = {k: t for k, t in pending.items() if sandbox.plex.item(k).fields.get("title") != t}
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        by_kind = collections.Counter(f"{r.method} {r.path.split('/')[1] if r.path.count('/') < 2 else '/'.join(r.path.split('/')[1:3])}" for r in sandbox.plex.requests)
        listing = sum(1 for r in sandbox.plex.requests if r.path.endswith("/all") and r.method == "GET")
        return {"jobs": jobs, "latency_ms": latency_ms, "sync_background": background,
                "seconds": round(elapsed, 2), "jobs_per_s": round(jobs / elapsed, 1),
                "plex_requests_per_job": round((len(sandbox.plex.requests) - listing) / jobs, 2),
                "index_listing_requests": listing, "worker_peak_rss_mb": round(peak, 1),
                "requests": dict(by_kind)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0, 5])
    options = parser.parse_args()
    results = [run(options.jobs, latency, background) for latency in options.latency_ms for background in (True, False)]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
