"""FakeStash: real HTTP, graphql-core against the subset SDL or a release's schema, and Stash's query semantics.

The tests that take the ``stash`` fixture run twice: against the project's subset SDL and against the
newest Stash release's own schema (skipped when ../shared/stash-schema is absent), so the fake behaves
the same whichever schema it serves.
"""

import json
import time

import pytest
import requests
from graphql import GraphQLObjectType, get_named_type

from plexsync.sandbox import stash_schema
from plexsync.sandbox.fake_stash import FakeStash

SYNC_FIELDS = {"id", "title", "code", "details", "director", "urls", "date", "rating100", "organized",
               "created_at", "updated_at", "studio", "performers", "tags", "groups", "files", "paths",
               "stash_ids"}

PAGE_QUERY = """
query FindScenesPage($filter: FindFilterType, $scene_filter: SceneFilterType) {
  findScenes(filter: $filter, scene_filter: $scene_filter) { count scenes { id title updated_at } }
}"""


class Clock:
    """A hand-set clock so timestamps are predictable."""

    def __init__(self, start: float = 1714559696.0):  # 2024-05-01T10:34:56Z
        self.now = start

    def __call__(self) -> float:
        return self.now


def release_dir(name=None):
    """A release folder of ../shared/stash-schema (the newest without a name), or skip saying what is missing."""
    folder = stash_schema.release(name) if name else stash_schema.newest_release()
    if folder is None:
        pytest.skip(stash_schema.MISSING if not stash_schema.SHARED_SCHEMAS.is_dir() else f"no {name} schema")
    return folder


@pytest.fixture(params=["subset", "newest-release"])
def stash(request):
    schema_dir = release_dir() if request.param == "newest-release" else None
    with FakeStash(schema_dir=schema_dir) as server:
        yield server


@pytest.fixture
def released():
    """A fake Stash serving the newest release's full schema."""
    with FakeStash(schema_dir=release_dir()) as server:
        yield server


def post(stash, query, variables=None, operation_name=None, session=None, **kwargs):
    body = {"query": query, "variables": variables or {}}
    if operation_name:
        body["operationName"] = operation_name
    return (session or requests).post(stash.url + "/graphql", json=body, timeout=10, **kwargs)


def data(response):
    assert response.status_code == 200, response.text
    payload = response.json()
    assert "errors" not in payload, payload
    return payload["data"]


def error_message(response):
    return response.json()["errors"][0]["message"]


def page(stash, **filter_and_scene_filter):
    scene_filter = filter_and_scene_filter.pop("scene_filter", None)
    variables = {"filter": filter_and_scene_filter, "scene_filter": scene_filter}
    return data(post(stash, PAGE_QUERY, variables))["findScenes"]


def ids(result):
    return [int(s["id"]) for s in result["scenes"]]


# -- transport ------------------------------------------------------------------------------

def test_server_answers_http11_and_keeps_the_connection_alive(stash):
    with requests.Session() as session:
        first = post(stash, "{ version { version } }", session=session)
        second = post(stash, "{ version { version } }", session=session)
    assert first.raw.version == 11 and first.headers.get("Connection") != "close"
    assert data(second) == {"version": {"version": "v0.30.1"}}


def test_graphql_requires_a_json_content_type(stash):
    response = requests.post(stash.url + "/graphql", data="{ version { version } }",
                             headers={"Content-Type": "text/plain"}, timeout=10)
    assert response.status_code == 400
    assert error_message(response) == "transport not supported"


def test_stop_closes_idle_keep_alive_connections():
    server = FakeStash().start()
    url = server.url
    with requests.Session() as session:
        session.post(url + "/graphql", json={"query": "{ version { version } }"}, timeout=5)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2
        with pytest.raises(requests.ConnectionError):
            session.post(url + "/graphql", json={"query": "{ version { version } }"}, timeout=2)


# -- GraphQL: resolution and validation --------------------------------------------------------

