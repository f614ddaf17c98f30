"""The small SQLite state database under ``<PluginDir>/data/state.db``, shared by every plugin process.

Several plugin processes run at once (hooks during tasks, scan workers), and Stash kills processes with
SIGKILL, so every piece of shared state lives here: WAL journal, a 30 s busy timeout, and each change in
one transaction. The concepts stored here have their own modules (``lease``, ``breaker``, ``retries``,
``deadletters``, ``records``); this module owns only the connection, the schema and a key-value table.
"""

import json
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

STATE_FILE = "state.db"
SCHEMA_VERSION = 3
SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lease (
    name TEXT PRIMARY KEY, pid INTEGER, token TEXT, heartbeat_at REAL, expires_at REAL);
CREATE TABLE IF NOT EXISTS retries (
    job_key TEXT PRIMARY KEY, job TEXT NOT NULL, due_at REAL NOT NULL,
    error_class TEXT, last_error TEXT, held INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS retries_due ON retries (due_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, job_key TEXT, scene_id INTEGER, job TEXT NOT NULL,
    error_class TEXT, message TEXT, attempts INTEGER, failed_at REAL);
CREATE TABLE IF NOT EXISTS sync_records (
    scene_id INTEGER PRIMARY KEY, rating_key INTEGER, plex_file TEXT, fetched_at REAL,
    synced_at REAL, fingerprint TEXT, written TEXT);
CREATE TABLE IF NOT EXISTS breakers (
    name TEXT PRIMARY KEY, state TEXT NOT NULL, failures INTEGER NOT NULL,
    opened_at REAL, last_error TEXT, kind TEXT, probes INTEGER NOT NULL DEFAULT 0, probe_at REAL, said_at REAL);
CREATE TABLE IF NOT EXISTS outages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, started_at REAL, ended_at REAL, last_error TEXT);
CREATE TABLE IF NOT EXISTS daily_counts (day TEXT PRIMARY KEY, synced INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hourly_counts (hour INTEGER PRIMARY KEY, synced INTEGER NOT NULL);
"""
# Upgrades of a database an older version created (``user_version`` -> statements bringing it to the next).
MIGRATIONS = {
    1: ("ALTER TABLE breakers ADD COLUMN kind TEXT",
        "ALTER TABLE breakers ADD COLUMN probes INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE breakers ADD COLUMN probe_at REAL", "ALTER TABLE breakers ADD COLUMN said_at REAL"),
    2: ("CREATE TABLE IF NOT EXISTS hourly_counts (hour INTEGER PRIMARY KEY, synced INTEGER NOT NULL)",),  # the page's chart
}


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run each ``;``-separated statement of a schema script inside the caller's transaction."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def data_dir_for(plugin_dir: str) -> Path:
    """Where PlexSync keeps its files: ``<PluginDir>/data`` (never a ``.yml``: Stash would load it)."""
    path = Path(plugin_dir) / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


class StateDB:
    """One connection to the state file, safe to share between a process's threads."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / STATE_FILE
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout = 30000")
        if self._conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            self._migrate()

    def _migrate(self) -> None:
        self._conn.execute("PRAGMA journal_mode = WAL")
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # again, under the write lock
            if version == 0:
                run_script(conn, SCHEMA)
                version = SCHEMA_VERSION
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: the write lock is taken up front, so read-then-write is atomic."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: tuple = ()) -> list:
        """Rows of a read-only statement."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple = ()) -> int:
        """Run one writing statement in its own transaction; returns the number of rows changed."""
        with self._lock:
            return self._conn.execute(sql, params).rowcount

    def get(self, key: str, default: Any = None) -> Any:
        """A JSON value from the key-value table."""
        rows = self.query("SELECT value FROM kv WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def put(self, key: str, value: Any) -> None:
        """Store a JSON value in the key-value table."""
        self.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
