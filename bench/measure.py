"""What the benchmarks share: peak RSS from /proc, and a task run timed with its peak RSS sampled."""

import time
from pathlib import Path


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident set (VmHWM) in MB, or 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def timed_task(host, mode: str, args_map=None) -> tuple:
    """Run a task through the Stash host: (result, wall seconds, peak RSS MB of the task process)."""
    started = time.perf_counter()
    running = host.start_task("PlexSync", host.task_for_mode("PlexSync", mode), args_map)
    peak = 0.0
    while running.running():
        peak = max(peak, peak_rss_mb(running.pid))
        time.sleep(0.02)
    result = running.wait()
    return result, time.perf_counter() - started, peak
