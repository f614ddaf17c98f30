"""Benchmark: the ``reconcile`` task on a large, already synced library, run the way Stash runs it.

N scenes and N Plex items are synced first (at 0 ms latency, not measured), then ``reconcile``
(scope all) runs through the Stash host with 5 ms per Plex request. Reports wall time, Stash and
Plex requests by kind, and the task's peak RSS. Run with two sizes to see the cost grow linearly.

    python bench/reconcile.py [--scenes 5000 20000] [--latency-ms 5]
"""

import argparse
import collections
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import timed_task  # noqa: E402
from plexsync.sandbox.world import Sandbox  # noqa: E402


def run(scenes: int, latency_ms: float) -> dict:
    with Sandbox(settings={"sync_poster": False, "sync_background": False}) as sandbox:
        for n in range(scenes):
            sandbox.add_scene(f"Scene {n}", tags=["A", "B"], performers=["P"], studio="S", date="2024-01-01")
        host = sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1"})
        assert host.run_task_by_mode("PlexSync", "sync_all").output["synced"] == scenes
        sandbox.plex.latency = latency_ms / 1000
        sandbox.plex.reset_log()
        sandbox.stash.reset_log()
        result, elapsed, peak, _ = timed_task(host, "reconcile", {"scope": "all"})
        kinds = collections.Counter(f"{r.method} {re.sub(r'[0-9][0-9,]*', 'N', r.path)}" for r in sandbox.plex.requests)
        stash_ops = collections.Counter(r.operation_name for r in sandbox.stash.requests)
    return {"scenes": scenes, "plex_latency_ms": latency_ms, "seconds": round(elapsed, 2),
            "ms_per_scene": round(elapsed * 1000 / scenes, 3), "in_sync": result.output["in_sync"],
            "queued": result.output["queued"], "stash_requests": dict(stash_ops),
            "plex_requests": dict(kinds), "peak_rss_mb": round(peak, 1), "error": result.error}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--latency-ms", type=float, default=5.0)
    options = parser.parse_args()
    print(json.dumps([run(n, options.latency_ms) for n in options.scenes], indent=2))


if __name__ == "__main__":
    main()
