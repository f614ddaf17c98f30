"""Benchmark: the metadata provider under a first library scan, replayed the way Plex calls it.

N files (default 10,000; 2 % of them unknown to Stash) are scanned by 8 concurrent workers, as PMS
does for new files: ``POST /library/metadata/matches`` with the body the sandbox's fake Plex sends,
then for each match ``GET /library/metadata/<ratingKey>`` and ``.../extras``. The provider runs as
the real service (``python -m plexsync provider``, its own process, started cold: the index is built
during the scan); the fake Stash runs in a third process with authentication on and a fixed latency
per request. Reports p50/p99 of match and metadata as the client measures them, Stash requests per
file, and the provider's peak RSS. The machine is shared, so the same run also times the floor under
a metadata request: one ``findScene`` sent straight to the fake Stash at the same concurrency.

Files are 500 to a folder and scanned in path order, folder by folder, file names in natural order
(``scene-2`` before ``scene-10``), as the provider's read-ahead expects. ``--order name`` scans
them in plain text order (``scene-10`` before ``scene-2``) and ``--order shuffled`` in no order at
all, to show what the read-ahead does when Plex's order is not the one it expects.

    python bench/provider.py [--files 10000] [--concurrency 8] [--latency-ms 5] [--order path|name|shuffled]
"""

import argparse
import json
import os
import queue
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from http.client import HTTPConnection
from urllib.parse import urlsplit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from measure import peak_rss_mb  # noqa: E402

from plexsync.sandbox.fake_plex import FakePlex  # noqa: E402
from plexsync.sandbox.plex_agents import MetadataAgents  # noqa: E402

API_KEY = "bench-stash-api-key-0123456789"
STASH_ROOT, PLEX_ROOT = "/data/videos", "/media/videos"


def stash_path(n: int) -> str:
    return f"{STASH_ROOT}/f{n // 500}/scene-{n}.mp4"


