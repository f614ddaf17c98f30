"""Process edges that differ between POSIX and Windows: is a pid alive, and starting a detached child.

No ``fcntl`` and nothing POSIX-only on a path Windows users take.
"""

import os
import subprocess
import sys
from typing import Optional

_WINDOWS = sys.platform == "win32"


def process_alive(pid: Optional[int]) -> bool:
    """True if ``pid`` is a running process (a zombie counts as dead)."""
    if not pid or pid <= 0:
        return False
    if _WINDOWS:
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    # A killed worker whose parent never reaps it (Stash as PID 1 in Docker) stays a zombie:
    # os.kill(pid, 0) still succeeds, so read its state where /proc exists.
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] in (b"Z", b"X")


def _windows_alive(pid: int) -> bool:
    import ctypes  # Windows only; never reached on POSIX

    kernel = ctypes.windll.kernel32
    handle = kernel.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    code = ctypes.c_ulong()
    kernel.GetExitCodeProcess(handle, ctypes.byref(code))
    kernel.CloseHandle(handle)
    return code.value == 259  # STILL_ACTIVE


def spawn_detached(argv: list, payload: bytes, log_path: Optional[str] = None) -> int:
    """Start ``argv`` fully detached from Stash and hand it ``payload`` on its stdin; returns its pid.

    Stash waits until every holder of the plugin's stdout/stderr closes them (protocol §3.7), so the
    child gets its own session and none of our standard streams; secrets travel in the stdin pipe,
    never on the command line or in a file.
    """
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    options = dict(stdin=subprocess.PIPE, stdout=out, stderr=out, close_fds=True)
    if _WINDOWS:
        options["creationflags"] = 0x00000008 | 0x00000200  # DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP
    else:
        options["start_new_session"] = True
    try:
        child = subprocess.Popen(argv, **options)
    finally:
        if log_path:
            out.close()
    try:
        child.stdin.write(payload)
        child.stdin.close()
    except OSError:
        pass
    return child.pid
