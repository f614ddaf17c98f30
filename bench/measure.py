"""What the benchmarks share: peak RSS and CPU time from /proc, and a task run timed with both sampled."""

import os
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


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU time so far (all its threads), or 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_task(host, mode: str, args_map=None) -> tuple:
    """Run a task through the Stash host: (result, wall seconds, peak RSS MB, CPU seconds of the task process).

    CPU time counts what the task itself spent, whatever else runs on the machine: on a shared machine it
    varies far less between runs than the wall time (it is sampled every 20 ms, so it may miss the last 20 ms)."""
    started = time.perf_counter()
    running = host.start_task("PlexSync", host.task_for_mode("PlexSync", mode), args_map)
    peak, cpu = 0.0, 0.0
    while running.running():
        peak = max(peak, peak_rss_mb(running.pid))
        cpu = max(cpu, cpu_seconds(running.pid))
        time.sleep(0.02)
    result = running.wait()
    return result, time.perf_counter() - started, peak, cpu
