"""Benchmark: the ``pull`` task over a large library, run the way Stash runs it.

N Plex items, each the file of one Stash scene, and P plays spread over them (several per item, a year of
history), plus a resume point on one item in ten and a Plex rating on one in ten; 5 ms per Plex request.
Nothing was synced before, so every item is linked through the scenes' files (the pull's dearest case).
Three pulls through the Stash host: the first brings everything, the second finds nothing new, the
third follows 100 new plays. Reports for each: wall time, the task's CPU seconds, Plex requests by kind, Stash requests by
operation (``PullScene`` is the one request per changed scene), the task's counts and peak RSS.

    python bench/pull.py [--items 10000] [--plays 20000] [--latency-ms 5]
"""

import argparse
import collections
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import timed_task  # noqa: E402
from plexsync.sandbox.world import Sandbox  # noqa: E402

SETTINGS = {"pull_plays": True, "pull_resume": True, "pull_ratings": True, "sync_poster": False, "sync_background": False}


def populate(sandbox: Sandbox, items: int, plays: int) -> list:
    """The library and its history (not measured); returns the ratingKeys."""
    keys = [sandbox.add_scene(f"Scene {n}", tags=["A"], studio="S")[1] for n in range(items)]
    start = int(time.time()) - 365 * 86400
    for n in range(plays):
        sandbox.playback.play(keys[n % items], viewed_at=start + n * (365 * 86400 // plays))
    for n, key in enumerate(keys):
        if n % 10 == 3:
            sandbox.playback.progress(key, 60_000 + n, at=int(time.time()) - 3600)
        if n % 10 == 7:
            sandbox.playback.rate(key, float(n % 10), at=int(time.time()) - 3600)
    return keys


def measured(sandbox: Sandbox, host) -> dict:
    sandbox.plex.reset_log()
    sandbox.stash.reset_log()
    result, elapsed, peak, cpu = timed_task(host, "pull")
    plex = collections.Counter(f"{r.method} {re.sub(r'[0-9][0-9,]*', 'N', r.path)}" for r in sandbox.plex.requests)
    stash = collections.Counter(r.operation_name for r in sandbox.stash.requests)
    output = result.output or {}
    return {"seconds": round(elapsed, 2), "cpu_seconds": round(cpu, 2), "plex_requests": sum(plex.values()), "plex_by_kind": dict(plex),
            "stash_mutations": stash.get("PullScene", 0), "stash_requests": dict(stash),
            "counts": {k: v for k, v in output.items() if k != "examples"}, "peak_rss_mb": round(peak, 1),
            "error": result.error}


def run(items: int, plays: int, latency_ms: float) -> dict:
    with Sandbox(settings=SETTINGS) as sandbox:
        keys = populate(sandbox, items, plays)
        host = sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1"})
        sandbox.plex.latency = latency_ms / 1000
        first = measured(sandbox, host)
        second = measured(sandbox, host)
        for n in range(100):
            sandbox.playback.play(keys[n * (items // 100)])
        third = measured(sandbox, host)
    return {"items": items, "plays": plays, "plex_latency_ms": latency_ms,
            "first_pull": first, "second_pull_nothing_new": second, "third_pull_100_new_plays": third}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--plays", type=int, default=20000)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    options = parser.parse_args()
    print(json.dumps(run(options.items, options.plays, options.latency_ms), indent=2))


if __name__ == "__main__":
    main()