def test_only_selected_fields_are_returned(stash):
    sid = stash.add_scene(title="Alpha", details="d")
    found = data(post(stash, "query Q($id: ID!) { findScene(id: $id) { id title } }", {"id": str(sid)}))
    assert found == {"findScene": {"id": str(sid), "title": "Alpha"}}


def test_scene_has_the_sync_scene_shape(stash):
    parent = stash.add_studio("Parent")
    sid = stash.add_scene(title="Alpha", studio=stash.add_studio("Child", parent=parent), performers=["Ann"],
                          tags=["Tag1", "Tag2"], groups=[("Saga", 2)], urls=["https://a"], rating100=80,
                          date="2024-01-02", files=[("/data/videos/a.mp4", 1234)])
    scene = stash.scene(sid)
    assert set(scene) == SYNC_FIELDS
    assert scene["studio"] == {"id": str(parent + 1), "name": "Child",
                               "parent_studio": {"id": str(parent), "name": "Parent"}}
    assert [t["name"] for t in scene["tags"]] == ["Tag1", "Tag2"]
    assert scene["groups"] == [{"group": {"id": "1", "name": "Saga"}, "scene_index": 2}]
    assert scene["files"][0]["path"] == "/data/videos/a.mp4" and scene["files"][0]["size"] == 1234
    assert scene["files"][0]["basename"] == "a.mp4"
    assert scene["performers"][0]["image_path"].startswith(stash.url + "/performer/")


