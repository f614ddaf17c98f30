"""The fake Plex Media Server, driven by the real plexapi 4.18.3 and requests over loopback HTTP."""

import os

# plexapi reads its configuration once, at import time (notes §1.1, §2.7): no autoreload GETs, no developer config.
os.environ.setdefault("PLEXAPI_PLEXAPI_AUTORELOAD", "false")
os.environ.setdefault("PLEXAPI_CONFIG_PATH", "/nonexistent")

import io  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402
from xml.etree.ElementTree import ParseError  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402
from plexapi.exceptions import BadRequest, NotFound, Unauthorized  # noqa: E402
from plexapi.server import PlexServer  # noqa: E402

from plexsync.sandbox.fake_plex import FakePlex, Fault  # noqa: E402

TOKEN = "plex-secret-token"
EDIT_PATH = r"^/library/sections/\d+/all$"


@pytest.fixture
def plex():
    with FakePlex(token=TOKEN) as fake:
        fake.add_section(title="Movies", locations=["/media/movies"])
        yield fake


@pytest.fixture
def session():
    with requests.Session() as http:
        yield http


@pytest.fixture
def server(plex, session):
    return PlexServer(plex.url, TOKEN, session=session, timeout=5)


@pytest.fixture
def alpha(plex):
    return plex.add_item(
        section=1, title="Alpha", files=[("/media/movies/Alpha (2001)/Alpha.mkv", 1234)], summary="First",
        year=2001, genres=["Drama", "War", "Action"], labels=["L1"],
    )


def test_plexserver_connects_and_reads_sections_with_locations(plex, server):
    plex.add_section(title="Other", locations=["/media/other", "/media/more"])

    sections = server.library.sections()

    assert [(s.key, s.title, s.type) for s in sections] == [(1, "Movies", "movie"), (2, "Other", "movie")]
    assert server.library.section("other").locations == ["/media/other", "/media/more"]
    assert server.friendlyName == "FakePlex"


def test_listing_of_250_items_pages_in_three_gets(plex, server):
    for n in range(250):
        plex.add_item(section=1, title=f"Movie {n:03d}", files=[(f"/media/movies/m{n:03d}.mp4", n)])
    section = server.library.section("Movies")
    plex.reset_log()

    movies = section.all()

    assert len(movies) == 250
    assert {m.locations[0] for m in movies} == {f"/media/movies/m{n:03d}.mp4" for n in range(250)}
    pages = [(r.headers["X-Plex-Container-Start"], r.headers["X-Plex-Container-Size"]) for r in plex.requests]
    assert pages == [("0", "100"), ("100", "100"), ("200", "100")]


def test_listing_truncates_genres_while_detail_shows_all(plex, server):
    rk = plex.add_item(section=1, title="Many", files=[("/media/movies/many.mkv", 1)],
                       genres=[f"Genre {n}" for n in range(12)], labels=["synced"])

    listed = server.library.section("Movies").all()[0]
    detail = server.fetchItem(rk)

    assert [g.tag for g in listed.genres] == ["Genre 0", "Genre 1"]
    assert listed.labels == []
    assert [g.tag for g in detail.genres] == [f"Genre {n}" for n in range(12)]
    assert [label.tag for label in detail.labels] == ["synced"]
    assert detail.genres[0].id and detail.librarySectionID == 1


def test_edit_title_and_summary_locks_and_unlock_removes_field(plex, server, alpha):
    item = server.fetchItem(alpha)

    item.editTitle("New Title").editSummary("S & more, 100%")
    edited = server.fetchItem(alpha)
    edited.editSummary("Unlocked", locked=False)
    unlocked = server.fetchItem(alpha)

    assert (edited.title, edited.summary) == ("New Title", "S & more, 100%")
    assert edited.isLocked("title") and edited.isLocked("summary")
    assert unlocked.isLocked("title") and not unlocked.isLocked("summary")
    assert [f.name for f in unlocked.fields] == ["title"]
    assert plex.item(alpha).locks == {"title"}


