"""Collections in the fake Plex, driven by the real plexapi 4.18.3 over loopback HTTP, as PMS has them."""

import os

os.environ.setdefault("PLEXAPI_PLEXAPI_AUTORELOAD", "false")
os.environ.setdefault("PLEXAPI_CONFIG_PATH", "/nonexistent")

import io  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402
from plexapi.collection import Collection  # noqa: E402
from plexapi.exceptions import BadRequest, NotFound  # noqa: E402
from plexapi.server import PlexServer  # noqa: E402

from plexsync.sandbox.fake_plex import FakePlex  # noqa: E402
from plexsync.sandbox.plex_collections import PlexCollections  # noqa: E402

TOKEN = "plex-secret-token"


@pytest.fixture
def plex():
    with FakePlex(token=TOKEN) as fake:
        fake.add_section(title="Movies", locations=["/media/movies"])
        PlexCollections(fake)
        yield fake


@pytest.fixture
def collections(plex):
    return next(e for e in plex.extensions if isinstance(e, PlexCollections))


@pytest.fixture
def server(plex):
    with requests.Session() as http:
        yield PlexServer(plex.url, TOKEN, session=http, timeout=5)


@pytest.fixture
def movies(plex):
    return [plex.add_item(section=1, title=name, files=[(f"/media/movies/{name}.mp4", 10)], originallyAvailableAt=date)
            for name, date in (("Alpha", "2003-01-01"), ("Beta", "2001-01-01"), ("Gamma", "2002-01-01"))]


def test_a_collection_tag_on_an_item_makes_the_collection_and_it_lists_with_its_count(plex, server, movies):
    for key in movies[:2]:
        server.fetchItem(key).editTags("collection", ["Series"])
    listed = server.library.section("Movies").collections()
    assert [(c.title, c.childCount, c.type, c.subtype, c.smart) for c in listed] == [("Series", 2, "collection", "movie", False)]
    assert isinstance(listed[0], Collection) and listed[0].ratingKey > max(movies)
    detail = server.fetchItem(listed[0].ratingKey)
    assert isinstance(detail, Collection) and [i.ratingKey for i in detail.items()] == [movies[1], movies[0]]  # release date order


def test_custom_order_is_set_through_prefs_and_changed_by_moves(plex, server, movies, collections):
    for key in movies:
        server.fetchItem(key).editTags("collection", ["Saga"])
    saga = server.library.section("Movies").collection("Saga")
    saga.sortUpdate("custom")  # GET prefs (enum values checked by plexapi), then PUT prefs?collectionSort=2
    assert plex.count("PUT", r"/prefs$") == 1 and collections.by_title("saga").collection_sort == 2
    assert collections.members(collections.by_title("Saga")) == movies
    alpha, beta, gamma = (server.fetchItem(k) for k in movies)
    saga.moveItem(gamma)  # to the front
    saga.moveItem(alpha, after=beta)
    assert [i.ratingKey for i in server.fetchItem(saga.ratingKey).items()] == [movies[2], movies[1], movies[0]]
    bad = requests.put(f"{plex.url}/library/metadata/{saga.ratingKey}/prefs", params={"collectionSort": 7},
                       headers={"X-Plex-Token": TOKEN})
    assert bad.status_code == 400


def test_poster_upload_summary_and_sort_title_edits_and_locks(plex, server, movies, collections):
    server.fetchItem(movies[0]).editTags("collection", ["Studio A"])
    studio = server.library.section("Movies").collection("Studio A")
    studio.uploadPoster(filepath=io.BytesIO(b"\x89PNG studio logo"))
    studio.editSummary("About the studio").editSortTitle("A Studio")
    held = collections.by_title("Studio A")
    assert held.poster_bytes == b"\x89PNG studio logo" and held.selected_poster.startswith("upload://posters/")
    assert held.fields["summary"] == "About the studio" and held.fields["titleSort"] == "A Studio"
    assert {"thumb", "summary", "titleSort"} <= held.locks
    detail = server.fetchItem(held.rating_key)
    assert detail.summary == "About the studio" and detail.thumb and detail.isLocked("summary")
    assert [p.ratingKey for p in detail.posters()] == [held.selected_poster]
    first = held.selected_poster
    detail.uploadPoster(filepath=io.BytesIO(b"\x89PNG another logo"))
    detail.setPoster(next(p for p in detail.posters() if p.ratingKey == first))  # selection, as plexapi sends it
    assert held.selected_poster == first and len(held.posters) == 2
    with pytest.raises(BadRequest):
        detail.editField("tagline", "collections have no tagline")


def test_members_are_added_removed_and_a_renamed_collection_renames_the_tag(plex, server, movies, collections):
    alpha, beta, gamma = (server.fetchItem(k) for k in movies)
    made = Collection.create(server, "Made", "Movies", items=[alpha, beta])
    assert plex.item(movies[0]).tag_names("collection") == ["Made"]
    made.addItems([gamma]).removeItems([alpha])
    assert collections.members(collections.by_title("Made")) == [movies[1], movies[2]]  # release date order
    assert plex.item(movies[0]).tag_names("collection") == []
    made.editTitle("Renamed")
    assert plex.item(movies[2]).tag_names("collection") == ["Renamed"] and collections.by_title("Made") is None
    made.delete()
    assert collections.by_title("Renamed") is None and plex.item(movies[2]).tag_names("collection") == []
    with pytest.raises(NotFound):
        server.fetchItem(made.ratingKey)


def test_a_collection_whose_last_member_leaves_stays_empty(plex, server, movies, collections):
    server.fetchItem(movies[0]).editTags("collection", ["Once"])
    server.fetchItem(movies[0]).editTags("collection", ["Once"], remove=True)
    once = collections.by_title("Once")
    assert once is not None and collections.members(once) == []
    assert server.library.section("Movies").collection("Once").childCount == 0


def test_item_listings_and_edits_are_not_collections(plex, server, movies, collections):
    server.fetchItem(movies[0]).editTags("collection", ["Series"])
    section = server.library.section("Movies")
    assert len(section.all()) == 3 and section.totalSize == 3
    assert [m.ratingKey for m in section.search(collection="Series")] == [movies[0]]
    key = collections.by_title("Series").rating_key
    response = requests.put(f"{plex.url}/library/sections/1/all", params={"type": 1, "id": key, "title.value": "x"},
                            headers={"X-Plex-Token": TOKEN})
    assert response.status_code == 404  # a movie edit never reaches a collection