def test_unknown_field_is_a_validation_error_like_gqlgen(stash):
    response = post(stash, "{ findScene(id: 1) { id titel } }")
    assert response.status_code == 422
    payload = response.json()
    assert payload["data"] is None
    assert payload["errors"][0]["message"].startswith("Cannot query field 'titel' on type 'Scene'.")
    assert payload["errors"][0]["locations"] == [{"line": 1, "column": 25}]
    assert payload["errors"][0]["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}


def test_unknown_field_inside_a_fragment_is_reported_even_when_the_scene_is_missing(stash):
    query = "query F($id: ID!) { findScene(id: $id) { ...S } } fragment S on Scene { id studio { id nme } }"
    response = post(stash, query, {"id": "999"})
    assert response.status_code == 422
    assert error_message(response).startswith("Cannot query field 'nme' on type 'Studio'.")


@pytest.mark.parametrize("query, message", [
    ("{ findScene(id: 1) { studio } }", "Field 'studio' of type 'Studio' must have a selection of subfields"),
    ("{ findScene(id: 1) { title { x } } }", "Field 'title' must not have a selection since type 'String'"),
    ("{ findScene(idd: 1) { id } }", "Unknown argument 'idd' on field 'Query.findScene'."),
    ("{ findPerformer { id } }", "Field 'findPerformer' argument 'id' of type 'ID!' is required"),
    ("query Q { findScene(id: $id) { id } }", "Variable '$id' is not defined by operation 'Q'."),
    ("query Q($id: ID) { version { version } }", "Variable '$id' is never used in operation 'Q'."),
    ("query ($id: ID) { version { version } }", "Variable '$id' is never used."),
    ("{ version { version } } fragment X on Scene { id }", "Fragment 'X' is never used."),
    ("{ findScene(id: 1) { ...Nope } }", "Unknown fragment 'Nope'."),
    ("{ findScene(id: 1) { ...P } } fragment P on Performer { id }", "Fragment 'P' cannot be spread here"),
    ("{ findScenes(filter: {direction: \"ASC\"}) { count } }", 'Enum \'SortDirectionEnum\' cannot represent non-enum value: "ASC"'),
    ("{ findScenes(filter: {per_page: \"2\"}) { count } }", 'Int cannot represent non-integer value: "2"'),
    ("{ findScenes(filter: {sortt: \"id\"}) { count } }", "Field 'sortt' is not defined by type 'FindFilterType'"),
    ("{ findScenes(scene_filter: {updated_at: {value: \"x\"}}) { count } }", "TimestampCriterionInput.modifier"),
    ("query Q($f: FindFilterType) { findScenes(filter: $f) { count } } query Q { version { version } }",
     "There can be only one operation named 'Q'."),
])
def test_invalid_documents_answer_422_with_a_validation_code(stash, query, message):
    response = post(stash, query)
    assert response.status_code == 422, response.text
    assert message in error_message(response)
    assert response.json()["errors"][0]["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}


def test_a_document_that_does_not_parse_answers_422_with_the_parse_code(stash):
    response = post(stash, "{ findScene(id: 1) { id }")
    assert response.status_code == 422
    assert response.json() == {"errors": [{"message": "Syntax Error: Expected Name, found <EOF>.",
                                           "locations": [{"line": 1, "column": 26}],
                                           "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}], "data": None}


@pytest.mark.parametrize("variables, message", [
    ({}, "Variable '$id' of required type 'ID!' was not provided."),
    ({"id": None}, "Variable '$id' of non-null type 'ID!' must not be null."),
    ({"id": [1]}, "Variable '$id' got invalid value [1]; ID cannot represent value: [1]"),
])
def test_bad_variables_answer_422_before_anything_runs(stash, variables, message):
    response = post(stash, "query Q($id: ID!) { findScene(id: $id) { id } }", variables)
    assert response.status_code == 422
    assert error_message(response) == message
    assert response.json()["data"] is None


def test_an_unknown_operation_name_answers_422(stash):
    response = post(stash, "query A { version { version } }", operation_name="B")
    assert response.status_code == 422
    assert error_message(response) == "Unknown operation named 'B'."


@pytest.mark.parametrize("body", [{"query": "{ version { version } }", "variables": [1]}, {"query": ["{ version }"]},
                                  {"query": "{ version { version } }", "operationName": 5}])
def test_a_body_gqlgen_cannot_decode_is_a_bad_request(stash, body):
    response = requests.post(stash.url + "/graphql", json=body, timeout=10)
    assert response.status_code == 400
    assert error_message(response).startswith("json body could not be decoded")


def test_a_field_the_fake_does_not_implement_is_an_error_never_a_silent_null(released):
    sid = released.add_scene(title="x")
    response = post(released, "query Q($id: ID!) { findScene(id: $id) { id interactive_speed } }", {"id": str(sid)})
    assert response.status_code == 200
    assert response.json() == {"errors": [{"message": "the fake Stash does not implement Scene.interactive_speed (add it: "
                                                      "see plexsync/sandbox/fake_stash.py)",
                                           "path": ["findScene", "interactive_speed"]}],
                               "data": {"findScene": {"id": str(sid), "interactive_speed": None}}}
    response = post(released, "{ configuration { general { databasePath } } }")
    assert response.json()["data"] is None  # non-null all the way up, like Stash
    assert "ConfigGeneralResult.databasePath" in error_message(response)


def test_a_filter_the_fake_does_not_implement_is_an_error(released):
    response = post(released, PAGE_QUERY, {"scene_filter": {"path": {"value": "x", "modifier": "INCLUDES"}}})
    assert response.status_code == 200
    assert error_message(response) == "the fake Stash does not implement scene_filter.path"


def selection(kind, depth: int = 3) -> str:
    """Every field of an object type, sub-objects ``depth`` levels down (arguments left out)."""
    fields = []
    for name, spec in kind.fields.items():
        inner = get_named_type(spec.type)
        if isinstance(inner, GraphQLObjectType):
            if depth > 1:
                fields.append(f"{name} {{ {selection(inner, depth - 1)} }}")
        else:
            fields.append(name)
    return " ".join(fields)


def test_every_field_the_subset_declares_is_implemented(stash):
    parent = stash.add_studio("Parent")
    sid = stash.add_scene(title="x", studio=stash.add_studio("Child", parent=parent), performers=["Ann"], tags=["t"],
                          groups=[("G", 1)], urls=["https://a"], stash_ids=[{"endpoint": "e", "stash_id": "s"}])
    subset = stash_schema.load_schema()
    query = (f'{{ findScene(id: "{sid}") {{ {selection(subset.type_map["Scene"])} }} '
             f'findScenes {{ {selection(subset.type_map["FindScenesResultType"], 2)} }} '
             f'findStudio(id: "{parent}") {{ {selection(subset.type_map["Studio"])} }} '
             f'findPerformer(id: "1") {{ id }} findTag(id: "1") {{ id }} version {{ version hash build_time }} '
             "configuration { general { apiKey } plugins } }")
    result = data(post(stash, query))
    assert result["findScene"]["studio"]["parent_studio"]["name"] == "Parent"
    assert result["findStudio"]["child_studios"][0]["name"] == "Child"


def test_a_resolver_plugged_in_from_outside_answers_its_field(released):
    calls = []

    def run_operation(parent, args, request):
        calls.append((args, request.base))
        return {"echo": args["args"]}

    released.add_resolver("Mutation", "runPluginOperation", run_operation)
    mutation = "mutation R($a: Map) { runPluginOperation(plugin_id: \"PlexSync\", args: $a) }"
    assert data(post(released, mutation, {"a": {"mode": "status"}})) == {"runPluginOperation": {"echo": {"mode": "status"}}}
    assert calls == [({"plugin_id": "PlexSync", "args": {"mode": "status"}}, released.url)]


def test_introspection_answers_like_any_graphql_server(stash):
    result = data(post(stash, '{ __schema { queryType { name } } __type(name: "Scene") { fields { name } } }'))
    assert result["__schema"] == {"queryType": {"name": "Query"}}
    assert {"id", "title", "files"} <= {f["name"] for f in result["__type"]["fields"]}


def test_enum_values_come_as_strings_in_variables(stash):
    stash.add_scene(title="b")
    stash.add_scene(title="a")
    result = page(stash, sort="title", direction="DESC")
    assert [s["title"] for s in result["scenes"]] == ["b", "a"]


def test_aliases_inline_fragments_typename_and_skip(stash):
    sid = stash.add_scene(title="Alpha")
    query = """query Q($id: ID!, $no: Boolean!) {
      s: findScene(id: $id) { __typename ... on Scene { name: title } details @skip(if: $no) } }"""
    assert data(post(stash, query, {"id": str(sid), "no": True})) == {
        "s": {"__typename": "Scene", "name": "Alpha"}}


def test_operation_is_chosen_by_name(stash):
    query = "query A { version { version } } query B { configuration { general { apiKey } } }"
    assert data(post(stash, query, operation_name="B")) == {"configuration": {"general": {"apiKey": ""}}}


def test_find_scene_returns_null_for_a_missing_scene(stash):
    assert data(post(stash, '{ findScene(id: "404") { id } }')) == {"findScene": None}


# -- findScenes semantics ------------------------------------------------------------------------

def test_paging_defaults_to_25_and_minus_one_returns_all(stash):
    for i in range(30):
        stash.add_scene(title=f"s{i:02}")
    assert len(page(stash)["scenes"]) == 25
    second = page(stash, page=2, per_page=25, sort="id", direction="ASC")
    assert (second["count"], ids(second)) == (30, list(range(26, 31)))
    assert len(page(stash, per_page=-1)["scenes"]) == 30
    assert page(stash, per_page=0) == {"count": 30, "scenes": []}
    assert ids(page(stash, page=0, per_page=2, sort="id")) == [1, 2]


def test_invalid_sort_is_an_execution_error_with_null_data(stash):
    response = post(stash, PAGE_QUERY, {"filter": {"sort": "updated"}})
    assert response.status_code == 200
    assert response.json() == {"errors": [{"message": "invalid sort: updated", "path": ["findScenes"]}],
                               "data": None}


def test_no_sort_means_insertion_order(stash):
    for title in ("c", "a", "b"):
        stash.add_scene(title=title)
    assert [s["title"] for s in page(stash)["scenes"]] == ["c", "a", "b"]


def test_sort_desc_keeps_the_title_tiebreak_ascending(stash):
    stash.add_scene(title="b", rating100=50)
    stash.add_scene(title="a", rating100=50)
    stash.add_scene(title="z", rating100=90)
    stash.add_scene(title="n", rating100=None)
    result = page(stash, sort="rating", direction="DESC")
    assert [s["title"] for s in result["scenes"]] == ["z", "a", "b", "n"]


def test_title_sort_is_natural_and_case_insensitive(stash):
    for title in ("Scene 10", "scene 9", "Scene 1"):
        stash.add_scene(title=title)
    assert [s["title"] for s in page(stash, sort="title")["scenes"]] == ["Scene 1", "scene 9", "Scene 10"]


def test_updated_at_filter_compares_text_not_time():
    clock = Clock()
    with FakeStash(tz_offset="+02:00", clock=clock) as stash:
        sid = stash.add_scene(title="x")
        stamp = stash.scene(sid)["updated_at"]
        assert stamp == "2024-05-01T12:34:56+02:00"

        def since(value, modifier="GREATER_THAN"):
            return ids(page(stash, scene_filter={"updated_at": {"value": value, "modifier": modifier}}))

        assert since("2024-05-01T12:34:56") == [sid]            # shorter prefix sorts first
        assert since("2024-05-01T12:34:56+02:00") == []
        assert since("2024-05-01T10:35:00Z") == [sid]           # 10:34:56Z is earlier, but "12" > "10"
        assert since("2024-05-01T12:35", "LESS_THAN") == [sid]
        assert since("2024-05-01T12:34:56+02:00", "EQUALS") == [sid]


def test_between_without_value2_means_until_tomorrow(stash):
    sid = stash.add_scene(title="x", updated_at="2024-01-01T00:00:00+02:00")
    result = page(stash, scene_filter={"updated_at": {"value": "2023-12-31", "modifier": "BETWEEN"}})
    assert ids(result) == [sid]


def test_updates_in_the_same_second_still_move_updated_at_forward():
    clock = Clock()
    with FakeStash(tz_offset="Z", clock=clock) as stash:
        sid = stash.add_scene(title="x")
        assert stash.scene(sid)["updated_at"] == "2024-05-01T10:34:56Z"
        stash.update_scene(sid, title="y")
        stash.update_scene(sid, title="z")
        assert stash.scene(sid)["updated_at"] == "2024-05-01T10:34:58Z"
        assert stash.scene(sid)["paths"]["screenshot"].endswith(f"/scene/{sid}/screenshot?t={int(clock.now) + 2}")


def test_renames_do_not_touch_updated_at(stash):
    pid, tid, sid_ = stash.add_performer("Ann"), stash.add_tag("t"), stash.add_studio("S")
    scene_id = stash.add_scene(title="x", performers=[pid], tags=[tid], studio=sid_)
    before = stash.scene(scene_id)["updated_at"]
    stash.rename_performer(pid, "Anna")
    stash.rename_tag(tid, "tag")
    stash.rename_studio(sid_, "Studio")
    scene = stash.scene(scene_id)
    assert scene["updated_at"] == before
    assert (scene["performers"][0]["name"], scene["tags"][0]["name"], scene["studio"]["name"]) == ("Anna", "tag", "Studio")


def test_ids_argument_ignores_the_filter_and_fails_on_a_missing_id(stash):
    a, b = stash.add_scene(title="a"), stash.add_scene(title="b")
    query = "query Q($ids: [ID!]) { findScenes(ids: $ids, filter: {per_page: 1}) { count scenes { id } } }"
    assert ids(data(post(stash, query, {"ids": [str(b), str(a)]}))["findScenes"]) == [b, a]
    response = post(stash, query, {"ids": [str(a), "999"]})
    assert response.json() == {"errors": [{"message": "scene with id 999 not found", "path": ["findScenes"]}],
                               "data": None}


def test_relation_and_id_filters(stash):
    ann, bob = stash.add_performer("Ann"), stash.add_performer("Bob")
    parent = stash.add_studio("Parent")
    child = stash.add_studio("Child", parent=parent)
    s1 = stash.add_scene(title="1", performers=[ann, bob], studio=child, tags=["x"])
    s2 = stash.add_scene(title="2", performers=[ann], studio=parent)
    s3 = stash.add_scene(title="3")

    def match(**scene_filter):
        return sorted(ids(page(stash, per_page=-1, scene_filter=scene_filter)))

    assert match(performers={"value": [str(bob)], "modifier": "INCLUDES"}) == [s1]
    assert match(performers={"value": [str(ann), str(bob)], "modifier": "INCLUDES_ALL"}) == [s1]
    assert match(performers={"value": [str(bob)], "modifier": "EXCLUDES"}) == [s2, s3]
    assert match(studios={"value": [str(parent)], "modifier": "INCLUDES", "depth": -1}) == [s1, s2]
    assert match(studios={"value": [str(parent)], "modifier": "INCLUDES", "depth": 0}) == [s2]
    assert match(tags={"value": [], "modifier": "IS_NULL"}) == [s2, s3]
    assert match(id={"value": s2, "modifier": "GREATER_THAN"}) == [s3]
    assert match(id={"value": s2, "modifier": "EQUALS"}) == [s2]


def test_q_searches_titles_and_paths(stash):
    a = stash.add_scene(title="Beach day", files=[("/data/videos/one.mp4", 1)])
    b = stash.add_scene(title="Other", files=[("/data/videos/BEACH/two.mp4", 1)])
    stash.add_scene(title="Unrelated")
    assert ids(page(stash, q="beach", sort="id")) == [a, b]


def test_find_studio_performer_and_tag(stash):
    parent = stash.add_studio("Parent")
    child = stash.add_studio("Child", parent=parent)
    pid, tid = stash.add_performer("Ann", gender="FEMALE"), stash.add_tag("Tag")
    query = """query Q($s: ID!, $p: ID!, $t: ID!) {
      findStudio(id: $s) { name child_studios { name } parent_studio { name } }
      findPerformer(id: $p) { name gender } findTag(id: $t) { id name } missing: findTag(id: "99") { id } }"""
    result = data(post(stash, query, {"s": str(parent), "p": str(pid), "t": str(tid)}))
    assert result == {"findStudio": {"name": "Parent", "child_studios": [{"name": "Child"}], "parent_studio": None},
                      "findPerformer": {"name": "Ann", "gender": "FEMALE"},
                      "findTag": {"id": str(tid), "name": "Tag"}, "missing": None}
    assert child == parent + 1


# -- settings, version, groups ---------------------------------------------------------------

def test_plugin_settings_are_absent_until_saved(stash):
    query = "query PluginConfig($ids: [ID!]) { configuration { plugins(include: $ids) } }"
    assert data(post(stash, query, {"ids": ["PlexSync"]})) == {"configuration": {"plugins": {}}}
    mutation = "mutation C($plugin_id: ID!, $input: Map!) { configurePlugin(plugin_id: $plugin_id, input: $input) }"
    data(post(stash, mutation, {"plugin_id": "PlexSync", "input": {"plex_url": "http://p", "max_retries": 3}}))
    data(post(stash, mutation, {"plugin_id": "PlexSync", "input": {"debug_logging": True}}))  # replaces
    assert data(post(stash, query, {"ids": ["PlexSync"]})) == {
        "configuration": {"plugins": {"PlexSync": {"debug_logging": True}}}}
    assert stash.plugin_settings("PlexSync") == {"debug_logging": True}
    assert stash.plugin_settings("Other") is None


def test_version_and_api_key_queries():
    with FakeStash(api_key="secret", version="v0.29.0") as stash:
        result = data(post(stash, "{ version { version hash build_time } configuration { general { apiKey } } }"))
        assert result["version"]["version"] == "v0.29.0"
        assert result["configuration"]["general"]["apiKey"] == "secret"


def test_groups_exist_only_from_stash_027():
    query = "query Q($id: ID!) { findScene(id: $id) { groups { group { name } } movies { movie { name } } } }"
    with FakeStash(schema_dir=release_dir("v0.25.1")) as old:
        assert old.version == "v0.25.1" and not old.supports_groups
        sid = old.add_scene(title="x", groups=[("Saga", 1)])
        response = post(old, query, {"id": str(sid)})
        assert response.status_code == 422
        assert error_message(response).startswith("Cannot query field 'groups' on type 'Scene'.")
        movies = data(post(old, "query Q($id: ID!) { findScene(id: $id) { movies { movie { name } scene_index } } }",
                           {"id": str(sid)}))
        assert movies == {"findScene": {"movies": [{"movie": {"name": "Saga"}, "scene_index": 1}]}}
        assert "movies" in old.scene(sid) and "groups" not in old.scene(sid)
    with FakeStash() as new:
        sid = new.add_scene(title="x", groups=["Saga"])
        assert data(post(new, query, {"id": str(sid)}))["findScene"]["groups"] == [{"group": {"name": "Saga"}}]


def test_scene_update_mutation_changes_the_scene(stash):
    sid = stash.add_scene(title="old")
    before = stash.scene(sid)["updated_at"]
    mutation = "mutation U($input: SceneUpdateInput!) { sceneUpdate(input: $input) { id title details } }"
    result = data(post(stash, mutation, {"input": {"id": str(sid), "title": "new", "details": "d"}}))
    assert result == {"sceneUpdate": {"id": str(sid), "title": "new", "details": "d"}}
    assert stash.scene(sid)["updated_at"] > before


def test_destroy_scene_returns_the_hook_input(stash):
    sid = stash.add_scene(title="x", files=[("/data/videos/clip.mp4", 10)])
    destroyed = stash.destroy_scene(sid, delete_file=True, delete_generated=True)
    assert list(destroyed) == ["id", "delete_file", "delete_generated", "checksum", "oshash", "path"]
    assert destroyed["id"] == str(sid) and destroyed["path"] == "/data/videos/clip.mp4"
    assert len(destroyed["oshash"]) == 16
    assert stash.scene(sid) is None


# -- paths and images ----------------------------------------------------------------------------

def test_screenshot_url_serves_the_screenshot_bytes(stash):
    sid = stash.add_scene(title="x")
    url = stash.scene(sid)["paths"]["screenshot"]
    assert requests.get(url, timeout=10).content == stash.screenshot_bytes(sid)
    stash.set_screenshot(sid, b"new-bytes")
    new_url = stash.scene(sid)["paths"]["screenshot"]
    assert new_url != url
    assert requests.get(new_url, timeout=10).content == b"new-bytes"
    assert requests.get(stash.url + "/scene/999/screenshot", timeout=10).status_code == 404


def test_paths_use_the_request_host_and_stream_carries_the_api_key():
    with FakeStash(api_key="k3y") as stash:
        sid = stash.add_scene(title="x")
        query = "query Q($id: ID!) { findScene(id: $id) { paths { screenshot preview stream } } }"
        host = f"localhost:{stash.port}"
        paths = data(post(stash, query, {"id": str(sid)}, headers={"Host": host}))["findScene"]["paths"]
        assert paths["screenshot"].startswith(f"http://{host}/scene/{sid}/screenshot?t=")
        assert paths["preview"] == f"http://{host}/scene/{sid}/preview"
        assert paths["stream"] == f"http://{host}/scene/{sid}/stream?apikey=k3y"


# -- auth --------------------------------------------------------------------------------------

@pytest.fixture
def locked():
    with FakeStash(api_key="key", require_auth=True) as server:
        yield server


def status(stash, **kwargs):
    return post(stash, "{ version { version } }", **kwargs).status_code


def test_auth_cookie_or_api_key(locked):
    assert status(locked) == 401
    assert status(locked, headers={"Cookie": f"session={locked.session_cookie}"}) == 200
    assert status(locked, headers={"ApiKey": "key"}) == 200
    assert requests.post(locked.url + "/graphql?apikey=key", json={"query": "{ version { version } }"},
                         timeout=10).status_code == 200


def test_wrong_api_key_is_401_even_with_a_valid_cookie(locked):
    headers = {"Cookie": f"session={locked.session_cookie}", "ApiKey": "nope"}
    assert status(locked, headers=headers) == 401


def test_api_key_sent_when_none_is_configured_is_401(stash):
    assert status(stash) == 200
    assert status(stash, headers={"ApiKey": "anything"}) == 401


def test_expired_cookie_is_401_and_the_new_one_works(locked):
    old = locked.session_cookie
    new = locked.expire_cookie()
    assert new != old and locked.session_cookie == new
    assert status(locked, headers={"Cookie": f"session={old}"}) == 401
    assert status(locked, headers={"Cookie": f"session={new}"}) == 200


def test_image_routes_need_auth_too(locked):
    sid = locked.add_scene(title="x")
    url = f"{locked.url}/scene/{sid}/screenshot"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"ApiKey": "key"}, timeout=10).status_code == 200


def test_refreshed_cookie_can_be_adopted_by_a_cookie_jar():
    with FakeStash(require_auth=True, refresh_cookies=True) as stash:
        original = stash.session_cookie
        with requests.Session() as session:
            session.cookies.set("session", original, domain="127.0.0.1", path="/")
            assert status(stash, session=session) == 200
            assert session.cookies.get("session") == stash.session_cookie != original
            stash.expire_cookie()
            assert status(stash, session=session) == 401


def test_server_connection_has_stash_go_field_names(stash):
    with open("/work/shared/examples/stash/example_task_stdin.json", encoding="utf-8") as handle:
        example = json.load(handle)["server_connection"]
    conn = stash.server_connection("/plugins/PlexSync")
    assert list(conn) == list(example)
    assert list(conn["SessionCookie"]) == list(example["SessionCookie"])
    assert conn["Host"] == "0.0.0.0" and conn["Port"] == stash.port
    assert conn["SessionCookie"]["Value"] == stash.session_cookie
    assert conn["PluginDir"] == "/plugins/PlexSync" and conn["Dir"] == stash.config_dir


# -- faults, latency, request log ----------------------------------------------------------------

def test_faults_hit_the_next_matching_requests_only(stash):
    stash.add_fault(status=502, times=2, operation="Version")
    assert status(stash) == 200  # anonymous: no operation name, no match
    query = "query Version { version { version } }"
    assert [post(stash, query).status_code for _ in range(3)] == [502, 502, 200]
    assert stash.count(operation="Version") == 3


def test_dropped_connection_is_a_connection_error(stash):
    stash.add_fault(drop=True)
    with pytest.raises(requests.ConnectionError):
        post(stash, "{ version { version } }")
    assert status(stash) == 200
    assert stash.requests[0].status is None


def test_latency_delays_every_request(stash):
    stash.latency = 0.1
    started = time.monotonic()
    status(stash)
    assert time.monotonic() - started >= 0.1


def test_request_log_records_operation_variables_and_status(stash):
    post(stash, "query FindScene($id: ID!) { findScene(id: $id) { id } }", {"id": "1"})
    record = stash.requests[-1]
    assert (record.method, record.path, record.operation_name, record.variables, record.status) == (
        "POST", "/graphql", "FindScene", {"id": "1"}, 200)
    assert record.headers["Content-Type"] == "application/json"
    assert stash.count(path="/graphql") == 1
    stash.reset_log()
    assert stash.requests == []
