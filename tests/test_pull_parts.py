"""The pull's parts on their own: Plex activity read from the fake Plex, the ledger in real SQLite, the decisions."""

import pytest
from helpers import plex_with_sections

from plexsync.plex import PlexClient
from plexsync.pull.activity import OWNER, Activity, Play, WatchState
from plexsync.pull.changes import decide, resume_time, rating_pull, settle
from plexsync.pull.ledger import Ledger
from plexsync.pull.scenes import parse_version, stash_time
from plexsync.rating import Pull
from plexsync.sandbox.plex_playback import Playback
from plexsync.settings import load_settings

TOKEN = "plex-secret-token"
T0 = 1_700_000_000


@pytest.fixture
def plex():
    with plex_with_sections(TOKEN, T0 + 10_000, {"Movies": "/media/movies", "Music": "/media/music"}) as fake:
        yield fake


@pytest.fixture
def activity(plex):
    client = PlexClient(plex.url, TOKEN, "test-client")
    return Activity(client, client.sections(["Movies"]))


def test_plays_are_read_a_thousand_per_request_newest_first_owner_only(plex, activity):
    playback = Playback(plex)
    keys = [plex.add_item(section=1, title=f"M{n}", files=[(f"/media/movies/{n}.mp4", 1)]) for n in range(10)]
    for n in range(2500):
        playback.play(keys[n % 10], viewed_at=T0 + n, account=OWNER if n % 5 else 8)
    other = plex.add_item(section=2, title="Elsewhere", files=[("/media/music/x.mp4", 1)])
    playback.play(other, viewed_at=T0 + 9999)
    plex.reset_log()

    mine = list(activity.plays(None, everyone=False))
    everyone = list(activity.plays(T0 + 2000, everyone=True))

    assert len(mine) == 2000 and all(p.account_id == OWNER for p in mine) and mine[0].viewed_at == T0 + 2499
    assert len({p.history_id for p in mine}) == 2000 and mine[-1] == Play(2, keys[1], T0 + 1, OWNER, "M1")
    assert len(everyone) == 500 and {p.account_id for p in everyone} == {OWNER, 8}
    history = [r for r in plex.requests if r.path == "/status/sessions/history/all"]
    assert len(history) == 3  # 2 pages for 2,000 plays, 1 for 500; the other library's play is never read
    assert history[0].raw_query == "accountID=1&librarySectionID=1&sort=viewedAt%3Adesc"
    assert history[2].param("viewedAt>") == str(T0 + 2000) and history[2].param("accountID") is None


def test_watch_states_of_items_viewed_or_rated_since(plex, activity):
    playback = Playback(plex)
    paused = plex.add_item(section=1, title="Paused", files=[("/media/movies/p.mp4", 1)])
    rated = plex.add_item(section=1, title="Rated", files=[("/media/movies/r.mp4", 1)])
    old = plex.add_item(section=1, title="Old", files=[("/media/movies/o.mp4", 1)])
    playback.progress(paused, 95_000, at=T0 + 50)
    playback.rate(rated, 7.5, at=T0 + 60)
    playback.progress(old, 1_000, at=T0 - 50)

    both = activity.states(T0, T0)
    viewed = activity.states(T0, None)

    assert both == {paused: WatchState(paused, "Paused", "/media/movies/p.mp4", 95_000, T0 + 50, None, 0),
                    rated: WatchState(rated, "Rated", "/media/movies/r.mp4", 0, 0, 7.5, T0 + 60)}
    assert set(viewed) == {paused}
    assert activity.states(None, None) == {}


def test_ledger_remembers_plays_by_plex_id_through_their_states(db):
    ledger = Ledger(db)
    plays = [Play(n, 100 + n % 2, T0 + n, OWNER) for n in range(1, 5)]
    ledger.park(plays[:1])
    ledger.begin({7: plays[1:3], 8: plays[3:]})
    assert ledger.states([1, 2, 3, 4, 5]) == {1: "unmatched", 2: "pending", 3: "pending", 4: "pending"}
    assert ledger.pending() == {7: plays[1:3], 8: plays[3:]}
    ledger.finish([2, 3])
    assert ledger.pending() == {8: plays[3:]} and ledger.done_times([7, 8]) == {7: [T0 + 2, T0 + 3]}
    assert ledger.parked() == [plays[0]]
    assert Ledger(db).states([4]) == {4: "pending"}  # another process, same file


