"""The background worker reads the next queued scenes and their Plex items ahead, two requests per batch,
and never writes a Plex item from a Stash state older than the job it syncs."""

from plexsync import readahead
from plexsync.jobs import new_job
from test_outage import queue, run_until_idle, stepper


def detail_gets(sandbox) -> int:
    return sandbox.plex.count("GET", r"^/library/metadata/[0-9,]+$")


def edited_and_queued(sandbox, runtime_for, clock, count: int) -> tuple:
    """``count`` synced scenes edited in Stash (titles ``Edited <n>``), one queued job each."""
    scenes = [sandbox.add_scene(f"Scene {n}") for n in range(count)]
    for n, (scene_id, _) in enumerate(scenes):
        sandbox.stash.update_scene(scene_id, title=f"Edited {n}")
    runtime = runtime_for()
    queue(runtime, clock, *[scene_id for scene_id, _ in scenes])
    return runtime, scenes


def test_a_queue_of_scenes_costs_two_reads_per_batch_not_two_per_job(sandbox, runtime_for, clock):
    runtime, scenes = edited_and_queued(sandbox, runtime_for, clock, 30)
    before_find, before_gets = sandbox.stash.count("FindScene"), detail_gets(sandbox)
    assert run_until_idle(stepper(runtime, clock)) == 30
    assert [sandbox.plex.item(key).title for _, key in scenes] == [f"Edited {n}" for n in range(30)]
    assert sandbox.stash.count("ScenesById") == 1 and sandbox.stash.count("FindScene") == before_find
    assert detail_gets(sandbox) - before_gets == 1  # one batched GET for the 30 items


def test_a_scene_changed_after_the_read_ahead_is_synced_from_its_new_state(sandbox, runtime_for, clock):
    scenes = [sandbox.add_scene(f"Scene {n}") for n in range(3)]
    runtime = runtime_for()
    queue(runtime, clock, *[scene_id for scene_id, _ in scenes])
    worker = stepper(runtime, clock)
    assert worker.step()  # reads all three ahead, syncs the first
    assert runtime.queue.clear_pending() == 2  # the jobs read ahead for are gone (e.g. cleared by the user)
    last_id, last_key = scenes[-1]
    sandbox.stash.update_scene(last_id, title="Changed after the read-ahead")
    queue(runtime, clock, last_id)  # its hook queues a job after the read, while the read is still fresh
    assert run_until_idle(worker) == 1
    assert sandbox.plex.item(last_key).title == "Changed after the read-ahead"
    assert sandbox.stash.count("ScenesById") == 1 and runtime.queue.pending() == 0


def test_a_read_ahead_older_than_its_limit_is_dropped_and_read_again(sandbox, runtime_for, clock):
    scenes = [sandbox.add_scene(f"Scene {n}") for n in range(3)]
    runtime = runtime_for()
    queue(runtime, clock, *[scene_id for scene_id, _ in scenes])
    worker = stepper(runtime, clock)
    assert worker.step()
    sandbox.stash.update_scene(scenes[1][0], title="Changed in Stash meanwhile")
    clock.advance(readahead.MAX_AGE + 1)
    run_until_idle(worker)
    assert sandbox.plex.item(scenes[1][1]).title == "Changed in Stash meanwhile"
    assert sandbox.stash.count("ScenesById") == 2


def test_a_deleted_scene_in_the_batch_pauses_the_read_ahead_and_every_job_still_runs(sandbox, runtime_for, clock):
    runtime, scenes = edited_and_queued(sandbox, runtime_for, clock, 4)
    sandbox.stash.destroy_scene(scenes[2][0])  # Stash refuses findScenes(ids:) as a whole now
    assert run_until_idle(stepper(runtime, clock)) == 4
    assert [sandbox.plex.item(key).title for n, (_, key) in enumerate(scenes) if n != 2] == ["Edited 0", "Edited 1", "Edited 3"]
    assert sandbox.stash.count("ScenesById") == 1 and sandbox.stash.count("FindScene") >= 4
    assert runtime.delivery.letters.counts() == {}


def test_one_waiting_job_is_fetched_on_its_own(sandbox, runtime_for, clock):
    scene_id, key = sandbox.add_scene("Alone")
    sandbox.stash.update_scene(scene_id, title="Alone, edited")
    runtime = runtime_for()
    runtime.queue.put(new_job(scene_id, "update", clock=clock))
    clock.advance(0.001)
    assert run_until_idle(stepper(runtime, clock)) == 1
    assert sandbox.plex.item(key).title == "Alone, edited" and sandbox.stash.count("ScenesById") == 0