def test_indexed_genre_edit_replaces_the_whole_list(plex, server, alpha):
    server.fetchItem(alpha).edit(**{"genre[0].tag.tag": "Sci-Fi & Fantasy", "genre[1].tag.tag": "Comedy",
                                    "genre.locked": 1})

    assert plex.item(alpha).tags["genre"] == ["Sci-Fi & Fantasy", "Comedy"]
    assert [g.tag for g in server.fetchItem(alpha).genres] == ["Sci-Fi & Fantasy", "Comedy"]
    assert "genre" in plex.item(alpha).locks


def test_add_genre_on_a_listing_object_loses_the_truncated_tags(plex, server, alpha):
    listed = server.library.section("Movies").all()[0]

    listed.addGenre("New")

    assert plex.item(alpha).tags["genre"] == ["Drama", "War", "New"]  # Action is gone (notes §3.4.1)


def test_remove_genre_with_a_comma_in_the_tag(plex, server):
    rk = plex.add_item(section=1, title="C", files=[("/media/movies/c.mkv", 1)], genres=["Drama", "a,b", "War"])

    server.fetchItem(rk).removeGenre(["a,b", "war"])

    assert plex.item(rk).tags["genre"] == ["Drama"]


def test_actor_edit_sets_names_roles_and_thumbs(plex, server, alpha):
    server.fetchItem(alpha).edit(**{
        "actor[0].tag.tag": "Jane Doe", "actor[0].tagging.text": "Hero", "actor[0].tag.thumb": "http://t/j.jpg",
        "actor[1].tag.tag": "John Roe", "actor.locked": 1,
    })

    roles = server.fetchItem(alpha).roles
    assert [(r.tag, r.role, r.thumb) for r in roles] == [("Jane Doe", "Hero", "http://t/j.jpg"),
                                                         ("John Roe", None, None)]
    assert plex.item(alpha).tags["actor"][0] == {"tag": "Jane Doe", "role": "Hero", "thumb": "http://t/j.jpg"}
    assert "actor" in plex.item(alpha).locks


def test_upload_poster_bytes_is_selected_stored_and_locks_thumb(plex, server, alpha):
    item = server.fetchItem(alpha)

    item.uploadPoster(filepath=io.BytesIO(b"\x89PNG fake poster"))

    fake = plex.item(alpha)
    assert fake.poster_bytes == b"\x89PNG fake poster"
    assert fake.selected_poster.startswith("upload://posters/")
    posters = server.fetchItem(alpha).posters()
    assert [(p.ratingKey, p.selected) for p in posters] == [(fake.selected_poster, True)]
    reloaded = server.fetchItem(alpha)
    assert reloaded.isLocked("thumb")
    assert reloaded.thumb == f"/library/metadata/{alpha}/thumb/{fake.fields['updatedAt']}"


def test_upload_art_by_url_and_bytes(plex, server, alpha):
    item = server.fetchItem(alpha)

    item.uploadArt(url="http://img.example/art one.jpg")
    item.uploadArt(filepath=b"art bytes")

    fake = plex.item(alpha)
    assert fake.arts[0] == "http://img.example/art one.jpg"
    assert fake.selected_art.startswith("upload://arts/") and fake.art_bytes == b"art bytes"
    assert [a.selected for a in server.fetchItem(alpha).arts()] == [False, True]
    assert "art" in fake.locks


def test_bad_or_rotated_token_raises_unauthorized(plex, server, session, alpha):
    with pytest.raises(Unauthorized):
        PlexServer(plex.url, "wrong-token", session=session, timeout=5)

    plex.token = "rotated"

    with pytest.raises(Unauthorized):
        server.fetchItem(alpha)
    assert plex.requests[-1].status == 401


def test_fault_status_503_raises_bad_request_and_is_counted(plex, server, alpha):
    item = server.fetchItem(alpha)
    plex.add_fault(Fault(method="PUT", path=EDIT_PATH, times=1, status=503))

    with pytest.raises(BadRequest, match="503"):
        item.editTitle("Never")
    item.editTitle("Later")

    assert plex.count("PUT", EDIT_PATH) == 2
    assert [r.status for r in plex.requests if r.method == "PUT"] == [503, 200]
    assert plex.item(alpha).title == "Later"


def test_fault_delay_past_the_timeout_raises_read_timeout(plex, session, alpha):
    slow = PlexServer(plex.url, TOKEN, session=session, timeout=0.3)
    plex.add_fault(Fault(path=r"^/library/metadata/", delay=2.0))

    with pytest.raises(requests.exceptions.ReadTimeout):
        slow.fetchItem(alpha)


