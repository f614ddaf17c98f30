"""Runtime dependencies, checked before anything imports them: one clear error, never a traceback.

If a package is missing and PythonDepManager is installed next to PlexSync (the CommunityScripts
convention; Stash puts the plugins source folder on PYTHONPATH), its ``ensure_import`` installs the
pinned requirements. Otherwise the run ends with one error naming the Python Stash used and the exact
``pip install`` command for it. Standard library only.
"""

import importlib.util
import json
import sys
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements.txt"
IMPORT_NAMES = {"persist-queue": "persistqueue", "plexapi": "plexapi", "pydantic": "pydantic",
                "tenacity": "tenacity", "requests": "requests"}


def pinned() -> list:
    """(import name, pip requirement) for each runtime requirement."""
    pins = []
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name = line.split("==")[0].split(">=")[0].strip().lower()
            pins.append((IMPORT_NAMES.get(name, name.replace("-", "_")), line))
    return pins


def missing(pins: list) -> list:
    """The requirements whose package cannot be imported."""
    return [(module, spec) for module, spec in pins if importlib.util.find_spec(module) is None]


def externally_managed() -> bool:
    """True where pip refuses to install into this Python without --break-system-packages (PEP 668)."""
    if sys.prefix != sys.base_prefix:
        return False
    import sysconfig  # only on the error path: the hook pays for nothing it does not use

    return (Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED").exists()


def install_command() -> str:
    """The exact command that installs the requirements for the Python running now."""
    flag = " --break-system-packages" if externally_managed() else ""
    return f'"{sys.executable}" -m pip install{flag} -r "{REQUIREMENTS}"'


def _with_dep_manager(absent: list) -> bool:
    try:
        from PythonDepManager import ensure_import  # a sibling plugin, found through Stash's PYTHONPATH
    except ImportError:
        return False
    ensure_import(*[f"{module}:{spec}" for module, spec in absent])
    return not missing(absent)


def check() -> str:
    """'' when every requirement imports (after PythonDepManager, if present), else the error line."""
    if sys.version_info < (3, 10):
        return (f"PlexSync needs Python 3.10 or newer; Stash runs {sys.executable} "
                f"({sys.version.split()[0]}). Set python_path in Stash's settings to a newer Python")
    absent = missing(pinned())
    if not absent or _with_dep_manager(absent):
        return ""
    names = ", ".join(spec for _, spec in absent)
    return (f"PlexSync needs Python packages that are missing for {sys.executable}: {names}. "
            f"Install them with: {install_command()} (or install the PythonDepManager plugin), then reload plugins")


def fail(message: str) -> int:
    """End the run as Stash expects: one error line on stderr, one JSON object on stdout, exit 0."""
    sys.stderr.write("\x01e\x02" + message + "\n")
    sys.stderr.flush()
    if "--worker" not in sys.argv:
        sys.stdin.buffer.read()  # Stash writes the input in full; read it so its writer never blocks
        sys.stdout.write(json.dumps({"error": message}))
        sys.stdout.flush()
    return 0


