"""Structure rules from style.md: imports point one way, no cycles, no print(), no stray .yml files."""

import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "plexsync"

# Lower rank = lower layer. A module may import only modules of its own rank or lower.
RANKS = {
    "errors": 0, "deps": 0, "package": 1, "paths": 1, "stashlog": 1, "protocol": 1, "procs": 1, "identity": 1,
    "imagelinks": 1, "titles": 1, "tagroutes": 1,
    "state": 2, "settings": 2, "jobs": 2,
    "lease": 3, "schedule": 3, "breaker": 3, "misconfig": 3, "outage": 4, "retries": 3, "deadletters": 3, "records": 3, "worklog": 3,
    "transport": 3, "stash": 4, "plex": 4, "collection_records": 3, "missing": 3, "plex_collections": 4,
    "library": 5, "metadata": 5, "photos": 5, "shaper": 5, "matcher": 6, "collection_sync": 6, "sync": 7, "delivery": 8,
    "hook": 9, "status": 9, "runtime": 9, "scene_state": 9, "overview": 9, "operations": 10,
    "reconcile": 10, "readahead": 8, "worker": 11, "preview": 10, "health": 10, "bulk": 12, "tasks": 12, "scene_sync": 12,
    "app": 13, "cli": 14, "__main__": 15, "__init__": 0,
    # the provider subpackage: above the shared modules it uses, below the command line that starts it
    "provider.__init__": 0, "provider.images": 1, "provider.config": 3, "provider.gate": 3, "provider.scenes": 3,
    "provider.index": 5, "provider.matching": 6, "provider.documents": 7, "provider.service": 8,
    "provider.app": 9, "provider.server": 10,
    "rating": 1,
    # the pull subpackage: Plex activity and Stash's side below the sweep that the tasks and the worker run
    "pull.__init__": 0, "pull.activity": 5, "pull.scenes": 5, "pull.ledger": 6, "pull.changes": 6, "pull.links": 7,
    "pull.sweep": 10,
}
# What the provider may use of the plugin: the shared models and clients, never the push machinery.
SHARED_WITH_PROVIDER = {"errors", "identity", "paths", "settings", "stash", "stashlog", "metadata", "transport",
                        "protocol", "__init__", "imagelinks", "titles", "tagroutes"}
PROVIDER_ONLY_LIBRARIES = {"fastapi", "starlette", "uvicorn", "anyio"}


def _name(path: Path) -> str:
    relative = path.relative_to(PACKAGE).with_suffix("")
    return ".".join(relative.parts)


def _targets(node) -> set:
    """The plexsync modules one import statement names (``plexsync.sandbox`` is not a layer)."""
    if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "plexsync":
        parts = node.module.split(".")[1:]
        if parts[:1] == ["sandbox"]:
            return set()
        if not parts or parts == ["provider"]:
            prefix = "provider." if parts else ""
            return {prefix + alias.name for alias in node.names}
        return {".".join(parts)}
    if isinstance(node, ast.Import):
        return {a.name.split(".", 1)[1] for a in node.names if a.name.startswith("plexsync.") and ".sandbox" not in a.name}
    return set()


def _modules() -> dict:
    return {_name(path): ast.parse(path.read_text(encoding="utf-8"))
            for path in PACKAGE.rglob("*.py") if "sandbox" not in path.relative_to(PACKAGE).parts}


def module_imports() -> dict:
    graph = {}
    for name, tree in _modules().items():
        names = set()
        for node in ast.walk(tree):
            names |= _targets(node)
        graph[name] = names - {"__version__"}
    return graph


def third_party_imports() -> dict:
    found = {}
    for name, tree in _modules().items():
        roots = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                roots.add(node.module.split(".")[0])
        found[name] = roots
    return found


def test_every_module_has_a_layer():
    graph = module_imports()
    assert set(graph) <= set(RANKS), set(graph) - set(RANKS)
    assert {t for targets in graph.values() for t in targets} <= set(RANKS)


def test_imports_point_down_the_layers():
    upward = [(a, b) for a, targets in module_imports().items() for b in targets if RANKS[b] > RANKS[a]]
    assert upward == []


def test_the_provider_uses_only_the_shared_modules_and_the_plugin_never_imports_the_provider():
    graph = module_imports()
    provider_uses = {t for name, targets in graph.items() if name.startswith("provider.") for t in targets}
    assert {t for t in provider_uses if not t.startswith("provider.")} <= SHARED_WITH_PROVIDER
    plugin_uses = {(name, t) for name, targets in graph.items() if not name.startswith("provider.")
                   for t in targets if t.startswith("provider.")}
    assert plugin_uses == {("cli", "provider.server")}  # imported only when the provider command runs


def test_only_the_provider_needs_fastapi_and_the_provider_never_needs_plexapi():
    libraries = third_party_imports()
    plugin = {name: roots & PROVIDER_ONLY_LIBRARIES for name, roots in libraries.items() if not name.startswith("provider.")}
    assert {name: roots for name, roots in plugin.items() if roots} == {}
    provider = set().union(*(roots for name, roots in libraries.items() if name.startswith("provider.")))
    assert not provider & {"plexapi", "persistqueue"}


def test_no_import_cycles():
    graph = module_imports()
    state = {}

    def visit(node, trail):
        if state.get(node) == "done":
            return
        assert state.get(node) != "active", f"cycle: {' -> '.join(trail + [node])}"
        state[node] = "active"
        for target in graph.get(node, ()):
            visit(target, trail + [node])
        state[node] = "done"

    for module in graph:
        visit(module, [])


def test_no_print_outside_the_command_line():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "sandbox" in path.parts or path.name in ("cli.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_functions_stay_small():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{path.name}:{node.name}")
    assert long == []


def test_the_manifest_is_the_only_yml_file_in_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    files = set(tracked) | {str(p.relative_to(ROOT)) for p in ROOT.rglob("*.yml") if ".git" not in p.parts}
    assert sorted(f for f in files if f.endswith(".yml")) == ["PlexSync.yml"]
