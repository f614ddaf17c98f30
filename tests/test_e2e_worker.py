"""The background worker end to end: real hook processes through the Stash host, real detached workers."""

import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest
from helpers import puts_per_item, wait_for, worker_pids

from plexsync.jobs import JobQueue, new_job
from plexsync.state import data_dir_for

WORKER_ENV = {"PLEXSYNC_IDLE_EXIT": "2"}


@pytest.fixture
def host(sandbox):
    return sandbox.host(env=WORKER_ENV)


def test_bulk_edit_of_200_scenes_reaches_plex_with_one_put_each(sandbox, host):
    scenes = [sandbox.add_scene(f"Bulk {n}") for n in range(200)]
    tag = sandbox.stash.add_tag("Bulk tag")
    results = host.bulk_scene_update([s for s, _ in scenes], tag_ids_add=[str(tag)])
    assert [r.output for r in results] == ["queued"] * 200
    assert wait_for(lambda: all(sandbox.plex.item(k).tag_names("genre") == ["Bulk tag"] for _, k in scenes), 120)
    counts = puts_per_item(sandbox)
    assert set(counts) == {k for _, k in scenes} and max(counts.values()) == 1


def test_concurrent_hook_streams_start_exactly_one_worker(sandbox, host):
    streams, per_stream = 8, 50
    paths = [[f"/data/videos/s{s}/n{n}.mp4" for n in range(per_stream)] for s in range(streams)]
    keys = {path: sandbox.plex.add_item(section=1, title="raw", files=[(path.replace("/data/videos", "/media/videos"), 10)])
            for stream in paths for path in stream}
    seen, pids, stop = [], set(), threading.Event()

    def sample():
        while not stop.is_set():
            found = worker_pids(sandbox)
            seen.append(len(found))
            pids.update(found)
            time.sleep(0.01)

    def stream(files):
        for path in files:
            scene_id, results = host.scene_create(title=Path(path).stem, files=[(path, 10)])
            assert results[0].output == "queued"

    sampler = threading.Thread(target=sample)
    sampler.start()
    workers = [threading.Thread(target=stream, args=(files,)) for files in paths]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    synced = wait_for(lambda: all(sandbox.plex.item(k).title != "raw" for k in keys.values()), 120)
    stop.set()
    sampler.join()
    # At most one worker drains at a time (the lease); a second process can be seen only in the moment between
    # an idle worker releasing the lease and exiting, when the next hook has already started its successor.
    assert synced and max(seen) <= 2 and len(seen) > 100 and len(pids) <= 3, (max(seen), pids)
    counts = puts_per_item(sandbox)
    assert all(counts[key] == 1 for key in keys.values())


def test_killed_worker_loses_nothing_and_repeats_at_most_one_edit(sandbox, host):
    sandbox.plex.latency = 0.005
    scenes = [sandbox.add_scene(f"Drain {n}") for n in range(301)]
    queue = JobQueue(data_dir_for(str(sandbox.plugin_dir)))
    for scene_id, _ in scenes[:300]:
        queue.put(new_job(scene_id, "update"))
    queue.close()
    host.scene_update(scenes[0][0], title="Drain 0")  # a hook starts the worker on the backlog
    assert wait_for(lambda: len(puts_per_item(sandbox)) >= random.randint(20, 150), 60)
    [pid] = worker_pids(sandbox)
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: worker_pids(sandbox) == [], 10)
    done_before = len(puts_per_item(sandbox))
    assert done_before < 301
    host.scene_update(scenes[300][0], title="Drain 300 (last hook)")
    assert wait_for(lambda: len(puts_per_item(sandbox)) == 301, 120)
    counts = puts_per_item(sandbox)
    assert sum(1 for c in counts.values() if c > 1) <= 1
    assert all(sandbox.plex.item(k).title.startswith("Drain") for _, k in scenes)


def test_plex_refusing_connections_mid_drain_ends_with_everything_synced(sandbox):
    host = sandbox.host(env={**WORKER_ENV, "PLEXSYNC_TIME_SCALE": "0.1"})  # breaker probes after 6 s
    sandbox.plex.latency = 0.01
    scenes = [sandbox.add_scene(f"Outage {n}") for n in range(60)]
    queue = JobQueue(data_dir_for(str(sandbox.plugin_dir)))
    for scene_id, _ in scenes[1:]:
        queue.put(new_job(scene_id, "update"))
    queue.close()
    host.scene_update(scenes[0][0], title="Outage 0")
    assert wait_for(lambda: len(puts_per_item(sandbox)) >= 10, 60)
    sandbox.plex.stop()  # connection refused, pooled keep-alive sockets included
    time.sleep(3.0)  # a 30 s outage in the worker's 0.1 time scale
    sandbox.plex.restart()
    assert wait_for(lambda: all(sandbox.plex.item(k).title.startswith("Outage") for _, k in scenes), 120)
    status = host.run_task_by_mode("PlexSync", "status").output
    assert status["dead_letters"] == 0 and status["last_outage"] is not None
