"""Both ways end to end: real plugin processes through the Stash host, the fake Plex's play history and
ratings (sandbox/plex_playback.py), the fake Stash's play history, resume time and ratings."""

import collections
import time

import pytest
from helpers import wait_for

from plexsync.sandbox.world import PLEX_TOKEN

PULL_ALL = {"pull_plays": True, "pull_resume": True, "pull_ratings": True}
T0 = int(time.time()) - 30 * 86400  # plays a month ago, a second apart or more


@pytest.fixture
def host(sandbox):
    sandbox.configure(**PULL_ALL)
    host = sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "1"})
    host.fire_hooks_on_plugin_updates()  # PlexSync's own sceneUpdate fires Scene.Update.Post, as in Stash
    return host


def pull(host):
    result = host.run_task_by_mode("PlexSync", "pull", timeout=300)
    assert result.error is None, result.error
    return result


def counts(result) -> dict:
    return {key: result.output[key] for key in ("scanned", "plays_added", "resume_updated", "ratings_updated", "unmatched")}


def history(sandbox, scene_id) -> list:
    return sorted(sandbox.stash.activity(scene_id)["play_history"])


def stash_times(*unix) -> list:
    return sorted(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) for t in unix)


def rate_requests(sandbox) -> int:
    return sandbox.plex.count("PUT", r"^/:/rate$")


def test_a_rating_saved_in_stash_reaches_plex_through_the_hook(sandbox, host):
    scene, key = sandbox.add_scene("Rated in Stash")
    assert [r.output for r in host.scene_update(scene, rating100=80)] == ["queued"]
    assert wait_for(lambda: sandbox.playback.state(key).get("userRating") == 8.0, 60)
    host.scene_update(scene, rating100=None)
    assert wait_for(lambda: "userRating" not in sandbox.playback.state(key), 60)


def test_plays_resume_points_and_plex_ratings_reach_stash_exactly_then_nothing_then_one(sandbox, host):
    played, played_key = sandbox.add_scene("Played")
    rated, rated_key = sandbox.add_scene("Rated", rating100=40)
    assert host.run_task_by_mode("PlexSync", "sync_all").output["synced"] == 2
    paused, paused_key = sandbox.add_scene("Paused")  # never synced: linked by its file
    stranger = sandbox.plex.add_item(section=sandbox.section, title="Not in Stash", files=[("/media/videos/x.mp4", 1)])
    for offset in (0, 3600, 7200):
        sandbox.playback.play(played_key, viewed_at=T0 + offset)
    sandbox.playback.play(played_key, viewed_at=T0 + 100, account=12)  # another Plex user: not pulled by default
    sandbox.playback.progress(paused_key, 95_000, at=T0 + 50)
    sandbox.playback.rate(rated_key, 9.0, at=int(time.time()) + 5)
    sandbox.playback.play(stranger, viewed_at=T0 + 10)

    first = pull(host)

    assert counts(first) == {"scanned": 4, "plays_added": 3, "resume_updated": 1, "ratings_updated": 1, "unmatched": 1}
    assert history(sandbox, played) == stash_times(T0, T0 + 3600, T0 + 7200)
    assert sandbox.stash.activity(played)["play_count"] == 3
    assert sandbox.stash.activity(played)["last_played_at"] == stash_times(T0 + 7200)[0]
    assert sandbox.stash.activity(paused)["resume_time"] == 95.0
    assert sandbox.stash.scene(rated)["rating100"] == 90
    assert any("unmatched" in line and "Not in Stash" in line for line in first.lines("info"))
    assert sandbox.stash.count(operation="PullScene") == 3

    sandbox.stash.reset_log()
    second = pull(host)
    assert counts(second) == dict.fromkeys(counts(second), 0)
    assert sandbox.stash.count(operation="PullScene") == 0

    sandbox.playback.play(played_key, viewed_at=T0 + 9000)
    third = pull(host)
    assert third.output["plays_added"] == 1 and history(sandbox, played) == stash_times(T0, T0 + 3600, T0 + 7200, T0 + 9000)


def test_other_users_plays_come_with_the_setting(sandbox, host):
    scene, key = sandbox.add_scene("Shared")
    sandbox.playback.play(key, viewed_at=T0, account=1)
    sandbox.playback.play(key, viewed_at=T0 + 60, account=7)
    sandbox.configure(**PULL_ALL, pull_other_users=True)
    assert pull(host).output["plays_added"] == 2
    assert history(sandbox, scene) == stash_times(T0, T0 + 60)


def test_a_pull_killed_half_way_through_2000_plays_and_run_again_adds_every_play_exactly_once(sandbox, host):
    expected = collections.defaultdict(list)
    for n in range(400):
        scene, key = sandbox.add_scene(f"Scene {n}")
        for m in range(5):
            sandbox.playback.play(key, viewed_at=T0 + n * 10 + m * 86400)
            expected[scene].append(T0 + n * 10 + m * 86400)
    sandbox.stash.latency = 0.01  # so the kill lands while scenes are being written
    running = host.start_task("PlexSync", host.task_for_mode("PlexSync", "pull"))
    assert running.wait_for_progress(0.5, timeout=120)
    running.kill()
    running.wait(30)
    added = sum(sandbox.stash.activity(scene)["play_count"] for scene in expected)
    assert 0 < added < 2000, added  # killed half-way

    sandbox.stash.latency = 0
    rerun = pull(host)

    assert rerun.output["plays_added"] == 2000 - added
    assert {scene: history(sandbox, scene) for scene in expected} == {
        scene: stash_times(*times) for scene, times in expected.items()}
    assert pull(host).output["plays_added"] == 0


