"""The background worker's log: a rotating file of JSON records, relayed into Stash's log later.

The detached worker has no stderr to Stash, so it writes here; every later plugin process (hook or
task) relays the records not yet shown, with their original time, at most ``limit`` per run (warnings
and errors first) so hooks stay fast. The relay offset is advanced with compare-and-set in the state
database, so two processes relaying at once never show a record twice.
"""

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Optional

from plexsync.state import StateDB

LOG_FILE = "worker.log"
MAX_BYTES, BACKUPS = 1_000_000, 2
CHUNK = 128 * 1024
RELAY_KEY = "relay"
log = logging.getLogger(__name__)


def _identity(path: Path) -> Optional[list]:
    try:
        stat = path.stat()
    except OSError:
        return None
    return [stat.st_ino, stat.st_size]


def _read_from(path: Path, offset: int, max_bytes: int = CHUNK) -> tuple:
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read(max_bytes)
    end = data.rfind(b"\n") + 1
    return data[:end], offset + end


def pending_records(data_dir: Path, db: StateDB, max_bytes: int = CHUNK) -> tuple:
    """(records not yet relayed, at most ``max_bytes`` of them, and the relay state to store after showing them)."""
    path = Path(data_dir) / LOG_FILE
    ident = _identity(path)
    if ident is None:
        return [], None
    seen = db.get(RELAY_KEY) or {"inode": None, "offset": 0}
    offset = seen["offset"] if seen["inode"] == ident[0] and seen["offset"] <= ident[1] else 0
    if offset >= ident[1]:
        return [], None
    data, new_offset = _read_from(path, offset, max_bytes)
    records = []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records, (seen, {"inode": ident[0], "offset": new_offset})


def _claim(db: StateDB, before: dict, after: dict) -> bool:
    with db.transaction() as conn:
        row = conn.execute("SELECT value FROM kv WHERE key = ?", (RELAY_KEY,)).fetchone()
        current = json.loads(row[0]) if row else {"inode": None, "offset": 0}
        if current != before:
            return False
        conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (RELAY_KEY, json.dumps(after)))
        return True


def relay(data_dir: Path, db: StateDB, limit: int = 20, max_bytes: int = CHUNK) -> int:
    """Show unseen worker records in Stash's log (warnings and errors first); returns how many shown.

    ``max_bytes`` bounds the work: a hook reads a few KB of the log, not a backlog of thousands of lines.
    """
    records, states = pending_records(data_dir, db, max_bytes)
    if not records or not _claim(db, *states):
        return 0
    urgent = [r for r in records if r.get("l") in ("WARNING", "ERROR", "CRITICAL")]
    rest = [r for r in records if r not in urgent]
    chosen = (urgent + rest)[:limit]
    for record in sorted(chosen, key=lambda r: r.get("t", 0)):
        show(record)
    if len(records) > len(chosen):
        log.info("... %s more worker log records: run the 'Show worker log' task", len(records) - len(chosen))
    return len(chosen)


def show(record: dict) -> None:
    """Log one worker record at its level, prefixed with its original time."""
    level = logging.getLevelName(record.get("l", "INFO"))
    stamp = datetime.fromtimestamp(record.get("t", 0)).strftime("%Y-%m-%d %H:%M:%S")
    logging.getLogger("plexsync.worker").log(level if isinstance(level, int) else logging.INFO,
                                             "[worker %s] %s", stamp, record.get("m", ""))


def tail(data_dir: Path, count: int = 200) -> list:
    """The last ``count`` records of the worker log (current file and rotated ones)."""
    files = [Path(data_dir) / f"{LOG_FILE}.{n}" for n in range(BACKUPS, 0, -1)] + [Path(data_dir) / LOG_FILE]
    lines = []
    for path in files:
        if path.exists():
            lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
    records = []
    for line in lines[-count:]:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def remove_handler(handler: logging.Handler) -> None:
    """Detach and close a handler added by ``file_handler``."""
    logging.getLogger().removeHandler(handler)
    handler.close()
