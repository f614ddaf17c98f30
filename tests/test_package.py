"""Shipping: the plugin-source package, missing dependencies, PythonDepManager, Python versions."""

import hashlib
import json
import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from plexsync.package import build
from plexsync.sandbox.stash_host import StashHost

ROOT = Path(__file__).resolve().parent.parent


def test_package_is_reproducible_and_its_sha256_is_in_the_index(tmp_path):
    first = build(tmp_path / "a")
    second = build(tmp_path / "b")
    zip_bytes = (tmp_path / "a" / "PlexSync.zip").read_bytes()
    assert zip_bytes == (tmp_path / "b" / "PlexSync.zip").read_bytes() and first["sha256"] == second["sha256"]
    index = (tmp_path / "a" / "index.yml").read_text()
    assert f"sha256: {hashlib.sha256(zip_bytes).hexdigest()}" in index
    for line in ("- id: PlexSync", "  path: PlexSync.zip", "  requires:\n    - PythonDepManager"):
        assert line in index
    assert re.search(r'date: "\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"', index)
    names = zipfile.ZipFile(tmp_path / "a" / "PlexSync.zip").namelist()
    assert {"PlexSync.py", "PlexSync.yml", "requirements.txt", "README.md", "LICENSE", "plexsync/app.py"} <= set(names)
    assert not [n for n in names if "sandbox" in n or n.startswith("tests") or n.endswith(".pyc")]
    assert [n for n in names if n.endswith(".yml")] == ["PlexSync.yml"]


def test_unzipped_package_runs_a_hook_and_a_task_from_a_fresh_plugins_folder(sandbox, tmp_path):
    build(tmp_path / "dist")
    plugins = tmp_path / "plugins" / "community"
    with zipfile.ZipFile(tmp_path / "dist" / "PlexSync.zip") as archive:
        archive.extractall(plugins / "PlexSync")
    sandbox.plugin_dir, sandbox.plugins_dir = plugins / "PlexSync", plugins  # status and workers look here
    scene, key = sandbox.add_scene("Packaged")
    host = StashHost(plugins, sandbox.stash, env={"PLEXSYNC_IDLE_EXIT": "1"})
    assert [r.output for r in host.scene_update(scene, title="Packaged 2")] == ["queued"]
    result = host.run_task_by_mode("PlexSync", "process_queue")
    assert result.error is None and result.argv[1].startswith(str(plugins))
    assert sandbox.plex.item(key).title == "Packaged 2"
    assert (plugins / "PlexSync" / "data" / "state.db").exists()


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A virtual environment without PlexSync's dependencies, like a fresh Stash container."""
    folder = tmp_path_factory.mktemp("bare")
    venv.EnvBuilder(with_pip=False).create(folder / "venv")
    return str(folder / "venv" / "bin" / "python")


def test_missing_dependencies_end_with_one_clear_error(sandbox, bare_python):
    host = StashHost(sandbox.plugins_dir, sandbox.stash, python=bare_python)
    scene, _ = sandbox.add_scene("Bare")
    for result in host.scene_update(scene, title="x") + [host.run_task_by_mode("PlexSync", "status")]:
        assert result.returncode == 0 and result.error.startswith("PlexSync needs Python packages that are missing")
        assert bare_python in result.error and f'"{bare_python}" -m pip install -r' in result.error
        assert "persist-queue==1.1.0" in result.error and "Traceback" not in result.stdout + str(result.logs)
        assert result.logs == [("error", result.error)]


def test_python_dep_manager_is_asked_for_the_pinned_requirements(sandbox, bare_python, tmp_path):
    calls = tmp_path / "ensure_import.json"
    site = [p for p in sys.path if p.endswith("site-packages")][0]
    (sandbox.plugins_dir / "PythonDepManager").mkdir()
    (sandbox.plugins_dir / "PythonDepManager" / "__init__.py").write_text(
        "import json, sys\n"
        "def ensure_import(*specs):\n"
        f"    open({str(calls)!r}, 'a').write(json.dumps(list(specs)) + '\\n')\n"
        f"    sys.path.append({site!r})  # stands in for installing them\n")
    host = StashHost(sandbox.plugins_dir, sandbox.stash, python=bare_python)
    scene, _ = sandbox.add_scene("Managed")
    assert [r.output for r in host.scene_update(scene, title="y")] == ["queued"]
    requested = json.loads(calls.read_text().splitlines()[0])
    assert "persistqueue:persist-queue==1.1.0" in requested and "plexapi:plexapi==4.18.3" in requested
    assert len(requested) == 5
    sandbox.stop_worker()


def test_vermin_finds_python_3_10_the_minimum():
    script = "import sys, vermin; sys.argv = ['vermin', '--no-tips', 'plexsync', 'PlexSync.py']; sys.exit(vermin.main())"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "Minimum required versions: 3.10" in done.stdout, done.stdout


def test_stash_before_groups_is_supported(tmp_path):
    from plexsync.sandbox.world import Sandbox

    from plexsync.sandbox import stash_schema

    oldest = stash_schema.release("v0.25.1")
    if oldest is None:
        pytest.skip(stash_schema.MISSING)
    with Sandbox(root=tmp_path / "old", stash_options={"schema_dir": oldest}) as old:
        assert not old.stash.supports_groups
        scene, key = old.add_scene("Old Stash")
        result = old.host().run_task_by_mode("PlexSync", "sync_all")
        assert result.error is None and old.plex.item(key).title == "Old Stash"


def pinned(name: str) -> dict:
    """``{distribution: version}`` pinned in one requirements file (markers dropped), without the files it includes."""
    lines = [line.split("#")[0].split(";")[0].strip() for line in (ROOT / name).read_text().splitlines()]
    pins = [line for line in lines if line and not line.startswith("-r ")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", pin) for pin in pins), pins
    return {_normal(pin.split("==")[0]): pin.split("==")[1] for pin in pins}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports(paths: list) -> set:
    """Distributions whose modules these files import (anywhere in them: the hook imports lazily)."""
    import ast
    import importlib.metadata

    owners = importlib.metadata.packages_distributions()
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    names -= set(sys.stdlib_module_names) | {"plexsync", "PythonDepManager"}  # the latter: a sibling Stash plugin
    return {_normal(owners[name][0]) for name in names}


def test_runtime_requirements_are_exactly_what_the_plugin_imports():
    package = list((ROOT / "plexsync").rglob("*.py"))
    plugin = [ROOT / "PlexSync.py"] + [p for p in package if not {"sandbox", "provider"} & set(p.parts)]
    provider = [p for p in package if "provider" in p.parts]
    runtime = set(pinned("requirements.txt"))
    assert runtime == third_party_imports(plugin)
    assert third_party_imports(provider) <= runtime | set(pinned("requirements-provider.txt"))


def test_the_sandbox_needs_are_pinned_apart_from_what_stash_installs():
    sandbox = list((ROOT / "plexsync" / "sandbox").rglob("*.py"))
    runtime, provider = set(pinned("requirements.txt")), set(pinned("requirements-provider.txt"))
    extra = set(pinned("requirements-sandbox.txt"))
    assert {"graphql-core", "pyyaml"} <= extra and not extra & (runtime | provider)
    assert third_party_imports(sandbox) <= runtime | provider | extra
    assert "-r requirements-provider.txt" in (ROOT / "requirements-sandbox.txt").read_text()
    assert "-r requirements-sandbox.txt" in (ROOT / "requirements-dev.txt").read_text()
