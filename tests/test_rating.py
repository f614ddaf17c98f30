"""Ratings: the scales, who wins, and the push to Plex (in-process against the sandbox's fakes)."""

import pytest

from plexsync.jobs import new_job
from plexsync.rating import Pull, Push, plan_pull, plan_push, same, to_plex, to_stash


@pytest.mark.parametrize("rating100, plex", [(None, None), (0, None), (1, 0.1), (50, 5.0), (85, 8.5), (100, 10.0),
                                             (120, 10.0)])
def test_stash_ratings_become_plex_ratings_out_of_ten(rating100, plex):
    assert to_plex(rating100) == plex


@pytest.mark.parametrize("plex, rating100", [(None, None), (0.0, None), (0.04, 1), (7.0, 70), (8.5, 85), (10.0, 100)])
def test_plex_ratings_become_stash_ratings_out_of_a_hundred(plex, rating100):
    assert to_stash(plex) == rating100


def test_every_stash_rating_survives_the_round_trip():
    assert all(to_stash(to_plex(value)) == value for value in range(1, 101))
    assert same(None, None) and same(7.0, 7.01) and not same(7.0, None) and not same(7.0, 7.5)


def test_push_sends_a_new_stash_rating_and_nothing_when_plex_has_it():
    assert plan_push(8.0, None, None, preserve=False, plex_newer=False) == Push(True, 8.0, 8.0)
    assert plan_push(8.0, 8.0, None, preserve=False, plex_newer=False) == Push(False, 8.0, 8.0)
    assert plan_push(8.0, 6.0, 6.0, preserve=False, plex_newer=False) == Push(True, 8.0, 8.0)


def test_push_clears_only_a_plex_rating_plexsync_set():
    assert plan_push(None, 6.0, 6.0, preserve=False, plex_newer=False) == Push(True, None, None)
    assert plan_push(None, 6.0, None, preserve=False, plex_newer=False) == Push(False, 6.0, None)
    assert plan_push(None, 6.0, 4.0, preserve=False, plex_newer=False) == Push(False, 6.0, 4.0)


def test_push_leaves_a_newer_plex_rating_and_with_preserve_one_plexsync_did_not_write():
    assert plan_push(8.0, 3.0, 6.0, preserve=False, plex_newer=True, pulls=True) == Push(False, 3.0, 6.0)
    assert plan_push(8.0, 3.0, 6.0, preserve=False, plex_newer=True) == Push(True, 8.0, 8.0)  # no pull: Stash wins
    assert plan_push(8.0, 3.0, None, preserve=True, plex_newer=False) == Push(False, 3.0, None)
    assert plan_push(8.0, 6.0, 6.0, preserve=True, plex_newer=True, pulls=True) == Push(True, 8.0, 8.0)  # Plex unchanged


def test_push_leaves_a_plex_rating_when_only_plex_changed_it_whatever_else_stash_changed_later():
    assert plan_push(6.0, 3.0, 6.0, preserve=False, plex_newer=False, pulls=True) == Push(False, 3.0, 6.0)
    assert plan_push(8.0, 3.0, 6.0, preserve=False, plex_newer=False, pulls=True) == Push(True, 8.0, 8.0)  # both: Stash later
    assert plan_push(6.0, 3.0, 6.0, preserve=False, plex_newer=False) == Push(True, 6.0, 6.0)  # no pull: Stash wins


def test_pull_brings_a_plex_rating_unless_it_is_the_agreed_one_or_stash_changed_later():
    assert plan_pull(9.0, 60, 6.0, stash_newer=False) == Pull(True, 90, 9.0)
    assert plan_pull(6.0, 60, 6.0, stash_newer=False) == Pull(False, 60, 6.0)  # PlexSync's own write
    assert plan_pull(9.0, 90, 6.0, stash_newer=False) == Pull(False, 90, 9.0)  # Stash already has it
    assert plan_pull(9.0, 70, 6.0, stash_newer=True) == Pull(False, 70, 6.0)  # both changed, Stash later
    assert plan_pull(9.0, 70, 6.0, stash_newer=False) == Pull(True, 90, 9.0)  # both changed, Plex later
    assert plan_pull(9.0, 60, 6.0, stash_newer=True) == Pull(True, 90, 9.0)  # Stash's rating did not change


def test_pull_clears_stash_only_while_stash_holds_the_agreed_rating():
    assert plan_pull(None, 60, 6.0, stash_newer=False) == Pull(True, None, None)
    assert plan_pull(None, 70, 6.0, stash_newer=False) == Pull(False, 70, 6.0)
    assert plan_pull(None, 70, None, stash_newer=False) == Pull(False, 70, None)