def test_a_rating_changed_in_plex_then_in_stash_ends_as_the_stash_one(sandbox, host):
    scene, key = sandbox.add_scene("Plex first", rating100=50)
    assert host.run_task_by_mode("PlexSync", "sync_all").output["synced"] == 1
    sandbox.playback.rate(key, 9.0, at=int(time.time()) - 5)
    host.scene_update(scene, rating100=30)
    assert wait_for(lambda: sandbox.playback.state(key).get("userRating") == 3.0, 60)

    result = pull(host)

    assert result.output["ratings_updated"] == 0 and sandbox.stash.scene(scene)["rating100"] == 30
    assert sandbox.playback.state(key)["userRating"] == 3.0


def test_a_rating_changed_in_stash_then_in_plex_ends_as_the_plex_one_with_no_loop(sandbox, host):
    scene, key = sandbox.add_scene("Stash first", rating100=50)
    assert host.run_task_by_mode("PlexSync", "sync_all").output["synced"] == 1
    host.scene_update(scene, rating100=70)
    assert wait_for(lambda: sandbox.playback.state(key).get("userRating") == 7.0, 60)
    sandbox.playback.rate(key, 2.0, at=int(time.time()) + 5)
    rates_before = rate_requests(sandbox)

    result = pull(host)

    assert result.output["ratings_updated"] == 1 and sandbox.stash.scene(scene)["rating100"] == 20
    assert [r.output for r in host.plugin_update_hooks] == ["queued"]  # Stash ran the hook for PlexSync's update
    assert wait_for(lambda: sandbox.worker_pid() is None, 60)  # the hook's job is done and the worker gone
    assert rate_requests(sandbox) == rates_before and sandbox.playback.state(key)["userRating"] == 2.0
    sandbox.stash.reset_log()
    assert pull(host).output["ratings_updated"] == 0
    assert sandbox.stash.count(operation="PullScene") == 0


def test_a_stash_without_play_history_gives_one_line_and_changes_nothing(tmp_path):
    from plexsync.sandbox.world import Sandbox

    with Sandbox(root=tmp_path / "old", stash_options={"version": "v0.24.3"}) as sandbox:
        sandbox.configure(**PULL_ALL)
        scene, key = sandbox.add_scene("Old")
        sandbox.playback.play(key, viewed_at=T0)
        result = sandbox.host().run_task_by_mode("PlexSync", "pull")
        assert "v0.24.3 has no play history" in result.error and len(result.lines("error")) == 1
        assert sandbox.stash.count(operation="PullScene") == 0 and sandbox.plex.count(path="history") == 0


def test_a_plex_that_refuses_the_token_gives_one_line_and_changes_nothing(sandbox, host):
    scene, key = sandbox.add_scene("Refused")
    sandbox.playback.play(key, viewed_at=T0)
    sandbox.configure(**PULL_ALL, plex_token="wrong-token")
    result = host.run_task_by_mode("PlexSync", "pull")
    assert "Plex refused the token (401)" in result.error and len(result.lines("error")) == 1
    assert PLEX_TOKEN not in result.stdout and sandbox.stash.count(operation="PullScene") == 0


def test_the_scheduled_pull_runs_in_the_background_worker(sandbox, host):
    scene, key = sandbox.add_scene("Scheduled")
    sandbox.playback.play(key, viewed_at=T0)
    sandbox.configure(**PULL_ALL, pull_interval="hourly")
    host.run_task_by_mode("PlexSync", "status")
    host.run_task_by_mode("PlexSync", "reindex")  # any run that reads the settings caches the interval
    host.scene_update(scene, title="Scheduled 2")  # the next invocation finds the pull due
    assert wait_for(lambda: history(sandbox, scene) == stash_times(T0), 60)


def test_an_item_linked_by_its_file_follows_the_file_to_another_scene(sandbox, host):
    first, key = sandbox.add_scene("First owner", file_name="moved.mp4")
    sandbox.playback.play(key, viewed_at=T0)
    assert pull(host).output["plays_added"] == 1 and sandbox.stash.count(operation="SceneFiles") == 1
    sandbox.playback.play(key, viewed_at=T0 + 60)
    sandbox.stash.reset_log()
    assert pull(host).output["plays_added"] == 1 and sandbox.stash.count(operation="SceneFiles") == 0  # link kept
    path = sandbox.stash.scene(first)["files"][0]["path"]
    sandbox.stash.update_scene(first, files=[("/data/videos/elsewhere.mp4", 5)])
    second = sandbox.stash.add_scene(title="Second owner", files=[(path, 7)])
    sandbox.playback.play(key, viewed_at=T0 + 120)

    assert pull(host).output["unmatched"] == 1  # the link no longer holds: nothing written to the first scene
    assert pull(host).output["plays_added"] == 1  # relinked to the scene that has the file now
    assert history(sandbox, first) == stash_times(T0, T0 + 60) and history(sandbox, second) == stash_times(T0 + 120)
