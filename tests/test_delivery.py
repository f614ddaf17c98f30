"""Delivery through outages: error classes, backoff without head-of-line blocking, breaker, dead letters."""


from plexsync.jobs import new_job
from plexsync.sandbox.fake_plex import Fault
from plexsync.sandbox.world import PLEX_ROOT, STASH_ROOT
from plexsync.worker import drain_foreground


def queue(runtime, clock, *scene_ids, event="update"):
    clock.advance(0.001)
    for scene_id in scene_ids:
        runtime.queue.put(new_job(scene_id, event, clock=clock))
    clock.advance(0.001)


def drain(runtime):
    return drain_foreground(runtime, parallel=1)  # the background worker's sequential order


def test_ten_saves_of_one_scene_cost_one_plex_write(sandbox, runtime_for, clock):
    scene, key = sandbox.add_scene("Busy")
    runtime = runtime_for()
    queue(runtime, clock, *[scene] * 10)
    assert drain(runtime) == {"synced": 1, "covered": 9}
    assert sandbox.plex.count("PUT", r"/library/sections/\d+/all") == 1


def test_newer_edit_queued_after_a_sync_is_not_dropped(sandbox, runtime_for, clock):
    scene, key = sandbox.add_scene("First")
    runtime = runtime_for()
    queue(runtime, clock, scene)
    drain(runtime)
    sandbox.stash.update_scene(scene, title="Second")
    queue(runtime, clock, scene)
    assert drain(runtime) == {"synced": 1}
    assert sandbox.plex.item(key).title == "Second"


def test_not_found_job_is_retried_and_succeeds_after_plex_scans_the_file(sandbox, runtime_for, clock):
    scene = sandbox.stash.add_scene(title="Later", files=[(f"{STASH_ROOT}/in/later.mp4", 5)])
    sandbox.plex.add_pending_file(section=1, path=f"{PLEX_ROOT}/in/later.mp4", size=5, title="later")
    sandbox.plex.scan_delay = 120.0  # Plex materialises the file two minutes after the scan request
    runtime = runtime_for()
    queue(runtime, clock, scene, event="create")
    assert drain(runtime) == {"retry": 1}
    assert sandbox.plex.scans == [(1, f"{PLEX_ROOT}/in", False)]
    clock.advance(600)
    sandbox.plex.scan_delay = 0.0
    sandbox.plex.add_pending_file(section=1, path=f"{PLEX_ROOT}/in/later.mp4", size=5, title="later")
    runtime.plex.scan(1, f"{PLEX_ROOT}/in")
    assert drain(runtime) == {"synced": 1} and runtime.delivery.retries.count() == 0
    assert [item.title for item in sandbox.plex.items()] == ["Later"]


def test_a_job_in_backoff_does_not_delay_the_job_behind_it(sandbox, runtime_for, clock):
    missing = sandbox.stash.add_scene(title="Missing", files=[(f"{STASH_ROOT}/nowhere.mp4", 1)])
    ready, key = sandbox.add_scene("Ready")
    runtime = runtime_for(trigger_plex_scan=False)
    queue(runtime, clock, missing, ready)
    assert drain(runtime) == {"retry": 1, "synced": 1}
    assert sandbox.plex.item(key).title == "Ready"
    assert runtime.delivery.retries.count() == 1 and runtime.delivery.retries.next_due() > clock.now


def test_not_found_gives_up_after_seven_quick_looks_and_twelve_tries_into_the_dead_letters(sandbox, runtime_for, clock):
    missing = sandbox.stash.add_scene(title="Never", files=[(f"{STASH_ROOT}/never.mp4", 1)])
    runtime = runtime_for(trigger_plex_scan=False)
    queue(runtime, clock, missing)
    results = []
    for _ in range(19):
        results.append(drain(runtime))
        clock.advance(601)
    assert results[:18] == [{"retry": 1}] * 18 and results[18] == {"dead": 1}
    assert runtime.delivery.letters.list()[0].error_class == "not_found"


def test_transient_errors_use_up_max_retries_then_dead_letter(sandbox, runtime_for, clock):
    scene, key = sandbox.add_scene("Flaky")
    runtime = runtime_for(max_retries=2)
    runtime.index.build()
    sandbox.plex.add_fault(Fault(method="GET", path=rf"^/library/metadata/{key}$", times=-1, status=503))
    queue(runtime, clock, scene)
    outcomes = []
    for _ in range(3):
        outcomes.append(drain(runtime))
        clock.advance(81)
        runtime.delivery.breakers["plex"].record_success()  # other scenes keep Plex "up" meanwhile
    assert outcomes[:2] == [{"retry": 1}, {"dead": 1}]
    assert runtime.delivery.letters.list()[0].error_class == "transient"


def test_a_bug_is_buried_with_its_traceback_and_the_worker_goes_on(sandbox, runtime_for, clock):
    broken, _ = sandbox.add_scene("Broken")
    fine, key = sandbox.add_scene("Fine")
    runtime = runtime_for()
    with sandbox.stash._lock:
        sandbox.stash._scenes[broken].files[0]["size"] = "huge"  # data the syncer cannot handle
    queue(runtime, clock, broken, fine)
    counts = drain(runtime)
    assert counts == {"dead": 1, "synced": 1}
    letter = runtime.delivery.letters.list(error_class="bug")[0]
    assert "Traceback" in letter.message and letter.job.scene_id == broken


def test_parallel_foreground_drain_writes_each_scene_once(sandbox, runtime_for, clock):
    scenes = [sandbox.add_scene(f"Par {n}") for n in range(40)]
    runtime = runtime_for()
    queue(runtime, clock, *[s for s, _ in scenes for _ in range(2)])  # every scene queued twice
    progress = []
    counts = drain_foreground(runtime, progress.append, parallel=4)
    assert counts == {"synced": 40, "covered": 40}, runtime.db.query("SELECT error_class, last_error FROM retries")
    assert progress[-1] == 1.0 and progress == sorted(progress)
    puts = [r.param("id") for r in sandbox.plex.requests if r.method == "PUT"]
    assert sorted(puts) == sorted(str(k) for _, k in scenes)