def test_ledger_forgets_done_plays_only_once_no_pull_reads_them_again(db):
    ledger = Ledger(db)
    ledger.begin({1: [Play(1, 10, T0, OWNER), Play(2, 10, T0 + 500, OWNER)]})
    ledger.finish([1, 2])
    ledger.park([Play(3, 11, T0, OWNER)])
    ledger.save_checkpoint({"plays": T0 + 600, "viewed": T0, "rated": None}, keep=200)
    assert ledger.states([1, 2, 3]) == {2: "done", 3: "unmatched"}
    assert ledger.checkpoint() == {"plays": T0 + 600, "viewed": T0}


def test_ledger_marks_what_the_pull_acted_on(db):
    ledger = Ledger(db)
    ledger.mark([WatchState(5, "", "", 0, T0, 7.0, T0 + 1)])
    assert ledger.marks([5, 6]) == {5: (T0, T0 + 1)}


def test_a_killed_pulls_plays_are_settled_by_the_scenes_play_history():
    pending = [Play(1, 10, T0, OWNER), Play(2, 10, T0, 9)]  # two plays in the same second
    applied = [stash_time(T0), stash_time(T0), "2023-01-01T00:00:00+01:00"]
    assert settle(pending, applied, done=[]) == ((1, 2), ())
    assert settle(pending, applied[1:], done=[]) == ((), tuple(pending))  # only one of the two: not this request
    assert settle(pending, applied, done=[T0]) == ((), tuple(pending))  # one of them was an earlier pull's


def state(offset=0, viewed=0, rating=None, rated=0):
    return WatchState(10, "T", "/f", offset, viewed, rating, rated)


def test_resume_follows_plex_when_plex_viewed_it_last_and_a_finished_play_clears_it():
    scene = {"resume_time": 30.0, "last_played_at": stash_time(T0)}
    assert resume_time(state(95_500, T0 + 60), (0, 0), scene) == 95.5
    assert resume_time(state(95_500, T0 - 60), (0, 0), scene) is None  # Stash played it later
    assert resume_time(state(0, T0 + 60), (0, 0), scene) == 0  # finished in Plex: cleared
    assert resume_time(state(0, T0 + 60), (0, 0), {"resume_time": 0}) is None  # nothing to clear
    assert resume_time(state(30_400, T0 + 60), (0, 0), scene) is None  # the same second
    assert resume_time(state(95_500, T0 + 60), (T0 + 60, 0), scene) is None  # acted on already


def test_rating_follows_plex_after_the_last_pull_unless_stash_changed_later():
    scene = {"rating100": 60, "updated_at": stash_time(T0)}
    assert rating_pull(state(rating=9.0, rated=T0 + 5), (0, 0), scene, agreed=6.0) == Pull(True, 90, 9.0)
    assert rating_pull(state(rating=9.0, rated=T0 + 5), (0, T0 + 5), scene, agreed=6.0) is None
    assert rating_pull(state(rating=9.0, rated=T0 - 5), (0, 0), {**scene, "rating100": 70}, agreed=6.0) is None
    assert rating_pull(state(rating=9.0, rated=T0 + 5), (0, 0), {**scene, "rating100": 70}, agreed=6.0) == Pull(True, 90, 9.0)


def test_a_scene_change_gathers_what_the_settings_pull():
    options = load_settings({"pull_plays": True, "pull_resume": False, "pull_ratings": True}, env={})
    scene = {"id": "4", "rating100": None, "resume_time": 12.0, "updated_at": stash_time(T0), "play_history": []}
    plays = (Play(1, 10, T0 + 1, OWNER),)
    change = decide(scene, plays, [], [], state(5_000, T0 + 9, 8.0, T0 + 9), (0, 0), None, options)
    assert change.plays == plays and change.resume is None and change.rating == Pull(True, 80, 8.0) and change.changed
    idle = decide(scene, (), [], [], None, (0, 0), None, options)
    assert not idle.changed


@pytest.mark.parametrize("text, parsed", [("v0.25.1", (0, 25)), ("v0.24.3-12-gabcdef", (0, 24)), ("0.30.1", (0, 30)),
                                          ("develop", None)])
def test_stash_versions_are_read_from_their_tag(text, parsed):
    assert parse_version(text) == parsed
