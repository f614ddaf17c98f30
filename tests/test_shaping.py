"""Shaping a scene for Plex beyond its fields: title templates, tag routes, namesakes, photos, collections."""

import pytest

from plexsync import titles
from plexsync.metadata import PlexView, Shaping, collection_refs, desired_state, plan_edit, skip_reason
from plexsync.settings import load_settings
from plexsync.tagroutes import build_routes

SCENE = {"id": "7", "title": "Title", "code": "ABC-1", "date": "2024-03-01", "organized": True,
         "studio": {"id": "3", "name": "Studio", "parent_studio": {"id": "1", "name": "Network"}},
         "performers": [{"id": "1", "name": "Jane", "disambiguation": "UK", "image_path": "http://s/performer/1/image?t=5"},
                        {"id": "2", "name": "Jane", "disambiguation": None, "image_path": "http://s/performer/2/image?t=6"}],
         "tags": [{"id": "10", "name": "Kink"}, {"id": "11", "name": "Sub kink"}, {"id": "12", "name": "Plain"},
                  {"id": "13", "name": "Hidden"}],
         "movies": [{"movie": {"id": "4", "name": "Series"}, "scene_index": 2}],
         "files": [{"path": "/data/videos/clip-01.mp4", "size": 1}], "paths": {"screenshot": "http://s/scene/7/screenshot?t=1"}}
TAGS = [{"id": "10", "name": "Kink", "parents": []}, {"id": "11", "name": "Sub kink", "parents": [{"id": "10"}]},
        {"id": "12", "name": "Plain", "parents": []}, {"id": "13", "name": "Hidden", "parents": []},
        {"id": "14", "name": "Meta", "parents": []}]


def settings(**values):
    return load_settings(values, env={})


@pytest.mark.parametrize("template, values, expected", [
    ("{studio} - {title}", {"title": "T", "studio": "S"}, "S - T"),
    ("{studio} - {title}", {"title": "T"}, "T"),
    ("{title} ({date})", {"title": "T"}, "T"),
    ("{title} ({date})", {"title": "T", "date": "2024-01-01"}, "T (2024-01-01)"),
    ("{studio} - {date} - {title}", {"title": "T", "studio": "S"}, "S - T"),
    ("{studio} - {date} - {title}", {"title": "T", "date": "D"}, "D - T"),
    ("[{studio}] {title}", {"title": "T"}, "T"),
    ("[{code}] {title} - {performers}", {"title": "T", "code": "C", "performers": "A, B"}, "[C] T - A, B"),
    ("Scene: {title}", {"title": "T"}, "Scene: T"),
])
def test_a_missing_field_drops_out_with_its_separator(template, values, expected):
    assert titles.render(template, values) == expected


def test_title_template_fills_fields_and_never_leaves_a_title_empty():
    template = settings(title_template="{studio} - {title} ({date})")
    assert desired_state(SCENE, template).scalars["title"] == "Studio - Title (2024-03-01)"
    untitled = {**SCENE, "title": None, "studio": None}
    assert desired_state(untitled, settings(title_template="{title} [{code}]")).scalars["title"] == "clip-01 [ABC-1]"
    # the bare file name is what Plex already shows: nothing is written then (as before templates)
    assert desired_state(untitled, settings(title_template="{studio} - {title}")).scalars["title"] == ""
    assert desired_state(SCENE, settings()).scalars["title"] == "Title"


def test_namesakes_get_the_disambiguation_and_keep_their_photos_apart():
    photos = Shaping(photo=lambda performer: performer["image_path"])
    desired = desired_state(SCENE, settings(sync_performer_photos=True), photos)
    assert desired.tags["actor"] == ["Jane (UK)", "Jane"]
    assert desired.thumbs == {"Jane (UK)": "http://s/performer/1/image?t=5", "Jane": "http://s/performer/2/image?t=6"}
    plain = desired_state(SCENE, settings())
    assert plain.thumbs == {} and plain.fingerprint != desired.fingerprint