def test_fault_drop_raises_connection_error_then_recovers(plex, server, alpha):
    plex.add_fault(Fault(method="GET", path=r"^/library/metadata/\d+$", drop=True))

    with pytest.raises(requests.exceptions.ConnectionError, match="Connection aborted"):
        server.fetchItem(alpha)

    assert server.fetchItem(alpha).title == "Alpha"
    assert plex.count("GET", r"^/library/metadata/") == 2


def test_drop_after_apply_applies_the_edit_but_the_client_sees_connection_error(plex, server, alpha):
    item = server.fetchItem(alpha)
    plex.add_fault(Fault(method="PUT", path=EDIT_PATH, drop_after_apply=True))

    with pytest.raises(requests.exceptions.ConnectionError):
        item.editTitle("Landed")

    assert plex.item(alpha).title == "Landed"
    assert plex.requests[-1].status is None


def test_stop_fails_a_pooled_connection_and_restart_serves_on_the_same_port(plex, server, alpha):
    assert server.fetchItem(alpha).title == "Alpha"  # a keep-alive connection now sits in the pool
    url = plex.url

    plex.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        server.fetchItem(alpha)
    plex.restart()

    assert plex.url == url
    assert server.fetchItem(alpha).title == "Alpha"


def test_partial_scan_materialises_the_pending_file_under_its_path(plex, server):
    plex.add_pending_file(section=1, path="/media/movies/new dir/x.mp4", size=10, title="X", studio="S")
    plex.add_pending_file(section=1, path="/media/movies/elsewhere/y.mp4", size=10)
    section = server.library.section("Movies")

    section.update(path="/media/movies/new dir")

    assert plex.scans == [(1, "/media/movies/new dir", False)]
    assert [(m.title, m.studio, m.locations) for m in section.all()] == [("X", "S", ["/media/movies/new dir/x.mp4"])]
    assert plex.pending_files() == ["/media/movies/elsewhere/y.mp4"]


def test_scan_delay_defers_new_items_until_the_injected_clock_reaches_it(session):
    now = [100.0]
    with FakePlex(token=TOKEN, clock=lambda: now[0]) as plex:
        plex.add_section(title="Movies", locations=["/media/movies"])
        plex.scan_delay = 5.0
        plex.add_pending_file(section=1, path="/media/movies/new/x.mp4", size=10)
        section = PlexServer(plex.url, TOKEN, session=session, timeout=5).library.section("Movies")

        section.update(path="/media/movies/new")
        before = section.all()
        now[0] += 5.0
        after = section.all()

    assert before == []
    assert [m.title for m in after] == ["x"]


def test_updated_at_filter_returns_only_newer_items(plex, server):
    old = int(time.time()) - 1000
    keys = [plex.add_item(section=1, title=t, files=[(f"/media/movies/{t}.mkv", 1)], addedAt=old, updatedAt=old)
            for t in ("One", "Two", "Three")]
    server.fetchItem(keys[1]).editTitle("Two edited")
    section = server.library.section("Movies")

    newer = section.search(filters={"updatedAt>>": datetime.fromtimestamp(old + 500)})
    recent = section.search(filters={"updatedAt>>": "10m"})  # relative, sent as -10m

    assert [m.ratingKey for m in newer] == [keys[1]]
    assert [m.ratingKey for m in recent] == [keys[1]]


def test_search_by_genre_name_resolves_through_meta_and_choices(plex, server, alpha):
    plex.add_item(section=1, title="Beta", files=[("/media/movies/b.mkv", 1)], genres=["Comedy"])
    section = server.library.section("Movies")
    plex.reset_log()

    found = section.search(genre="comedy")

    assert [m.title for m in found] == ["Beta"]
    assert plex.count("GET", r"/library/sections/1/genre$") == 1
    assert plex.requests[-1].param("genre").isdigit()