def serve_stash(files: int, known: int, latency: float) -> None:
    """The fake Stash process: fills the library, prints its URL, answers 'count' on stdin."""
    from plexsync.sandbox.fake_stash import FakeStash

    stash = FakeStash(api_key=API_KEY, require_auth=True).start()
    stash.set_plugin_settings("PlexSync", {"path_map": f"{STASH_ROOT}=>{PLEX_ROOT}"})
    studios = [stash.add_studio(f"Studio {n}") for n in range(20)]
    performers = [stash.add_performer(f"Performer {n}") for n in range(200)]
    tags = [stash.add_tag(f"Tag {n}") for n in range(100)]
    first = datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=2)))  # a library curated over months
    for n in range(known):
        stamp = (first + timedelta(minutes=17 * n)).isoformat()
        stash.add_scene(title=f"Scene {n}", created_at=stamp, updated_at=stamp, details="A scene. " * 20, date="2024-06-21", studio=studios[n % 20],
                        performers=[performers[n % 200], performers[(n * 7) % 200]], tags=[tags[(n + k) % 100] for k in range(5)],
                        files=[{"path": stash_path(n), "size": 1_000_000 + n, "duration": 600.0 + n % 60}])
    stash.latency = latency
    print(stash.url, flush=True)
    for line in sys.stdin:
        if line.strip() == "count":
            print(json.dumps(Counter(r.operation_name or r.path for r in stash.requests)), flush=True)
    stash.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_provider(stash_url: str) -> tuple:
    port = free_port()
    env = {**os.environ, "STASH_URL": stash_url, "STASH_API_KEY": API_KEY}
    process = subprocess.Popen([sys.executable, "-m", "plexsync", "provider", "--host", "127.0.0.1", "--port", str(port)],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            requests.get(url, timeout=1)
            return process, url
        except requests.RequestException:
            time.sleep(0.05)
    raise RuntimeError("the provider did not start")


def call(http: HTTPConnection, method: str, path: str, body: str = None) -> tuple:
    """One request on a kept-alive connection: (status, decoded JSON)."""
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    http.request(method, path, body=body, headers=headers)
    response = http.getresponse()
    return response.status, json.loads(response.read())


def scan_order(files: int, order: str) -> list:
    """The file numbers in the order the scan visits them (see the module docstring)."""
    numbers = list(range(files))
    if order == "name":
        numbers.sort(key=lambda n: (n // 500, f"scene-{n}.mp4"))
    elif order == "shuffled":
        random.Random(13).shuffle(numbers)
    return numbers


def replay(url: str, files: int, known: int, concurrency: int, order: str = "path") -> dict:
    """Scan every file through the provider at the given concurrency; latencies in ms."""
    plex = FakePlex(token=None)
    plex.add_section(title="Movies", locations=[PLEX_ROOT])
    agents = MetadataAgents(plex)  # only to build the exact bodies the fake Plex sends
    work: queue.Queue = queue.Queue()
    for n in scan_order(files, order):
        work.put(n)
    timings = {"match": [], "match_known": [], "match_unknown": [], "metadata": [], "extras": []}
    outcomes = Counter()
    lock = threading.Lock()

    def worker() -> None:
        # http.client, one keep-alive connection per worker: a thin client, as PMS (C++) is, so the
        # figures are the provider's and not requests' per-call overhead in 8 Python threads.
        http = HTTPConnection(urlsplit(url).hostname, urlsplit(url).port, timeout=90)
        while True:
            try:
                n = work.get_nowait()
            except queue.Empty:
                return
            path = stash_path(n).replace(STASH_ROOT, PLEX_ROOT) if n < known else f"{PLEX_ROOT}/unknown/new-{n}.mp4"
            body = json.dumps(agents.match_body(1, path, duration_ms=(600 + n % 60) * 1000))
            started = time.perf_counter()
            found = call(http, "POST", "/library/metadata/matches", body)[1]["MediaContainer"]["Metadata"]
            took = {"match": time.perf_counter() - started}
            took["match_known" if n < known else "match_unknown"] = took["match"]
            if found:
                started = time.perf_counter()
                status = call(http, "GET", f"/library/metadata/{found[0]['ratingKey']}")[0]
                took["metadata"] = time.perf_counter() - started
                started = time.perf_counter()
                call(http, "GET", f"/library/metadata/{found[0]['ratingKey']}/extras")
                took["extras"] = time.perf_counter() - started
            with lock:
                outcomes["matched" if found else "unmatched"] += 1
                if found and status != 200:
                    outcomes[f"metadata {status}"] += 1
                for name, seconds in took.items():
                    timings[name].append(seconds * 1000)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"seconds": time.perf_counter() - started, "timings": timings, "outcomes": dict(outcomes)}


def stash_floor(stash_url: str, known: int, concurrency: int, calls: int = 2000) -> dict:
    """The floor under a metadata request, timed in the same run: one findScene straight to the fake
    Stash (what the provider must wait for), at the same concurrency, through the same thin client."""
    from plexsync.stash import FIND_SCENE_QUERY

    timings, lock, work = [], threading.Lock(), queue.Queue()
    for n in range(calls):
        work.put(1 + (n * 7919) % known)

    def worker() -> None:
        http = HTTPConnection(urlsplit(stash_url).hostname, urlsplit(stash_url).port, timeout=90)
        headers = {"Content-Type": "application/json", "ApiKey": API_KEY}
        while True:
            try:
                scene_id = work.get_nowait()
            except queue.Empty:
                return
            body = json.dumps({"query": FIND_SCENE_QUERY, "variables": {"id": str(scene_id)}, "operationName": "FindScene"})
            started = time.perf_counter()
            http.request("POST", "/graphql", body=body, headers=headers)
            http.getresponse().read()
            with lock:
                timings.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return percentiles(timings)


def index_megabytes(files: int) -> float:
    """What the provider's in-memory index holds for this many files (tracemalloc, in this process)."""
    import gc
    import tracemalloc

    from plexsync.provider.index import _summary, _Tables

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tables = _Tables.of(_summary({"id": str(n), "title": f"Scene {n}", "date": "2024-06-21", "updated_at": f"2024-01-01T00:00:{n % 60:02d}+02:00",
                                  "files": [{"path": stash_path(n), "size": 1_000_000 + n, "duration": 600.0}]}) for n in range(files))
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return round(used / 1e6, 1)


def percentiles(values: list) -> dict:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 2), "p99": round(cuts[98], 2), "max": round(max(values), 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--unknown", type=float, default=0.02, help="share of files Stash does not know")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--order", choices=("path", "name", "shuffled"), default="path", help="the scan's file order")
    parser.add_argument("--serve-stash", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    known = int(options.files * (1 - options.unknown))
    if options.serve_stash:
        serve_stash(options.files, known, options.latency_ms / 1000)
        return
    stash = subprocess.Popen([sys.executable, __file__, "--serve-stash", "--files", str(options.files),
                              "--unknown", str(options.unknown), "--latency-ms", str(options.latency_ms)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    stash_url = stash.stdout.readline().strip()
    provider, url = start_provider(stash_url)
    try:
        result = replay(url, options.files, known, options.concurrency, options.order)
        peak = peak_rss_mb(provider.pid)
        stash.stdin.write("count\n")
        stash.stdin.flush()
        requests_by_operation = json.loads(stash.stdout.readline())
        floor = stash_floor(stash_url, known, options.concurrency)
    finally:
        provider.terminate()
        provider.wait(timeout=30)
        stash.stdin.close()
        stash.wait(timeout=30)
    total = sum(requests_by_operation.values())
    print(json.dumps({
        "files": options.files, "known_to_stash": known, "concurrency": options.concurrency, "order": options.order,
        "stash_latency_ms": options.latency_ms, "wall_seconds": round(result["seconds"], 1),
        "files_per_second": round(options.files / result["seconds"], 1), "outcomes": result["outcomes"],
        "match_ms": percentiles(result["timings"]["match"]), "metadata_ms": percentiles(result["timings"]["metadata"]),
        "match_known_file_ms": percentiles(result["timings"]["match_known"]),
        "match_unknown_file_ms": percentiles(result["timings"]["match_unknown"]),
        "extras_ms": percentiles(result["timings"]["extras"]),
        "floor_stash_find_scene_ms": floor,
        "stash_requests": requests_by_operation, "stash_requests_per_file": round(total / options.files, 3),
        "provider_peak_rss_mb": round(peak, 1), "provider_exit_status": provider.returncode,
        "index_mb": index_megabytes(options.files), "load_average": os.getloadavg()[0],
    }, indent=2))


if __name__ == "__main__":
    main()
