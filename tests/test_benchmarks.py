"""Every benchmark under bench/ still runs, at a tiny size, and measures what it says it measures.

A benchmark is not a test of speed (figures are in the README, measured by hand); this only keeps the
scripts from breaking silently when the code they drive changes. Each check is on counts, never on time.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_bench(script: str, *args: str):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"bench/{script} failed:\n{done.stderr[-3000:]}"
    start = min(i for i in (done.stdout.find("{"), done.stdout.find("[")) if i >= 0)
    return json.loads(done.stdout[start:])


CASES = {
    "sync_all.py": (["--scenes", "30", "--latency-ms", "0"],
                    lambda r: (r["first_run"]["output"]["synced"], r["second_run_nothing_changed"]["output"]["synced"]),
                    (30, 0)),
    "drain.py": (["--jobs", "20", "--latency-ms", "0"], lambda r: r[0]["jobs"], 20),
    "collections.py": (["--scenes", "40", "--groups", "4", "--studios", "2", "--latency-ms", "0", "--changed", "1"],
                       lambda r: (r["first_run"]["output"]["synced"], r["collections_in_plex"]), (40, 6)),
    "index.py": (["--items", "50", "--latency-ms", "0"],
                 lambda r: (r["full_build"]["items"], r["refresh_after_10_new"]["items"]), (50, 10)),
    "outage.py": (["--outages", "1", "--scan-delays", "1", "--scenes", "5", "--latency-ms", "0"],
                  lambda r: (r["recovery"][0]["held_jobs"], len(r["scan"])), (5, 1)),
    "provider.py": (["--files", "60", "--concurrency", "2", "--latency-ms", "0"],
                    lambda r: (r["outcomes"]["matched"], r["outcomes"]["unmatched"]), (58, 2)),
    "pull.py": (["--items", "40", "--plays", "80", "--latency-ms", "0"], lambda r: r["first_pull"]["stash_mutations"], 40),
    "reconcile.py": (["--scenes", "30", "--latency-ms", "0"], lambda r: r[0]["in_sync"], 30),
    "hook_latency.py": (["--runs", "2", "--mode", "idle"], lambda r: r["idle"]["mode"], "idle"),
    "scene_tab.py": (["--runs", "2"], lambda r: (r["queued"], r["dead_letters"]), (5000, 200)),
}


def test_every_benchmark_is_covered():
    assert {p.name for p in (ROOT / "bench").glob("*.py")} - {"measure.py"} == set(CASES)


@pytest.mark.parametrize("script", sorted(CASES))
def test_the_benchmark_runs_at_a_tiny_size(script):
    args, read, expected = CASES[script]
    assert read(run_bench(script, *args)) == expected