def test_sort_and_maxresults_and_title_contains(plex, server):
    for n, title in enumerate(["Gamma", "Alpha", "Beta & Co"]):
        plex.add_item(section=1, title=title, files=[(f"/media/movies/{n}.mkv", 1)], addedAt=1000 + n)
    section = server.library.section("Movies")

    assert [m.title for m in section.all()] == ["Alpha", "Beta & Co", "Gamma"]
    assert [m.title for m in section.search(sort="addedAt:desc", maxresults=1)] == ["Beta & Co"]
    assert [m.title for m in section.search(title="a & c", libtype="movie")] == ["Beta & Co"]


def test_total_size_counts_the_section(plex, server, alpha):
    plex.add_item(section=1, title="Beta", files=[("/media/movies/b.mkv", 1)])

    assert server.library.section("Movies").totalSize == 2


def test_paging_from_query_parameters(plex, session, alpha):
    plex.add_item(section=1, title="Beta", files=[("/media/movies/b.mkv", 1)])

    reply = session.get(f"{plex.url}/library/sections/1/all",
                        params={"X-Plex-Container-Start": 1, "X-Plex-Container-Size": 1, "X-Plex-Token": TOKEN})

    assert reply.headers["Content-Type"].startswith("text/xml")
    assert 'size="1" totalSize="2" offset="1"' in reply.text
    assert 'title="Beta"' in reply.text and 'title="Alpha"' not in reply.text


def test_rekey_item_makes_the_old_key_404(plex, server, alpha):
    new_key = plex.rekey_item(alpha)

    with pytest.raises(NotFound):
        server.fetchItem(alpha)
    assert server.fetchItem(new_key).locations == ["/media/movies/Alpha (2001)/Alpha.mkv"]
    assert new_key != alpha


def test_latency_is_applied_to_every_request(plex, server, alpha):
    plex.latency = 0.05

    started = time.perf_counter()
    server.fetchItem(alpha)

    assert time.perf_counter() - started >= 0.05


def test_keep_alive_connections_do_not_pay_the_delayed_ack(plex, session):
    """Headers and body go out in two sends; with Nagle on, each keep-alive request waits ~40 ms for the
    client's delayed ACK (notes §6). Checked on the server's sockets, not by timing a shared machine."""
    session.get(f"{plex.url}/identity", headers={"X-Plex-Token": TOKEN})  # open the pooled connection
    with plex._server._connections_lock:
        accepted = list(plex._server._connections)
    assert accepted and all(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for sock in accepted)


def test_count_and_reset_log(plex, server, alpha):
    server.fetchItem(alpha)
    server.fetchItem(alpha)

    assert plex.count("GET", r"^/library/metadata/") == 2
    assert plex.count(path=r"^/$") == 1
    plex.reset_log()
    assert plex.requests == [] and plex.count() == 0


def test_body_override_gives_parse_error(plex, server, alpha):
    plex.add_fault(Fault(path=r"^/library/metadata/", body_override="garbage"))

    with pytest.raises(ParseError):
        server.fetchItem(alpha)


def test_long_request_target_gets_414(plex, server, alpha):
    item = server.fetchItem(alpha)
    plex.max_url_len = 200

    with pytest.raises(BadRequest, match="414"):
        item.editSummary("x" * 300)
    assert plex.item(alpha).fields["summary"] == "First"


def test_unknown_edit_key_gets_400_and_changes_nothing(plex, server, alpha):
    item = server.fetchItem(alpha)

    with pytest.raises(BadRequest, match="400"):
        item.edit(**{"title.value": "Changed", "bogus.value": "x"})
    assert plex.item(alpha).title == "Alpha"


def test_agent_refresh_restores_only_unlocked_fields(plex, server):
    rk = plex.add_item(section=1, title="Mine", files=[("/media/movies/m.mkv", 1)], summary="Mine too",
                       genres=["Mine"], agent={"title": "Agent", "summary": "Agent", "genres": ["Agent"]},
                       locks={"title"})

    server.fetchItem(rk).refresh()
    plex.agent_refresh(rk)

    item = plex.item(rk)
    assert plex.refreshes == [rk]
    assert (item.title, item.fields["summary"], item.tags["genre"]) == ("Mine", "Agent", ["Agent"])


def test_unknown_routes_and_items_are_404(plex, server, session):
    with pytest.raises(NotFound):
        server.fetchItem(999)
    reply = session.get(f"{plex.url}/no/such/route", headers={"X-Plex-Token": TOKEN})
    assert reply.status_code == 404
