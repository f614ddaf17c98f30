"""Benchmark: how soon changes reach Plex after an outage, and after Plex adds a new file.

``recovery``: Plex refuses connections from before the first hook; 100 scenes are saved in Stash (100
hook processes, run the way Stash runs them); Plex stays down for the outage's length, then comes
back. Measures the time from Plex answering again to the last held job synced, with no further hook
or task, and counts the worker processes started (sampled from the process table) and the warning or
error lines the hooks logged.

``scan``: a new scene whose file Plex does not know yet (Scene.Create.Post); Plex adds the item some
seconds after PlexSync's scan request. Measures the time from Plex adding the item to the scene synced.

    python bench/outage.py [--outages 20 600] [--scan-delays 1 4 9 16 25] [--scenes 100]
"""

import argparse
import json
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import worker_pids  # noqa: E402
from plexsync.sandbox.world import PLEX_ROOT, STASH_ROOT, Sandbox  # noqa: E402

ENV = {"PLEXSYNC_IDLE_EXIT": "2"}


def _all_synced(sandbox: Sandbox, scenes: list) -> bool:
    return all(sandbox.plex.item(key).title == f"Edited {n}" for n, (_, key) in enumerate(scenes))


def _any_synced(sandbox: Sandbox, scenes: list) -> bool:
    return any(sandbox.plex.item(key).title == f"Edited {n}" for n, (_, key) in enumerate(scenes))


def _sample(sandbox: Sandbox, pids: set, stop: threading.Event) -> None:
    while not stop.is_set():
        pids.update(worker_pids(sandbox))
        time.sleep(0.01)


def recovery(outage: float, count: int, latency_ms: float) -> dict:
    with Sandbox(plex_latency=latency_ms / 1000) as sandbox:
        scenes = [sandbox.add_scene(f"Scene {n}") for n in range(count)]
        host, pids, stop = sandbox.host(env=ENV), set(), threading.Event()
        sampler = threading.Thread(target=_sample, args=(sandbox, pids, stop), daemon=True)
        sampler.start()
        sandbox.plex.stop()
        down_at, noise, hook_seconds = time.monotonic(), [], []
        for n, (scene_id, _) in enumerate(scenes):
            [result] = host.scene_update(scene_id, title=f"Edited {n}")
            noise += result.lines("warning") + result.lines("error")
            hook_seconds.append(result.duration)
        time.sleep(max(0.0, outage - (time.monotonic() - down_at)))
        sandbox.plex.restart()
        back_at, first = time.monotonic(), None
        while not _all_synced(sandbox, scenes):
            if first is None and _any_synced(sandbox, scenes):
                first = time.monotonic() - back_at
            time.sleep(0.02)
        delivered = time.monotonic() - back_at
        stop.set()
        sampler.join()
    return {"outage_s": outage, "held_jobs": count, "plex_latency_ms": latency_ms,
            "seconds_from_plex_back_to_first_synced": round(first if first is not None else delivered, 2),
            "seconds_from_plex_back_to_last_synced": round(delivered, 2), "worker_processes_started": len(pids),
            "hook_warning_or_error_lines": len(noise), "hook_median_ms": round(sorted(hook_seconds)[count // 2] * 1000, 1)}


def scan(delay: float, latency_ms: float) -> dict:
    with Sandbox(plex_latency=latency_ms / 1000) as sandbox:
        host = sandbox.host(env=ENV)
        name = f"new-{int(delay * 10)}.mp4"
        sandbox.plex.add_pending_file(section=sandbox.section, path=f"{PLEX_ROOT}/new/{name}", size=77, title="raw")
        sandbox.plex.scan_delay = delay
        host.scene_create(title="Fresh scene", files=[(f"{STASH_ROOT}/new/{name}", 77)])
        while not any(r.path.endswith("/refresh") for r in sandbox.plex.requests):
            time.sleep(0.01)
        added_at = next(r.t for r in sandbox.plex.requests if r.path.endswith("/refresh")) + delay
        while not any(item.title == "Fresh scene" for item in sandbox.plex.items()):
            time.sleep(0.02)
        synced_at = time.monotonic()
    return {"plex_adds_the_item_after_s": delay, "seconds_from_item_added_to_synced": round(synced_at - added_at, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outages", type=float, nargs="*", default=[20, 600])
    parser.add_argument("--scan-delays", type=float, nargs="*", default=[1, 4, 9, 16, 25])
    parser.add_argument("--scenes", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    options = parser.parse_args()
    results = {"recovery": [recovery(o, options.scenes, options.latency_ms) for o in options.outages],
               "scan": [scan(d, options.latency_ms) for d in options.scan_delays]}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
