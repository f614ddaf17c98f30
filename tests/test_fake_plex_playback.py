"""The fake Plex's play history and watch state (sandbox/plex_playback.py), driven by the real plexapi 4.18.3."""

import os

os.environ.setdefault("PLEXAPI_PLEXAPI_AUTORELOAD", "false")
os.environ.setdefault("PLEXAPI_CONFIG_PATH", "/nonexistent")

from datetime import datetime  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402
from plexapi.exceptions import BadRequest, NotFound  # noqa: E402
from plexapi.server import PlexServer  # noqa: E402
from helpers import plex_with_sections  # noqa: E402

from plexsync.sandbox.plex_playback import OWNER, Playback  # noqa: E402

TOKEN = "plex-secret-token"
T0 = 1_700_000_000


@pytest.fixture
def plex():
    with plex_with_sections(TOKEN, T0 + 5000, {"Movies": "/media/movies", "Other": "/media/other"}) as fake:
        yield fake


@pytest.fixture
def playback(plex):
    return Playback(plex)


@pytest.fixture
def server(plex):
    with requests.Session() as http:
        yield PlexServer(plex.url, TOKEN, session=http, timeout=5)


@pytest.fixture
def items(plex):
    return [plex.add_item(section=1, title=f"Movie {n}", files=[(f"/media/movies/m{n}.mkv", n)]) for n in range(3)]


def test_history_is_what_plexapi_history_reads_newest_first_with_who_and_when(playback, server, items):
    first = playback.play(items[0], viewed_at=T0 + 10)
    playback.play(items[1], viewed_at=T0 + 30, account=7, device=3)
    playback.play(items[0], viewed_at=T0 + 20)

    history = server.history()

    assert [(h.ratingKey, h.viewedAt, h.accountID) for h in history] == [
        (items[1], datetime.fromtimestamp(T0 + 30), 7), (items[0], datetime.fromtimestamp(T0 + 20), OWNER),
        (items[0], datetime.fromtimestamp(T0 + 10), OWNER)]
    assert type(history[0]).__name__ == "MovieHistory" and history[0].deviceID == 3
    assert history[-1].historyKey == f"/status/sessions/history/{first}" and history[-1].title == "Movie 0"


def test_history_filters_exactly_as_plexapi_sends_them(plex, playback, server, items):
    other = plex.add_item(section=2, title="Elsewhere", files=[("/media/other/e.mkv", 1)])
    for n, key in enumerate(items + [other]):
        playback.play(key, viewed_at=T0 + 100 * n, account=OWNER if n % 2 == 0 else 9)

    mine = server.history(accountID=OWNER)
    section = server.history(librarySectionID=2)
    since = server.history(mindate=datetime.fromtimestamp(T0 + 100))
    one = server.history(ratingKey=items[2])

    assert [h.ratingKey for h in mine] == [items[2], items[0]]
    assert [h.ratingKey for h in section] == [other]
    assert [h.ratingKey for h in since] == [other, items[2], items[1]]  # viewed at or after the boundary second
    assert [h.ratingKey for h in one] == [items[2]]
    request = [r for r in plex.requests if r.path == "/status/sessions/history/all"][2]
    assert request.param("viewedAt>") == str(T0 + 100) and request.param("sort") == "viewedAt:desc"


def test_history_pages_like_plex_with_total_size(plex, playback, server, items):
    for n in range(250):
        playback.play(items[n % 3], viewed_at=T0 + n)

    history = server.history()

    assert len(history) == 250 and len({h.historyKey for h in history}) == 250
    pages = [r for r in plex.requests if r.path == "/status/sessions/history/all"]
    assert [r.headers.get("X-Plex-Container-Start") for r in pages] == ["0", "100", "200"]
    small = server.history(maxresults=5)
    assert [h.viewedAt for h in small] == [datetime.fromtimestamp(T0 + n) for n in range(249, 244, -1)]


def test_history_refuses_parameters_plex_does_not_have(plex, playback, session_get):
    response = session_get("/status/sessions/history/all?sort=title")
    assert response.status_code == 400
    assert session_get("/status/sessions/history/all?ratingKey=101").status_code == 400


@pytest.fixture
def session_get(plex):
    def get(path):
        return requests.get(plex.url + path, headers={"X-Plex-Token": TOKEN}, timeout=5)
    return get


