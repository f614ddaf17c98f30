"""The fake Stash's play history, resume time and ratings, with Stash's semantics (pkg/sqlite/table.go
``addDates``, pkg/sqlite/scene.go ``SaveActivity``), against the subset SDL and the newest release's schema."""

import pytest
import requests

from plexsync.pull.scenes import PULL_SCENE_MUTATION, PULL_SCENES_QUERY
from plexsync.sandbox import stash_schema
from plexsync.sandbox.fake_stash import FakeStash

ADD_PLAY = "mutation P($id: ID!, $times: [Timestamp!]) { sceneAddPlay(id: $id, times: $times) { count history } }"
SAVE = "mutation S($id: ID!, $r: Float, $d: Float) { sceneSaveActivity(id: $id, resume_time: $r, playDuration: $d) }"
NOW = 1714559696.0  # 2024-05-01T10:34:56Z


@pytest.fixture(params=["subset", "newest-release"])
def stash(request):
    schema_dir = None
    if request.param == "newest-release":
        schema_dir = stash_schema.newest_release()
        if schema_dir is None:
            pytest.skip(stash_schema.MISSING)
    with FakeStash(schema_dir=schema_dir, tz_offset="+02:00", clock=lambda: NOW) as server:
        yield server


def run(stash, query, variables):
    response = requests.post(stash.url + "/graphql", json={"query": query, "variables": variables}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_plays_are_stored_in_utc_and_answered_newest_first_with_count_and_last_played(stash):
    scene = stash.add_scene(title="Played")
    before = stash.scene(scene)["updated_at"]

    answer = run(stash, ADD_PLAY, {"id": str(scene), "times": ["2024-01-01T12:00:00+02:00", "2024-03-01T10:00:00Z"]})

    assert answer == {"data": {"sceneAddPlay": {"count": 2, "history": ["2024-03-01T10:00:00Z", "2024-01-01T10:00:00Z"]}}}
    activity = stash.activity(scene)
    assert activity["play_history"] == ["2024-03-01T10:00:00Z", "2024-01-01T10:00:00Z"]
    assert activity["play_count"] == 2 and activity["last_played_at"] == "2024-03-01T10:00:00Z"
    assert stash.scene(scene)["updated_at"] == before  # a play is no edit: no updated_at, no hook


def test_a_play_without_times_is_now_and_the_same_time_twice_is_two_plays(stash):
    scene = stash.add_scene(title="Now")
    run(stash, ADD_PLAY, {"id": str(scene)})
    run(stash, ADD_PLAY, {"id": str(scene), "times": ["<1h", "2024-05-01T09:34:56Z"]})
    assert stash.activity(scene)["play_history"] == ["2024-05-01T10:34:56Z", "2024-05-01T09:34:56Z",
                                                     "2024-05-01T09:34:56Z"]


def test_bad_times_and_missing_scenes_are_errors_that_change_nothing(stash):
    scene = stash.add_scene(title="Kept")
    bad = run(stash, ADD_PLAY, {"id": str(scene), "times": ["yesterday"]})
    gone = run(stash, ADD_PLAY, {"id": "999", "times": ["2024-01-01T00:00:00Z"]})
    assert "cannot parse Timestamp" in bad["errors"][0]["message"]
    assert gone["errors"][0]["message"] == "scene with id 999 not found"
    assert stash.activity(scene)["play_count"] == 0


def test_save_activity_sets_the_resume_time_and_adds_play_duration(stash):
    scene = stash.add_scene(title="Resumed")
    before = stash.scene(scene)["updated_at"]
    assert run(stash, SAVE, {"id": str(scene), "r": 95.5, "d": 30.0}) == {"data": {"sceneSaveActivity": True}}
    run(stash, SAVE, {"id": str(scene), "d": 10.0})
    activity = stash.activity(scene)
    assert activity["resume_time"] == 95.5 and activity["play_duration"] == 40.0
    assert stash.scene(scene)["updated_at"] == before
    run(stash, SAVE, {"id": str(scene), "r": 0.0})
    assert stash.activity(scene)["resume_time"] == 0.0


def test_the_pulls_one_request_per_scene_runs_only_the_parts_it_includes(stash):
    scene = stash.add_scene(title="Both", rating100=40)
    variables = {"id": str(scene), "times": ["2024-01-01T00:00:00Z"], "plays": True, "resume_time": None,
                 "resume": False, "input": {"id": str(scene), "rating100": 90}, "rate": True}

    answer = run(stash, PULL_SCENE_MUTATION, variables)

    assert set(answer["data"]) == {"sceneAddPlay", "sceneUpdate"} and answer["data"]["sceneUpdate"]["rating100"] == 90
    assert run(stash, PULL_SCENES_QUERY, {"ids": [str(scene)]})["data"]["findScenes"]["scenes"] == [{
        "id": str(scene), "title": "Both", "rating100": 90, "resume_time": 0.0, "last_played_at": "2024-01-01T00:00:00Z",
        "play_history": ["2024-01-01T00:00:00Z"], "updated_at": stash.scene(scene)["updated_at"],
        "files": [{"path": f"/data/videos/scene{scene}.mp4"}]}]
