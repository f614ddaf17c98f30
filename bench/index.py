"""Benchmark: building and refreshing the library index on a large fake Plex library.

10,000 items at 5 ms per request: a full build (one paged listing of the section), an incremental
refresh after Plex adds 10 items (``updatedAt>>=`` listing), and a refresh with nothing new.

    python bench/index.py [--items 10000] [--latency-ms 5]
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plexsync.library import LibraryIndex  # noqa: E402
from plexsync.plex import PlexClient  # noqa: E402
from plexsync.sandbox.world import PLEX_ROOT, PLEX_TOKEN, Sandbox  # noqa: E402
from plexsync.state import StateDB, data_dir_for  # noqa: E402


def measure(sandbox: Sandbox, action) -> dict:
    sandbox.plex.reset_log()
    started = time.perf_counter()
    seen = action()
    return {"seconds": round(time.perf_counter() - started, 3), "plex_requests": len(sandbox.plex.requests), "items": seen}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    options = parser.parse_args()
    with Sandbox(plex_latency=options.latency_ms / 1000) as sandbox:
        yesterday = int(time.time()) - 86400  # an existing library: items added and updated earlier
        for n in range(options.items):
            sandbox.plex.add_item(section=1, title=f"Item {n}", files=[(f"{PLEX_ROOT}/f{n // 500}/item-{n}.mp4", n)],
                                  addedAt=yesterday, updatedAt=yesterday)
        plex = PlexClient(sandbox.plex.url, PLEX_TOKEN, "bench")
        sections = plex.sections([])
        index = LibraryIndex(StateDB(data_dir_for(str(sandbox.plugin_dir))), plex, sections)
        build = measure(sandbox, lambda: sum(index.build(force=True).values()))
        for n in range(10):
            sandbox.plex.add_item(section=1, title=f"New {n}", files=[(f"{PLEX_ROOT}/new/new-{n}.mp4", n)])
        refresh = measure(sandbox, lambda: index.refresh(force=True))
        idle = measure(sandbox, lambda: index.refresh(force=True))
        lookup_started = time.perf_counter()
        hits = sum(len(index.by_path(f"{PLEX_ROOT}/f{n // 500}/item-{n}.mp4")) for n in range(0, options.items, 10))
        lookup_ms = (time.perf_counter() - lookup_started) * 1000 / max(1, options.items // 10)
    print(json.dumps({"items": options.items, "plex_latency_ms": options.latency_ms, "full_build": build,
                      "refresh_after_10_new": refresh, "refresh_nothing_new": idle,
                      "lookup_ms": round(lookup_ms, 3), "lookup_hits": hits}, indent=2))


if __name__ == "__main__":
    main()
