"""The project's subset SDL is faithful to every supported Stash release, and the schemas load as described.

Faithful: every type, field, argument, input field and enum value the subset declares exists with the
same type in the release, except what stash_schema.RELEASE_GAPS says that release lacks (and those
really are missing there); and every required argument or input field the release has on what the
subset declares is declared too, so the subset never accepts a request the release would refuse.
"""

import pytest
from graphql import (GraphQLEnumType, GraphQLInputObjectType, GraphQLNonNull, GraphQLObjectType, GraphQLSchema,
                     Undefined, build_schema)

from plexsync.sandbox import stash_schema

RELEASES = stash_schema.supported_releases()
BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def declarations(schema: GraphQLSchema) -> dict:
    """Everything a schema declares, flat: ``{"Scene.title": "String", "Query.findScene(id:)": "ID", ...}``."""
    out = {}
    for name, kind in schema.type_map.items():
        if name.startswith("__") or name in BUILT_IN:
            continue
        out[name] = type(kind).__name__
        if isinstance(kind, GraphQLEnumType):
            out.update({f"{name}.{value}": "enum value" for value in kind.values})
        elif isinstance(kind, (GraphQLObjectType, GraphQLInputObjectType)):
            out.update(_fields(name, kind))
    return out


def _fields(name: str, kind) -> dict:
    out = {}
    for field_name, field in kind.fields.items():
        out[f"{name}.{field_name}"] = str(field.type)
        for arg_name, arg in getattr(field, "args", {}).items():
            out[f"{name}.{field_name}({arg_name}:)"] = str(arg.type)
    return out


def required(schema: GraphQLSchema) -> set:
    """Arguments and input fields a request must give: non-null without a default."""
    out = set()
    for name, kind in schema.type_map.items():
        if isinstance(kind, GraphQLInputObjectType):
            out |= {f"{name}.{f}" for f, v in kind.fields.items() if _must_give(v)}
        elif isinstance(kind, GraphQLObjectType):
            out |= {f"{name}.{f}({a}:)" for f, v in kind.fields.items() for a, arg in v.args.items() if _must_give(arg)}
    return out


def _must_give(value) -> bool:
    return isinstance(value.type, GraphQLNonNull) and value.default_value is Undefined


def _owner(key: str) -> str:
    """``Query.findTag`` for ``Query.findTag(id:)``; ``SceneUpdateInput`` for ``SceneUpdateInput.id``."""
    return key.split("(")[0] if "(" in key else key.rsplit(".", 1)[0]


def _covered(key: str, gaps: set) -> bool:
    return any(key == gap or key.startswith((gap + ".", gap + "(")) for gap in gaps)


def differences(subset: GraphQLSchema, release: GraphQLSchema, gaps: set) -> list:
    """What keeps ``subset`` from being a faithful subset of ``release``, one line each."""
    ours, theirs = declarations(subset), declarations(release)
    problems = [f"{key}: {value} here, {theirs.get(key, 'absent')} in the release"
                for key, value in ours.items() if theirs.get(key) != value and not _covered(key, gaps)]
    problems += [f"{gap}: listed as missing but the release has it" for gap in sorted(gaps) if gap in theirs]
    problems += [f"{key}: required in the release, not declared here" for key in sorted(required(release) - set(ours))
                 if _owner(key) in ours]
    return problems


def release_or_skip(folder):
    if folder is None:
        pytest.skip(stash_schema.MISSING)
    return folder


@pytest.mark.parametrize("folder", RELEASES or [None], ids=[f.name for f in RELEASES] or ["no-releases"])
def test_the_subset_is_faithful_to_the_release(folder):
    release = stash_schema.load_schema(release_or_skip(folder))
    gaps = stash_schema.RELEASE_GAPS.get(folder.name, set())
    assert differences(stash_schema.load_schema(), release, gaps) == []


def test_the_subset_follows_the_newest_release_without_gaps():
    newest = release_or_skip(stash_schema.newest_release())
    assert newest.name not in stash_schema.RELEASE_GAPS
    assert set(stash_schema.RELEASE_GAPS) <= {f.name for f in RELEASES}


@pytest.mark.parametrize("change, expected", [
    (("  title: String\n", "  title: String!\n"), "Scene.title: String! here, String in the release"),
    (("  apiKey: String!\n", "  apiKey: String!\n  apiKeys: String\n"), "ConfigGeneralResult.apiKeys: String here, absent"),
    (("  findTag(id: ID!): Tag\n", "  findTag(id: ID): Tag\n"), "Query.findTag(id:): ID here, ID! in the release"),
    (("  stash_id: String!\n  updated_at: Time\n", "  updated_at: Time\n"), "StashIDInput.stash_id: required in the release"),
    (("  NON_BINARY\n", "  NON_BINARY\n  OTHER\n"), "GenderEnum.OTHER: enum value here, absent"),
])
def test_the_faithfulness_check_catches_a_wrong_declaration(change, expected):
    newest = release_or_skip(stash_schema.newest_release())
    sdl = stash_schema.schema_sdl()
    assert change[0] in sdl
    wrong = build_schema(sdl.replace(change[0], change[1], 1))
    assert any(line.startswith(expected) for line in differences(wrong, stash_schema.load_schema(newest), set()))


def test_a_stale_gap_is_reported():
    newest = release_or_skip(stash_schema.newest_release())
    assert differences(stash_schema.load_schema(), stash_schema.load_schema(newest), {"Scene.groups"}) == [
        "Scene.groups: listed as missing but the release has it"]


def test_releases_are_ordered_oldest_first_and_the_newest_is_tagged(tmp_path):
    for name in ("v0.24.3", "v0.30.1", "v0.25.1", "develop-2026-01-11", "v0.27.2", "empty"):
        (tmp_path / name).mkdir()
        if name != "empty":
            (tmp_path / name / "schema.graphql").write_text("type Query { a: Int }\n")
    assert [f.name for f in stash_schema.supported_releases(tmp_path)] == [
        "v0.25.1", "v0.27.2", "v0.30.1", "develop-2026-01-11"]
    assert stash_schema.newest_release(tmp_path).name == "v0.30.1"
    assert stash_schema.supported_releases(tmp_path / "absent") == [] and stash_schema.newest_release(tmp_path / "absent") is None


def test_the_release_schemas_live_outside_the_repository():
    assert stash_schema.SHARED_SCHEMAS == stash_schema.REPO.parent / "shared" / "stash-schema"
    assert not any(stash_schema.REPO.rglob("types_scene.graphql"))


def test_the_end_to_end_sandbox_serves_the_newest_release(sandbox):
    newest = release_or_skip(stash_schema.newest_release())
    assert sandbox.stash.schema_dir == newest and sandbox.stash.version == newest.name
    fields = sandbox.stash.graphql('{ __type(name: "Scene") { fields { name } } }')["data"]["__type"]["fields"]
    assert "resume_time" in {f["name"] for f in fields}  # the full schema: the subset does not declare it