def test_excluded_parent_takes_its_descendants_and_labels_go_to_labels():
    routes = build_routes(TAGS, ["hidden"], ["kink"])
    desired = desired_state(SCENE, settings(exclude_tags="Hidden", label_tags="kink"), Shaping(routes))
    assert desired.tags["genre"] == ["Plain"] and desired.tags["label"] == ["Kink", "Sub kink"]
    assert routes.via[11] == 10 and routes.missing == ()
    excluded = desired_state(SCENE, settings(exclude_tags="kink"), Shaping(build_routes(TAGS, ["kink"], [])))
    assert excluded.tags["genre"] == ["Plain", "Hidden"] and excluded.retired == ("label",)
    both = build_routes(TAGS, ["sub kink"], ["kink"])
    assert both.route(11) == "exclude" and both.route(10) == "label"
    assert build_routes(TAGS, ["nope"], []).missing == ("nope",)


def test_labels_plexsync_wrote_go_when_tags_are_routed_back_to_genres():
    desired = desired_state(SCENE, settings())
    view = PlexView({"title": "Title"}, {"genre": [], "label": ["Kink", "Mine"], "actor": [], "collection": []}, frozenset())
    params, owned = plan_edit(desired, view, {"label": ["Kink"]}, preserve=False)
    assert params["label[0].tag.tag"] == "Mine" and "label[1].tag.tag" not in params and owned["label"] == []


def test_actor_photos_are_sent_with_the_names_and_photos_plex_has_are_kept():
    desired = desired_state(SCENE, settings(sync_performer_photos=True), Shaping(photo=lambda p: p["image_path"] if p["id"] == "1" else ""))
    view = PlexView({}, {"actor": ["Jane (UK)", "Jane", "Hand Added"]}, frozenset({"actor"}),
                    {"jane": "http://old/jane.jpg", "hand added": "http://plex/hand.jpg"})
    params, _ = plan_edit(desired, view, {"actor": ["Jane (UK)", "Jane"]}, preserve=False)
    assert params["actor[0].tag.thumb"] == "http://s/performer/1/image?t=5"
    assert params["actor[1].tag.thumb"] == "http://old/jane.jpg" and params["actor[2].tag.thumb"] == "http://plex/hand.jpg"
    current = PlexView({}, {"actor": ["Jane (UK)", "Jane"]}, frozenset({"actor"}), {"jane (uk)": "http://s/performer/1/image?t=5"})
    assert not any(key.startswith("actor") for key in plan_edit(desired, current, {}, preserve=False)[0])


def test_collections_come_from_the_configured_sources_in_order():
    refs = collection_refs(SCENE, settings(collections_from="group,parent_studio,studio"))
    assert [(r.kind, r.id, r.title, r.index) for r in refs] == [("group", 4, "Series", 2), ("studio", 1, "Network", None),
                                                               ("studio", 3, "Studio", None)]
    desired = desired_state(SCENE, settings(collections_from="group"))
    assert desired.tags["collection"] == ["Series"] and desired.groups == {"Series": 2}
    assert desired_state(SCENE, settings(sync_collection=False)).collections == ()
    assert desired_state({**SCENE, "movies": [], "groups": [{"group": {"id": "4", "name": "Series"}, "scene_index": 1}]},
                         settings(collections_from="group")).groups == {"Series": 1}


def test_default_settings_keep_the_fingerprint_scenes_had_before():
    # the payload before this issue: scalars, tags, image URL without cache buster, image kinds
    import hashlib
    import json
    desired = desired_state(SCENE, settings())
    payload = {"s": desired.scalars, "t": desired.tags, "i": "http://s/scene/7/screenshot", "k": ("poster", "art")}
    assert desired.fingerprint == hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def test_unorganized_and_skip_tagged_scenes_are_named_with_the_setting():
    assert skip_reason({**SCENE, "organized": False}, settings(only_organized=True)) == "not organized (only_organized)"
    assert skip_reason(SCENE, settings(skip_scene_tags="plain")) == 'tagged "Plain" (skip_scene_tags)'
    assert skip_reason(SCENE, settings(only_organized=True, skip_scene_tags="other")) is None
