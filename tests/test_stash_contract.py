"""Every GraphQL document PlexSync sends validates against every supported Stash release's own schema.

The documents are the module-level constants named ``*_QUERY`` or ``*_MUTATION`` in the plugin's
modules (plexsync/stash.py says so); another test fails on GraphQL text anywhere else in the plugin, so
a new document cannot slip past. The releases are the folders of ../shared/stash-schema from v0.25.1
on (the README's compatibility line), plus the project's subset SDL that the demo's fake Stash serves.
"""

import ast
import importlib
import re
from pathlib import Path

import pytest
from graphql import GraphQLError, OperationDefinitionNode, parse, validate

from plexsync.sandbox import stash_schema

ROOT = Path(__file__).resolve().parent.parent
SUFFIXES = ("_QUERY", "_MUTATION")
LOOKS_LIKE_GRAPHQL = re.compile(r"\b(query|mutation)\s+\w+\s*[({]|\bfragment\s+\w+\s+on\s+\w+")
RELEASES = stash_schema.supported_releases()


def plugin_sources() -> list:
    """The plugin's modules (the sandbox is test infrastructure, not the plugin)."""
    return [p for p in sorted((ROOT / "plexsync").rglob("*.py")) if "sandbox" not in p.relative_to(ROOT).parts]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def conventional_assignments(tree: ast.Module) -> list:
    """Module-level assignments to names ending in _QUERY/_MUTATION (and the _FRAGMENTs they share)."""
    found = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if any(name.endswith(SUFFIXES + ("_FRAGMENT",)) for name in names):
            found.append((names, node))
    return found


def sent_documents() -> dict:
    """``{"plexsync.stash.FIND_SCENE_QUERY": text}``: every document the plugin defines, by where it is defined."""
    documents = {}
    for path in plugin_sources():
        module = importlib.import_module(module_name(path))
        for names, _ in conventional_assignments(ast.parse(path.read_text(encoding="utf-8"))):
            for name in names:
                if name.endswith(SUFFIXES):
                    documents[f"{module.__name__}.{name}"] = getattr(module, name)
    return documents


def schema_label(folder) -> str:
    return folder.name if folder is not None else "the project's subset SDL"


def contract_failures(documents: dict, folders: list) -> list:
    """One line per (document, schema) pair that does not validate, naming both and the first reason."""
    failures = []
    for folder in folders:
        schema = stash_schema.load_schema(folder)
        for name, text in documents.items():
            errors = validate(schema, parse(text))
            if errors:
                failures.append(f"{name} is rejected by {schema_label(folder)}: {errors[0].message}")
    return failures


DOCUMENTS = sent_documents()


def test_the_documents_are_found():
    assert {"plexsync.stash.FIND_SCENE_QUERY", "plexsync.stash.FIND_SCENES_QUERY", "plexsync.stash.PLUGIN_CONFIG_QUERY",
            "plexsync.stash.API_KEY_QUERY", "plexsync.stash.VERSION_QUERY"} <= set(DOCUMENTS)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_document_is_one_named_operation(name):
    operations = [d for d in parse(DOCUMENTS[name]).definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1 and operations[0].name is not None, f"{name}: one named operation (faults and logs match names)"


@pytest.mark.parametrize("folder", RELEASES or [None], ids=[f.name for f in RELEASES] or ["no-releases"])
def test_every_document_validates_against_the_release(folder):
    if folder is None:
        pytest.skip(stash_schema.MISSING)
    assert contract_failures(DOCUMENTS, [folder]) == []


def test_every_document_validates_against_the_subset_the_demo_serves():
    assert contract_failures(DOCUMENTS, [None]) == []


def test_a_misspelt_field_fails_naming_the_document_and_each_release():
    broken = {"plexsync.example.BROKEN_QUERY": DOCUMENTS["plexsync.stash.FIND_SCENE_QUERY"].replace("basename", "basenme")}
    failures = contract_failures(broken, RELEASES + [None])
    assert len(failures) == len(RELEASES) + 1
    for folder, line in zip(RELEASES + [None], failures):
        assert line.startswith(f"plexsync.example.BROKEN_QUERY is rejected by {schema_label(folder)}: ")
        assert "Cannot query field 'basenme' on type 'VideoFile'." in line


def test_a_field_newer_than_the_oldest_release_fails_there():
    if stash_schema.release("v0.25.1") is None:
        pytest.skip(stash_schema.MISSING)
    with_groups = {"plexsync.example.GROUPS_QUERY": "query G($id: ID!) { findScene(id: $id) { groups { scene_index } } }"}
    assert contract_failures(with_groups, [stash_schema.release("v0.25.1")]) == [
        "plexsync.example.GROUPS_QUERY is rejected by v0.25.1: Cannot query field 'groups' on type 'Scene'."]


def graphql_outside_constants(source: str, label: str) -> list:
    """String literals that look like GraphQL but are not part of a *_QUERY/_MUTATION/_FRAGMENT constant."""
    tree = ast.parse(source)
    allowed = {id(n) for _, node in conventional_assignments(tree) for n in ast.walk(node)}
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(n) is not None}
    return [f"{label}:{node.lineno}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in allowed | docstrings and _is_graphql(node.value)]


def _is_graphql(text: str) -> bool:
    if LOOKS_LIKE_GRAPHQL.search(text):
        return True
    try:
        return any(isinstance(d, OperationDefinitionNode) for d in parse(text).definitions)
    except GraphQLError:
        return False


def test_no_graphql_document_hides_outside_the_named_constants():
    hits = [hit for path in plugin_sources()
            for hit in graphql_outside_constants(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert hits == []


@pytest.mark.parametrize("source", [
    'def f(client, sid):\n    return client.query(f"query Q {{ findScene(id: {sid}) {{ id }} }}")\n',
    'def f(client):\n    return client.query("{ version { version } }")\n',
    'FIND = "query Find { version { version } }"\n\n\ndef f(client):\n    return client.query(FIND)\n',
])
def test_the_outside_check_sees_a_document_that_escaped_the_convention(source):
    assert len(graphql_outside_constants(source, "sample.py")) == 1
