"""The operator's command line and the demo, run as the README says."""

import json
import subprocess
import sys
from pathlib import Path

from plexsync.deadletters import DeadLetters
from plexsync.jobs import JobQueue, new_job
from plexsync.state import StateDB, data_dir_for

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "plexsync", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_status_json_and_readable(tmp_path):
    JobQueue(data_dir_for(str(tmp_path))).put(new_job(3, "update"))
    done = cli("status", "--plugin-dir", str(tmp_path), "--json")
    assert done.returncode == 0
    report = json.loads(done.stdout)
    assert report["pending"] == 1 and report["in_retry"] == 0 and report["dead_letters"] == 0
    readable = cli("status", "--plugin-dir", str(tmp_path))
    assert "pending: 1" in readable.stdout and "queue: 1 pending" in readable.stderr


def test_dead_letters_list_retry_and_queue_clear(tmp_path):
    db = StateDB(data_dir_for(str(tmp_path)))
    DeadLetters(db).bury(new_job(7, "update"), "permanent", "several Plex items have the scene's files\nmore")
    db.close()
    listing = cli("dlq", "list", "--plugin-dir", str(tmp_path))
    assert "scene 7 [permanent] x1" in listing.stdout and "1 dead letters" in listing.stdout
    assert "more" not in listing.stdout
    retried = cli("dlq", "retry", "--plugin-dir", str(tmp_path), "--json")
    assert json.loads(retried.stdout) == {"requeued": 1}
    cleared = cli("queue", "clear", "--plugin-dir", str(tmp_path), "--json")
    assert json.loads(cleared.stdout) == {"cleared": 1, "retries_cleared": 0}


def test_bad_command_line_is_usage_not_a_traceback(tmp_path):
    done = cli("dlq", "explode", "--plugin-dir", str(tmp_path))
    assert done.returncode == 2 and "invalid choice" in done.stderr and "Traceback" not in done.stderr


def test_demo_shows_the_plex_item_synced(tmp_path):
    done = cli("demo", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout[done.stdout.index("{\n"):])
    assert result["synced"] is True
    assert result["plex_item"]["title"] == "Sunset at the Pier" and result["plex_item"]["actors"] == ["Ava Stone", "Ben Reed"]
    assert "Plex item 101 before:" in done.stdout and "Scene.Update.Post hook: output=\"queued\"" in done.stdout
    assert result["provider"]["plex_item"]["title"] == "Harbour Lights"  # scanned in through the metadata provider
    assert result["provider"]["plex_item"]["genres"] == ["Harbour", "Night"] and "matched (tv.plex.agents.custom.plexsync" in done.stdout
