"""Benchmark: ``sync_all`` with collections, run the way Stash runs it.

N scenes in G groups (each scene with its place in its group) and S studios, every group with a front
cover and synopsis, every studio with a logo and description, ``collections_from: studio, group``,
and a per-request latency on Plex. Runs ``sync_all`` three times through the Stash host:

1. everything new: every scene written, every collection created with its poster, summary and order;
2. nothing changed: no Plex request at all (scenes or collections);
3. ``--changed`` group covers and studio descriptions changed in Stash (no scene touched): only those
   collections are written.

Reports wall time, changed scenes per second, and the Plex requests by kind, with the collection
requests apart (``/library/metadata/<collection>/...`` and the ``type=18`` listing and edits).

    python bench/collections.py [--scenes 10000] [--groups 200] [--studios 50] [--latency-ms 5] [--changed 10]
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


def request_kinds(sandbox: Sandbox, collection_keys: set) -> tuple:
    """(scene request kinds, collection request kinds) of the fake Plex's log."""
    scenes, shelves = collections.Counter(), collections.Counter()
    for record in sandbox.plex.requests:
        parts = record.path.strip("/").split("/")
        if record.param("type") == "18":
            shelves[f"{record.method} section collections ({'listing' if record.method == 'GET' else 'edit'})"] += 1
        elif len(parts) > 2 and parts[1] == "metadata" and parts[2].isdigit() and int(parts[2]) in collection_keys:
            shelves[f"{record.method} {'/'.join(['collection'] + parts[3:4])}"] += 1
        else:
            scenes[f"{record.method} {'/'.join(parts[:2]) if record.method == 'GET' else parts[-1]}"] += 1
    return scenes, shelves


def timed_run(sandbox: Sandbox, host) -> dict:
    sandbox.plex.reset_log()
    sandbox.stash.reset_log()
    result, elapsed, peak, cpu = timed_task(host, "sync_all")
    keys = {c.rating_key for c in sandbox.collections.all()}
    scenes, shelves = request_kinds(sandbox, keys)
    synced = result.output["synced"]
    return {"seconds": round(elapsed, 2), "output": result.output, "error": result.error,
            "changed_scenes_per_s": round(synced / elapsed, 1), "stash_requests": len(sandbox.stash.requests),
            "plex_requests": len(sandbox.plex.requests),
            "plex_scene_requests_per_changed_scene": round(sum(scenes.values()) / synced, 2) if synced else None,
            "plex_scene_request_kinds": dict(scenes), "collection_requests": sum(shelves.values()),
            "collection_request_kinds": dict(shelves), "peak_rss_mb": round(peak, 1), "task_cpu_seconds": round(cpu, 1)}


def populate(sandbox: Sandbox, options) -> tuple:
    """The library: scenes spread over groups and studios (ids and group order interleaved)."""
    stash = sandbox.stash
    groups = [stash.add_group(f"Group {g}", synopsis=f"The story of group {g}.", front_image=b"\xff\xd8cover%d" % g)
              for g in range(options.groups)]
    studios = [stash.add_studio(f"Studio {s}", details=f"About studio {s}.", image=b"\x89PNGlogo%d" % s)
               for s in range(options.studios)]
    for n in range(options.scenes):
        sandbox.add_scene(f"Scene {n}", tags=["Tag A", "Tag B", "Tag C"], performers=["P One", "P Two"],
                          studio=studios[n % len(studios)], groups=[(groups[n % len(groups)], n // len(groups) + 1)],
                          details="Details of the scene.", date="2024-03-04")
    return groups, studios


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenes", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--studios", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--changed", type=int, default=10, help="group covers and studio descriptions changed for run 3")
    options = parser.parse_args()
    settings = {"collections_from": "studio, group"}
    with Sandbox(plex_latency=options.latency_ms / 1000, settings=settings) as sandbox:
        groups, studios = populate(sandbox, options)
        host = sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1"})
        first, second = timed_run(sandbox, host), timed_run(sandbox, host)
        for n in range(options.changed):
            sandbox.stash.update_group(groups[n], front_image=b"\xff\xd8new cover %d" % n)
            sandbox.stash.update_studio(studios[n], details=f"New words about studio {n}.")
        third = timed_run(sandbox, host)
        held = sandbox.collections.all()
    print(json.dumps({"scenes": options.scenes, "groups": options.groups, "studios": options.studios,
                      "plex_latency_ms": options.latency_ms, "collections_in_plex": len(held),
                      "first_run": first, "second_run_nothing_changed": second,
                      f"third_run_{options.changed}_covers_and_{options.changed}_descriptions_changed": third}, indent=2))


if __name__ == "__main__":
    main()
