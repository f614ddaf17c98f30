"""The ``status`` report: queue, retries, dead letters, breaker, worker and totals, from local state only.

It needs neither Stash nor Plex, so it answers even when both are down. Its keys are an interface
(automation reads them): ``pending``, ``in_retry``, ``held`` and ``dead_letters`` are counts and are never
renamed. ``in_retry`` counts jobs waiting for their own retry time; ``held`` those waiting for an outage
to end (held jobs, plus the queue while a breaker is open); ``breaker.kind`` says what the outage is.
"""

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional

from plexsync import misconfig
from plexsync.breaker import CircuitBreaker
from plexsync.collection_records import CollectionRecords
from plexsync.deadletters import DeadLetters
from plexsync.jobs import JobQueue
from plexsync.lease import Lease
from plexsync.missing import MissingFiles
from plexsync.records import SyncRecords
from plexsync.retries import RetrySchedule
from plexsync.state import StateDB

log = logging.getLogger(__name__)


def iso(timestamp: Optional[float]) -> Optional[str]:
    """A stored wall-clock time as local ISO-8601, or None."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def collect(data_dir: Path, clock: Callable[[], float] = time.time) -> dict:
    """Everything ``status`` reports, as a JSON-ready dict."""
    db, queue = StateDB(data_dir), JobQueue(data_dir)
    try:
        return _report(db, queue, clock)
    finally:
        queue.close()
        db.close()


def _breaker(snapshot) -> dict:
    """A breaker as reported: ``state``, ``kind`` (unreachable, auth, settings), next probe and last error."""
    return {"state": snapshot.state, "kind": snapshot.kind if snapshot.is_open else None, "failures": snapshot.failures,
            "retry_at": iso(snapshot.retry_at), "last_error": snapshot.last_error or None}


def _report(db: StateDB, queue: JobQueue, clock: Callable[[], float]) -> dict:
    retries, letters = RetrySchedule(db, clock), DeadLetters(db, clock)
    plex_breaker = CircuitBreaker(db, clock=clock)
    breaker, stash = plex_breaker.snapshot(), CircuitBreaker(db, "stash", clock=clock).snapshot()
    holder = Lease(db, token="", clock=clock).holder()
    waiting, in_flight, held = queue.pending(), queue.in_flight(), retries.held()
    by_class = letters.counts()
    outage = plex_breaker.last_outage()
    totals = SyncRecords(db, clock).totals()
    return {
        "pending": waiting + in_flight,
        "in_flight": in_flight,
        "in_retry": retries.count() - held,
        "next_retry_at": iso(retries.next_due()),
        "held": held + (waiting if breaker.is_open or stash.is_open else 0),
        "dead_letters": sum(by_class.values()),
        "dead_letters_by_class": by_class,
        "breaker": _breaker(breaker),
        "stash_breaker": _breaker(stash),
        "misconfigured": misconfig.current(db),
        "last_outage": outage and {**outage, "started_at": iso(outage["started_at"]), "ended_at": iso(outage["ended_at"])},
        "worker": {"running": holder is not None, "pid": holder.pid if holder else None},
        "last_sync_at": iso(totals["last_sync_at"]),
        "synced_today": totals["synced_today"],
        "synced_total": totals["synced_total"],
        "last_reconcile": db.get("last_reconcile"),
        "last_pull": db.get("last_pull"),
        "collections": CollectionRecords(db).count(),
        "missing_in_plex": MissingFiles(db, clock).count(),
    }


def log_report(report: dict) -> None:
    """The same report as a few readable lines in Stash's log."""
    log.info("queue: %s pending, %s waiting for a retry (next %s), %s dead letters %s",
             report["pending"], report["in_retry"], report["next_retry_at"] or "-",
             report["dead_letters"], report["dead_letters_by_class"] or "")
    for name, key in (("Plex", "breaker"), ("Stash", "stash_breaker")):
        breaker = report[key]
        if breaker["state"] != "closed" or key == "breaker":
            log.info("%s circuit breaker: %s%s", name, breaker["state"],
                     f" ({breaker['kind']}; next probe {breaker['retry_at']}; {report['held']} jobs held; last error: "
                     f"{breaker['last_error']})" if breaker["state"] != "closed" else "")
    if report["misconfigured"]:
        log.error("the background worker stopped on a setting: %s", report["misconfigured"])
    if report["missing_in_plex"]:
        log.info("%s scenes recorded as missing in Plex (missing_in_plex: ignore); not retried", report["missing_in_plex"])
    collections = report["collections"]
    if any(collections.values()):
        log.info("collections: %s managed by PlexSync, %s made in Plex (left alone), %s waiting for a pass",
                 collections["managed"], collections["foreign"], collections["pending"])
    worker = report["worker"]
    log.info("background worker: %s; synced today %s, all time %s, last sync %s",
             f"running (pid {worker['pid']})" if worker["running"] else "not running",
             report["synced_today"], report["synced_total"], report["last_sync_at"] or "never")