def test_deleting_a_history_entry_as_plexapi_does(playback, server, items):
    playback.play(items[0], viewed_at=T0)
    playback.play(items[1], viewed_at=T0 + 1)

    server.history()[0].delete()

    assert [p.rating_key for p in playback.plays()] == [items[0]]


def test_rate_is_accepted_as_plexapi_sends_it_and_shows_with_last_rated_at(plex, playback, server, items):
    movie = server.fetchItem(items[0])

    movie.rate(7)
    rated = server.fetchItem(items[0])
    movie.rate(8.5)
    listed = {m.ratingKey: m for m in server.library.section("Movies").all()}

    rate_requests = [r for r in plex.requests if r.path == "/:/rate"]
    assert [r.method for r in rate_requests] == ["PUT", "PUT"]
    assert rate_requests[0].param("key") == str(items[0]) and rate_requests[0].param("identifier") == "com.plexapp.plugins.library"
    assert rated.userRating == 7.0 and rated.lastRatedAt == datetime.fromtimestamp(T0 + 5000)
    assert listed[items[0]].userRating == 8.5 and listed[items[1]].userRating is None


def test_clearing_a_rating_as_plexapi_does(playback, server, items):
    playback.rate(items[0], 6.0, at=T0)

    server.fetchItem(items[0]).rate()

    assert playback.state(items[0]) == {"lastRatedAt": T0 + 5000}
    assert server.fetchItem(items[0]).userRating is None


def test_bad_ratings_are_refused(plex, playback, server, items):
    with pytest.raises(BadRequest):
        server.fetchItem(items[0]).rate(11)  # plexapi refuses it itself
    assert requests.put(f"{plex.url}/:/rate?key={items[0]}&identifier=com.plexapp.plugins.library&rating=11",
                        headers={"X-Plex-Token": TOKEN}, timeout=5).status_code == 400
    assert requests.put(f"{plex.url}/:/rate?key={items[0]}&identifier=other&rating=5",
                        headers={"X-Plex-Token": TOKEN}, timeout=5).status_code == 400
    with pytest.raises(NotFound):
        server.query("/:/rate?key=999&identifier=com.plexapp.plugins.library&rating=5", method=server._session.put)
    assert playback.state(items[0]) == {}


def test_watching_in_a_plex_client_sets_the_resume_point_and_a_finished_play_clears_it(plex, playback, server, items):
    movie = server.fetchItem(items[0])

    movie.updateProgress(120_000)
    paused = server.fetchItem(items[0])
    movie.markPlayed()
    finished = server.fetchItem(items[0])
    movie.updateTimeline(5_000)

    assert paused.viewOffset == 120_000 and paused.lastViewedAt == datetime.fromtimestamp(T0 + 5000)
    assert paused.viewCount == 0
    assert finished.viewOffset == 0 and finished.viewCount == 1
    assert playback.state(items[0])["viewOffset"] == 5_000
    assert [(p.rating_key, p.account_id) for p in playback.plays()] == [(items[0], OWNER)]


def test_other_users_state_is_not_the_owners(plex, playback, server, items):
    playback.play(items[0], viewed_at=T0, account=5)
    playback.rate(items[0], 4.0, account=5)

    movie = server.fetchItem(items[0])

    assert movie.viewCount == 0 and movie.userRating is None
    assert playback.state(items[0], account=5) == {"viewCount": 1, "lastViewedAt": T0, "userRating": 4.0,
                                                   "lastRatedAt": T0 + 5000}


def test_listings_filter_on_when_the_owner_last_viewed_or_rated(plex, playback, server, items):
    playback.progress(items[0], 1000, at=T0 + 10)
    playback.rate(items[1], 3.0, at=T0 + 20)
    section = server.library.section("Movies")

    viewed = section.search(filters={"lastViewedAt>>": datetime.fromtimestamp(T0 + 5)})
    rated = section.search(filters={"lastRatedAt>>": datetime.fromtimestamp(T0 + 5)})

    assert [m.ratingKey for m in viewed] == [items[0]] and [m.ratingKey for m in rated] == [items[1]]
    raw = plex.requests[-1]
    assert raw.path == "/library/sections/1/all" and raw.param("lastRatedAt>>") == str(T0 + 5)


def test_watch_state_never_changes_updated_at(plex, playback, items):
    before = plex.item(items[0]).fields["updatedAt"]
    playback.play(items[0], viewed_at=T0 + 99)
    playback.rate(items[0], 9.0)
    assert plex.item(items[0]).fields["updatedAt"] == before
