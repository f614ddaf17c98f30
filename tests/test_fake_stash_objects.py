"""The fake Stash's groups, studios, tag hierarchy and performer images, as PlexSync's own client reads them."""

import pytest
import requests

from plexsync.protocol import ServerConnection
from plexsync.sandbox import stash_schema
from plexsync.sandbox.fake_stash import FakeStash
from plexsync.sandbox.stash_objects import PLACEHOLDER
from plexsync.stash import StashClient


@pytest.fixture(params=["subset", "v0.25.1", "newest-release"])
def stash(request):
    folder = {"subset": None, "v0.25.1": stash_schema.release("v0.25.1"), "newest-release": stash_schema.newest_release()}[request.param]
    if request.param != "subset" and folder is None:
        pytest.skip(stash_schema.MISSING)
    with FakeStash(schema_dir=folder, clock=lambda: 1_700_000_000) as fake:
        yield fake


def client(stash) -> StashClient:
    return StashClient(ServerConnection(port=stash.port))


def test_groups_and_studios_by_id_with_images_and_placeholders(stash):
    saga = stash.add_group("Saga", synopsis="Story.", front_image=b"cover")
    bare = stash.add_group("Bare")
    studio = stash.add_studio("Studio", details="About.", image=b"logo")
    groups = {int(g["id"]): g for g in client(stash).groups([saga, bare, 99])}
    assert set(groups) == {saga, bare} and groups[saga]["synopsis"] == "Story."
    assert groups[saga]["front_image_path"].endswith(f"/group/{saga}/frontimage?t=1700000000")
    assert "default=true" in groups[bare]["front_image_path"]
    [found] = client(stash).studios([studio])
    assert found["details"] == "About." and "default=true" not in found["image_path"]
    assert requests.get(groups[saga]["front_image_path"], timeout=5).content == b"cover"
    assert requests.get(groups[bare]["front_image_path"], timeout=5).content == PLACEHOLDER
    assert requests.get(found["image_path"], timeout=5).content == b"logo"


def test_an_update_moves_the_image_version_and_scenes_keep_their_updated_at(stash):
    saga = stash.add_group("Saga", front_image=b"old")
    scene = stash.add_scene("Part", groups=[(saga, 1)])
    before = client(stash).find_scene(scene)
    stash.update_group(saga, front_image=b"new")
    after = client(stash).find_scene(scene)
    [group] = client(stash).groups([saga])
    assert after["updated_at"] == before["updated_at"] and group["front_image_path"].endswith("?t=1700000001")
    assert after["movies"] == [{"movie": {"id": str(saga), "name": "Saga"}, "scene_index": 1}]
    stash.destroy_group(saga)
    assert client(stash).find_scene(scene)["movies"] == []


def test_the_tag_tree_pages_with_each_tags_parents(stash):
    root = stash.add_tag("Root")
    child = stash.add_tag("Child", parents=[root])
    grandchild = stash.add_tag("Grandchild", parents=["Child"])
    tree = {int(t["id"]): t for t in client(stash).tag_tree(per_page=2)}
    assert tree[grandchild]["parents"] == [{"id": str(child)}] and tree[root]["parents"] == []
    assert len(tree) == 3


def test_scenes_filter_by_group_and_authentication_shows_as_a_username(stash):
    saga = stash.add_group("Saga")
    inside = stash.add_scene("In", groups=[(saga, 1)])
    stash.add_scene("Out")
    found = [s["id"] for _, _, page in client(stash).all_scenes(scene_filter={"movies": {"value": [str(saga)], "modifier": "INCLUDES"}})
             for s in page]
    assert found == [str(inside)] and client(stash).authentication_on() is False
    with FakeStash(api_key="key-0123456789abcdef", require_auth=True) as guarded:
        locked = StashClient.for_url(guarded.url, "key-0123456789abcdef")
        assert locked.authentication_on() is True
