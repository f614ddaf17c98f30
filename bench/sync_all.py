"""Benchmark: the ``sync_all`` task on a large library, run the way Stash runs it.

N scenes in the fake Stash (tags, performers, studio, date, a cover each) and their N items in the
fake Plex, with a per-request latency on Plex. Runs ``sync_all`` twice through the Stash host: the
first run writes every scene, the second finds nothing changed. Reports wall time, changed scenes per
second, Stash and Plex requests (per changed scene on the first run), and the task's peak RSS.

    python bench/sync_all.py [--scenes 10000] [--latency-ms 5] [--no-background]
"""

import argparse
import collections
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import timed_task  # noqa: E402
from plexsync.sandbox.world import Sandbox  # noqa: E402


def timed_run(sandbox: Sandbox, host) -> dict:
    sandbox.plex.reset_log()
    sandbox.stash.reset_log()
    result, elapsed, peak, cpu = timed_task(host, "sync_all")
    plex = collections.Counter(f"{r.method} {r.path.rsplit('/', 1)[-1] if r.method != 'GET' else r.path.split('/')[2] if r.path.count('/') > 1 else r.path}"
                               for r in sandbox.plex.requests)
    changed = max(1, result.output["synced"])
    return {"seconds": round(elapsed, 2), "output": result.output, "error": result.error,
            "changed_scenes_per_s": round(result.output["synced"] / elapsed, 1),
            "stash_requests": len(sandbox.stash.requests), "plex_requests": len(sandbox.plex.requests),
            "plex_requests_per_changed_scene": round(len(sandbox.plex.requests) / changed, 2) if result.output["synced"] else None,
            "plex_request_kinds": dict(plex), "peak_rss_mb": round(peak, 1), "task_cpu_seconds": round(cpu, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenes", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--no-background", action="store_true", help="sync_background off (poster only)")
    options = parser.parse_args()
    settings = {"sync_background": not options.no_background}
    with Sandbox(plex_latency=options.latency_ms / 1000, settings=settings) as sandbox:
        for n in range(options.scenes):
            sandbox.add_scene(f"Scene {n}", tags=["Tag A", "Tag B", "Tag C"], performers=["P One", "P Two"],
                              studio="Studio", details="Details of the scene.", date="2024-03-04")
        host = sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1"})
        first, second = timed_run(sandbox, host), timed_run(sandbox, host)
    print(json.dumps({"scenes": options.scenes, "plex_latency_ms": options.latency_ms,
                      "sync_background": settings["sync_background"], "first_run": first,
                      "second_run_nothing_changed": second}, indent=2))


if __name__ == "__main__":
    main()