def sync(runtime, scene_id, clock):
    clock.advance(1)
    return runtime.delivery.syncer.sync(new_job(scene_id, "update", clock=clock))


def rates(sandbox) -> list:
    return [(r.method, r.param("key"), r.param("rating")) for r in sandbox.plex.requests if r.path == "/:/rate"]


def test_a_scene_rating_reaches_plex_as_plexs_own_clients_send_it(sandbox, runtime_for, clock):
    scene, key = sandbox.add_scene("Rated", rating100=85)
    outcome = sync(runtime_for(), scene, clock)
    assert rates(sandbox) == [("PUT", str(key), "8.5")] and sandbox.playback.state(key)["userRating"] == 8.5
    assert outcome.detail.endswith(", rating")


def test_an_unchanged_rating_costs_no_request_and_a_changed_one_one_rate(sandbox, runtime_for, clock):
    scene, key = sandbox.add_scene("Again", rating100=40)
    runtime = runtime_for()
    sync(runtime, scene, clock)
    sandbox.plex.reset_log()
    assert sync(runtime, scene, clock).kind == "unchanged" and sandbox.plex.requests == []
    sandbox.stash.update_scene(scene, rating100=60)
    sync(runtime, scene, clock)
    assert [(r.method, r.path) for r in sandbox.plex.requests] == [("GET", f"/library/metadata/{key}"), ("PUT", "/:/rate")]
    assert sandbox.playback.state(key)["userRating"] == 6.0


def test_removing_the_rating_in_stash_clears_the_one_plexsync_set(sandbox, runtime_for, clock):
    scene, key = sandbox.add_scene("Cleared", rating100=70)
    runtime = runtime_for()
    sync(runtime, scene, clock)
    sandbox.stash.update_scene(scene, rating100=None)
    sync(runtime, scene, clock)
    assert rates(sandbox)[-1] == ("PUT", str(key), "-1") and "userRating" not in sandbox.playback.state(key)


def test_a_rating_given_in_plex_is_never_cleared_by_a_scene_without_one(sandbox, runtime_for, clock):
    scene, key = sandbox.add_scene("Theirs", details="x")
    sandbox.playback.rate(key, 4.0)
    runtime = runtime_for()
    sync(runtime, scene, clock)
    sandbox.stash.update_scene(scene, details="y")
    sync(runtime, scene, clock)
    assert rates(sandbox) == [] and sandbox.playback.state(key)["userRating"] == 4.0


def test_sync_rating_off_sends_no_rating(sandbox, runtime_for, clock):
    scene, key = sandbox.add_scene("Off", rating100=90)
    sync(runtime_for(sync_rating=False), scene, clock)
    assert rates(sandbox) == [] and "userRating" not in sandbox.playback.state(key)


def test_with_pull_ratings_a_newer_plex_rating_is_not_overwritten_by_an_older_stash_change(sandbox, runtime_for, clock):
    scene, key = sandbox.add_scene("Newer", rating100=50)
    runtime = runtime_for(pull_ratings=True)
    sync(runtime, scene, clock)
    sandbox.stash.update_scene(scene, rating100=80, updated_at="2030-01-01T10:00:00Z")
    sandbox.playback.rate(key, 3.0, at=1893495600)  # 2030-01-01T11:00:00Z: rated in Plex after the Stash change
    sync(runtime, scene, clock)
    assert sandbox.playback.state(key)["userRating"] == 3.0
    sandbox.stash.update_scene(scene, rating100=90, updated_at="2030-01-01T12:00:00Z")  # and now Stash is newer
    sync(runtime, scene, clock)
    assert sandbox.playback.state(key)["userRating"] == 9.0


def test_with_pull_ratings_an_edit_in_stash_after_a_plex_rating_keeps_the_plex_rating_for_the_pull(sandbox, runtime_for, clock):
    scene, key = sandbox.add_scene("Edited", rating100=50)
    runtime = runtime_for(pull_ratings=True)
    sync(runtime, scene, clock)
    sandbox.playback.rate(key, 3.0, at=1893495600)  # 2030-01-01T11:00:00Z
    sandbox.stash.update_scene(scene, details="edited later", updated_at="2030-01-01T12:00:00Z")  # not the rating
    sandbox.plex.reset_log()
    sync(runtime, scene, clock)
    assert rates(sandbox) == [] and sandbox.playback.state(key)["userRating"] == 3.0
