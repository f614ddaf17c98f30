"""Structure rules from style.md: imports point one way, no cycles, no print(), no stray .yml files."""

import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "plexsync"

# Lower rank = lower layer. A module may import only modules of its own rank or lower.
RANKS = {
    "errors": 0, "deps": 0, "package": 1, "paths": 1, "stashlog": 1, "protocol": 1, "procs": 1,
    "state": 2, "settings": 2, "jobs": 2,
    "lease": 3, "schedule": 3, "breaker": 3, "misconfig": 3, "outage": 4, "retries": 3, "deadletters": 3, "records": 3, "worklog": 3,
    "transport": 3, "stash": 4, "plex": 4,
    "library": 5, "metadata": 5, "matcher": 6, "sync": 7, "delivery": 8,
    "hook": 9, "status": 9, "runtime": 9, "scene_state": 9, "overview": 9, "operations": 10,
    "reconcile": 10, "worker": 11, "preview": 10, "health": 10, "bulk": 12, "tasks": 12, "scene_sync": 12,
    "app": 13, "cli": 14, "__main__": 15, "__init__": 0,
}


def module_imports() -> dict:
    graph = {}
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("plexsync"):
                parts = node.module.split(".")
                if len(parts) == 1:
                    names.update(alias.name for alias in node.names)
                elif parts[1] != "sandbox":
                    names.add(parts[1])
            elif isinstance(node, ast.Import):
                names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("plexsync."))
        graph[path.stem] = names - {"__version__"}
    return graph


def test_every_module_has_a_layer():
    assert set(module_imports()) <= set(RANKS), set(module_imports()) - set(RANKS)


def test_imports_point_down_the_layers():
    upward = [(a, b) for a, targets in module_imports().items() for b in targets if RANKS[b] > RANKS[a]]
    assert upward == []


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
