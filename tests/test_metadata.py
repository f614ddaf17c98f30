"""Desired state and edit planning: sanitizing, ownership rules, one PUT with full arrays."""

from plexsync.metadata import PlexView, clean, clean_date, clean_list, describe, desired_state, plan_edit
from plexsync.settings import load_settings

SCENE = {"id": "45", "title": "  Title\u0007 ", "details": "About", "date": "2024-02-29",
         "studio": {"name": "Studio A"}, "performers": [{"name": "B"}, {"name": "A"}],
         "tags": [{"name": "x"}, {"name": "X"}, {"name": "y"}], "paths": {"screenshot": "http://s/scene/45/screenshot?t=1"}}


def settings(**values):
    return load_settings(values, env={})


def view(scalars=None, tags=None, locked=()):
    return PlexView({"title": "", "summary": "", "studio": "", "originallyAvailableAt": "", **(scalars or {})},
                    {"genre": [], "label": [], "actor": [], "collection": [], **(tags or {})}, frozenset(locked))


def test_text_is_sanitized_once_at_the_boundary():
    assert clean("e\u0301t\u00e9\x00\u200b", 100) == "\u00e9t\u00e9"
    long = clean("word " * 100, 50)
    assert len(long) <= 50 and long.endswith("…") and "wor…" not in long
    assert clean_list(["a", "A", " ", "b"]) == ["a", "b"]
    assert len(clean_list([str(n) for n in range(500)])) == 100
    assert clean_date("2024-02-30") == "" and clean_date("2024-02-29") == "2024-02-29" and clean_date("29.02.2024") == ""


def test_desired_state_maps_every_field():
    desired = desired_state(SCENE, settings())
    assert desired.scalars == {"title": "Title", "summary": "About", "studio": "Studio A", "originallyAvailableAt": "2024-02-29"}
    assert desired.tags == {"genre": ["x", "y"], "actor": ["B", "A"], "collection": ["Studio A"]}
    assert desired.image_kinds == ("poster", "art")


def test_toggles_and_labels_change_what_is_desired():
    desired = desired_state(SCENE, settings(sync_title=False, sync_performers=False, tags_as="labels", sync_background=False))
    assert "title" not in desired.scalars and "actor" not in desired.tags
    assert desired.tags["label"] == ["x", "y"] and desired.image_kinds == ("poster",)


def test_fingerprint_ignores_the_screenshot_cache_buster_but_not_content():
    base = desired_state(SCENE, settings())
    assert desired_state({**SCENE, "paths": {"screenshot": "http://s/scene/45/screenshot?t=2"}}, settings()).fingerprint == base.fingerprint
    assert desired_state({**SCENE, "title": "Other"}, settings()).fingerprint != base.fingerprint


def test_first_write_sends_every_field_locked_with_full_arrays():
    params, owned = plan_edit(desired_state(SCENE, settings()), view(), {}, preserve=False)
    assert params["title.value"] == "Title" and params["title.locked"] == 1 and params["titleSort.value"] == "Title"
    assert params["year.value"] == "2024" and params["originallyAvailableAt.locked"] == 1
    assert [params[f"actor[{i}].tag.tag"] for i in range(2)] == ["B", "A"] and params["actor.locked"] == 1
    assert owned["genre"] == ["x", "y"]
    assert describe(params) == "title, summary, studio, date, 2 genres, 2 actors, 1 collection"


def test_unchanged_and_locked_means_no_edit():
    desired = desired_state(SCENE, settings())
    current = view(desired.scalars, desired.tags, locked={"title", "summary", "studio", "originallyAvailableAt", "genre", "actor", "collection"})
    assert plan_edit(desired, current, {}, preserve=False)[0] == {}


def test_user_added_plex_genre_survives_and_stash_removed_tag_goes():
    desired = desired_state({**SCENE, "tags": [{"name": "x"}]}, settings())
    params, _ = plan_edit(desired, view(tags={"genre": ["x", "y", "Mine"]}), {"genre": ["x", "y"]}, preserve=False)
    genres = [v for k, v in sorted(params.items()) if k.startswith("genre[")]
    assert genres == ["x", "Mine"]


def test_removing_the_last_tag_uses_the_removal_form():
    desired = desired_state({**SCENE, "tags": []}, settings())
    params, _ = plan_edit(desired, view(tags={"genre": ["x", "a,b"]}), {"genre": ["x", "a,b"]}, preserve=False)
    assert params["genre[].tag.tag-"] == "x,a%2Cb"


def test_empty_stash_value_never_erases_what_plexsync_did_not_write():
    desired = desired_state({**SCENE, "details": ""}, settings())
    params, _ = plan_edit(desired, view({"summary": "Agent summary"}), {}, preserve=False)
    assert "summary.value" not in params
    params, _ = plan_edit(desired, view({"summary": "About"}), {"summary": "About"}, preserve=False)
    assert params["summary.value"] == "" and params["summary.locked"] == 0


def test_preserve_plex_edits_keeps_a_hand_edited_field():
    desired = desired_state(SCENE, settings())
    params, owned = plan_edit(desired, view({"summary": "Hand written"}), {"summary": "Old stash"}, preserve=True)
    assert "summary.value" not in params and "summary" not in owned
    params, _ = plan_edit(desired, view({"summary": "Old stash"}), {"summary": "Old stash"}, preserve=True)
    assert params["summary.value"] == "About"
