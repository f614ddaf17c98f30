"""``python -m plexsync package``: the plugin-source package Stash installs from (dist/).

``dist/PlexSync.zip`` holds exactly the runtime files (entry, manifest, the package without its
sandbox, the UI's JavaScript and CSS, requirements, README, LICENSE), built from scratch every time and reproducible: files in a
fixed order with fixed timestamps and permissions, so the same inputs give the same bytes.
``dist/index.yml`` is Stash's source index (stash-plugin-protocol.md §6.3) with the zip's sha256.
Run it in a development checkout: Stash would try to load ``dist/index.yml`` as a plugin.
"""

import hashlib
import re
import subprocess
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from plexsync import __version__

ROOT = Path(__file__).resolve().parent.parent
TOP_FILES = ("PlexSync.py", "PlexSync.yml", "requirements.txt", "README.md", "LICENSE")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
UI_DIR = "ui"  # the scene tab and the PlexSync page (PlexSync.yml ui.javascript / ui.css)


def runtime_files(root: Path = ROOT) -> list:
    """Relative paths of every file the package ships, sorted (the UI's JavaScript and CSS included)."""
    package = [p for p in (root / "plexsync").rglob("*.py") if "sandbox" not in p.relative_to(root).parts]
    ui = [p for p in (root / UI_DIR).glob("*") if p.suffix in (".js", ".css")]
    return sorted([Path(name) for name in TOP_FILES] + [p.relative_to(root) for p in package + ui], key=str)


def build_zip(target: Path, root: Path = ROOT) -> str:
    """Write the zip from scratch; returns its sha256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for relative in runtime_files(root):
            info = zipfile.ZipInfo(relative.as_posix(), date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, (root / relative).read_bytes())
    return hashlib.sha256(target.read_bytes()).hexdigest()


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _manifest_text(root: Path, key: str) -> str:
    match = re.search(rf"^{key}:\s*(.+)$", (root / "PlexSync.yml").read_text(encoding="utf-8"), re.MULTILINE)
    return match.group(1).strip() if match else ""


def index_entry(sha256: str, root: Path = ROOT) -> str:
    """The source index YAML: version with the commit, date of the last commit (UTC)."""
    commit = _git(root, "rev-parse", "--short", "HEAD")
    stamp = _git(root, "log", "-1", "--format=%ct")
    date = datetime.fromtimestamp(int(stamp) if stamp else 0, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    version = f"{__version__}-{commit}" if commit else __version__
    description = _manifest_text(root, "description").replace('"', "'")
    return (f"- id: PlexSync\n  name: {_manifest_text(root, 'name')}\n  metadata:\n    description: \"{description}\"\n"
            f"  version: {version}\n  date: \"{date}\"\n  path: PlexSync.zip\n  sha256: {sha256}\n"
            "  requires:\n    - PythonDepManager\n")


def build(dist: Path = ROOT / "dist", root: Path = ROOT) -> dict:
    """Build ``dist/PlexSync.zip`` and ``dist/index.yml``; returns what was written."""
    sha256 = build_zip(dist / "PlexSync.zip", root)
    (dist / "index.yml").write_text(index_entry(sha256, root), encoding="utf-8")
    return {"zip": str(dist / "PlexSync.zip"), "index": str(dist / "index.yml"), "sha256": sha256,
            "files": [str(p) for p in runtime_files(root)]}
