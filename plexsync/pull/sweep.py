"""One pull: Plex's plays, resume points and ratings into Stash (the ``pull`` task, or the worker when due).

In this order, so that a kill at any moment repeats nothing and loses nothing:

1. Stash's version (v0.25 or newer: StashTooOld otherwise), then everything read from Plex: the plays since
   the checkpoint (less ``PLAY_OVERLAP``: Plex records plays synced late from offline devices at the time
   they were watched) and the owner's watch states viewed or rated since the checkpoint. A Plex that
   refuses or fails stops the pull here, before any change.
2. Items to scenes (``links``). Plays of items that map to no scene are parked in the ledger and counted
   in ``unmatched`` (up to 10 examples logged); a later pull adds them once their item maps to a scene.
3. Scene by scene, 100 at a time: one read of the scenes, the decisions (``changes``), the plays written
   ahead as pending, one request per scene that changes, then the plays done and the items marked.
4. The checkpoint, which moves only when a pull completes.

Only one pull runs at a time (a ``pull`` lease); another one finds it busy and does nothing. A rating
brought into Stash updates the scene's sync record when it was otherwise up to date, so the sync its
Stash hook queues sends nothing to Plex.
"""

import logging
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable

from plexsync.errors import Busy, InvalidData
from plexsync.lease import Lease, new_token
from plexsync.metadata import desired_state
from plexsync.pull.activity import Activity
from plexsync.pull.changes import SceneChange, decide
from plexsync.pull.ledger import Ledger
from plexsync.pull.links import Links
from plexsync.pull.scenes import StashScenes
from plexsync.runtime import Runtime
from plexsync.schedule import LAST_PULL_KEY
from plexsync.stashlog import PATHS

log = logging.getLogger(__name__)
COUNT_KEYS = ("scanned", "plays_added", "resume_updated", "ratings_updated", "unmatched")
PLAY_OVERLAP = 7 * 86400
STATE_OVERLAP = 600  # seconds of watch states read again, against clock skew and changes during a read
CHUNK = 100
EXAMPLES = 10
LEASE = "pull"
LEASE_TTL = 300.0


class PullSweep:
    """One pull over the configured Plex libraries."""

    def __init__(self, runtime: Runtime, progress: Callable[[float], None] = lambda fraction: None,
                 clock: Callable[[], float] = time.time) -> None:
        self.runtime, self.progress, self.clock = runtime, progress, clock
        self.settings = runtime.settings
        self.ledger = Ledger(runtime.db)
        self.scenes = StashScenes(runtime.stash)
        self.records = runtime.delivery.syncer.records
        self.links = Links(runtime.db, self.records, runtime.delivery.syncer.matcher, self.scenes)
        self.counts = {**dict.fromkeys(COUNT_KEYS, 0), "scenes_changed": 0}
        self.examples: list = []

    def run(self) -> dict:
        """The whole pull; returns the counts (``COUNT_KEYS`` plus ``scenes_changed`` and ``examples``)."""
        if not self.settings.pulls:
            log.info("pull: nothing to pull (pull_plays, pull_resume and pull_ratings are all off)")
            return self._report()
        self.scenes.check_version()
        lease = Lease(self.runtime.db, new_token(), name=LEASE, ttl=LEASE_TTL)
        if not lease.acquire():
            raise Busy(f"a pull is already running (process {lease.holder().pid}); this one did nothing")
        try:
            self._pull(lease)
        finally:
            lease.release()
        return self._report()

    def _pull(self, lease: Lease) -> None:
        self.progress(0.0)
        checkpoint = self.ledger.checkpoint()
        plays, states, newest = self._read_plex(checkpoint)
        self.progress(0.2)
        work = self._work(plays, states)
        ids = sorted(work)
        for start in range(0, len(ids), CHUNK):
            self._chunk(ids[start:start + CHUNK], work)
            lease.renew()
            self.progress(0.2 + 0.8 * min(1.0, (start + CHUNK) / len(ids)))
        self.ledger.save_checkpoint({**checkpoint, **newest}, keep=PLAY_OVERLAP + 86400)
        self.runtime.db.put(LAST_PULL_KEY, {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                            "at_ts": self.clock(), **self.counts})

    def _read_plex(self, checkpoint: dict) -> tuple:
        """(plays, watch states, the newest times read) from Plex; nothing is changed before this ends."""
        activity = Activity(self.runtime.plex, self.runtime.index.sections)
        since = self._since(checkpoint)
        plays = list(activity.plays(since["plays"], self.settings.pull_other_users)) if "plays" in since else []
        states = activity.states(since.get("viewed"), since.get("rated")) if {"viewed", "rated"} & set(since) else {}
        times = {"plays": [p.viewed_at for p in plays], "viewed": [s.last_viewed_at for s in states.values()],
                 "rated": [s.last_rated_at for s in states.values()]}
        newest = {kind: max(times[kind] + [checkpoint.get(kind) or 0]) for kind in since}
        return plays, states, {kind: value for kind, value in newest.items() if value}

    def _since(self, checkpoint: dict) -> dict:
        """kind -> the unix time to read from, for the kinds the settings pull (``plays`` None: the whole history)."""
        settings, since = self.settings, {}
        if settings.pull_plays:
            since["plays"] = None if checkpoint.get("plays") is None else checkpoint["plays"] - PLAY_OVERLAP
        for kind, on in (("viewed", settings.pull_resume), ("rated", settings.pull_ratings)):
            if on:
                since[kind] = max(0, (checkpoint.get(kind) or 0) - STATE_OVERLAP)
        return since

    def _work(self, plays: list, states: dict) -> dict:
        """scene id -> {"plays": [Play], "state": WatchState or None} for every scene the pull may change."""
        known = self.ledger.states([p.history_id for p in plays])
        fresh = list({p.history_id: p for p in plays if p.history_id not in known}.values())
        states = self._relevant(states)
        self.counts["scanned"] = len({p.rating_key for p in fresh} | set(states))
        parked = self.ledger.parked()
        links = self.links.resolve({p.rating_key for p in fresh + parked} | set(states))
        self._unmatched([p for p in fresh if p.rating_key not in links], [s for k, s in states.items() if k not in links])
        work = {scene_id: {"plays": [], "state": None} for scene_id in self.ledger.pending()}  # settled even if idle
        for play in fresh + parked:
            if play.rating_key in links:
                work.setdefault(links[play.rating_key], {"plays": [], "state": None})["plays"].append(play)
        for key, state in states.items():
            if key in links:
                work.setdefault(links[key], {"plays": [], "state": None})["state"] = state
        return work

    def _relevant(self, states: dict) -> dict:
        """The watch states that changed after the pull last acted on their item."""
        marks = self.ledger.marks(list(states))
        return {key: s for key, s in states.items()
                if (self.settings.pull_resume and s.last_viewed_at > marks.get(key, (0, 0))[0])
                or (self.settings.pull_ratings and s.last_rated_at > marks.get(key, (0, 0))[1])}

    def _unmatched(self, plays: list, states: list) -> None:
        """Park the plays; count the items; log up to ``EXAMPLES`` of them."""
        self.ledger.park(plays)
        items = {p.rating_key: f'"{p.title}"' for p in plays}
        items.update({s.rating_key: f'"{s.title}" ({PATHS.shown(s.file)})' for s in states})
        self.counts["unmatched"] += len(items)
        for key in sorted(items)[:EXAMPLES - len(self.examples)]:
            self.examples.append(f"Plex item {key} {items[key]}: no Stash scene PlexSync knows is this item")

    def _chunk(self, scene_ids: list, work: dict) -> None:
        """Read, decide and write up to ``CHUNK`` scenes."""
        found = self.scenes.read(scene_ids)
        for scene_id in [sid for sid, scene in found.items() if self._stale(scene, work[sid])]:
            del found[scene_id]  # its link no longer holds: treated as gone, relinked by a later pull
        pending, done = self.ledger.pending(), self.ledger.done_times(scene_ids)
        records = self.records.many(list(found))
        states = {sid: work[sid]["state"] for sid in found if work[sid]["state"]}
        marks = self.ledger.marks([state.rating_key for state in states.values()])
        self._gone([scene_id for scene_id in scene_ids if scene_id not in found], work, pending)
        changes = [decide(found[sid], tuple(work[sid]["plays"]), pending.get(sid, []), done.get(sid, []),
                          states.get(sid), marks.get(states[sid].rating_key, (0, 0)) if sid in states else (0, 0),
                          records[sid].written.get("rating") if sid in records else None, self.settings)
                   for sid in scene_ids if sid in found]
        self.ledger.begin({c.scene_id: c.plays for c in changes if c.plays})
        finished, refused = [i for c in changes for i in c.settled], set()
        for change in changes:
            if not change.changed:
                continue
            if self._write(change, found[change.scene_id]):
                finished += [p.history_id for p in change.plays]
            else:
                refused.add(change.scene_id)
        self.ledger.finish(finished)
        self.ledger.mark([state for sid, state in states.items() if sid not in refused])

    def _stale(self, scene: dict, entry: dict) -> bool:
        keys = {p.rating_key for p in entry["plays"]} | ({entry["state"].rating_key} if entry["state"] else set())
        return any([self.links.stale(key, scene) for key in keys])

    def _gone(self, gone: list, work: dict, pending: dict) -> None:
        """Scenes deleted in Stash since their item was linked: their plays wait for another scene."""
        if gone:
            self.ledger.park([p for sid in gone for p in work[sid]["plays"] + pending.get(sid, [])])
            self.counts["unmatched"] += len(gone)

    def _write(self, change: SceneChange, scene: dict) -> bool:
        """One request for the scene; False if Stash refused it (the plays stay pending for the next pull)."""
        rating = (change.rating.value,) if change.rating else None
        try:
            updated = self.scenes.apply(change.scene_id, [p.viewed_at for p in change.plays], change.resume, rating)
        except InvalidData as exc:
            log.warning("scene %s: Stash refused what the pull brings (%s); the next pull tries again", change.scene_id, exc)
            return False
        self._count(change, scene)
        if change.rating:
            self._agree(scene, updated, change.rating.agreed)
        return True

    def _count(self, change: SceneChange, scene: dict) -> None:
        self.counts["scenes_changed"] += 1
        self.counts["plays_added"] += len(change.plays)
        self.counts["resume_updated"] += change.resume is not None
        self.counts["ratings_updated"] += change.rating is not None
        parts = [f"{len(change.plays)} plays" if change.plays else "",
                 f"resume at {change.resume:.0f} s" if change.resume is not None else "",
                 f"rating {change.rating.value}" if change.rating else ""]
        log.info('pulled into scene %s "%s": %s', change.scene_id, scene.get("title") or "", ", ".join(filter(None, parts)))

    def _agree(self, before: dict, after: dict, agreed) -> None:
        """Record the rating both sides now hold; when the sync record was otherwise up to date, make it match
        the scene as the rating left it, so the sync its Stash hook queues finds nothing to send."""
        record = self.records.get(int(before["id"]))
        if record is None:
            return
        written, fingerprint = {**record.written, "rating": agreed}, record.fingerprint
        if after and record.written.get("updated_at") == before.get("updated_at"):
            shaping = self.runtime.delivery.syncer.shaping()  # as the sync computes it (title templates, routes)
            old = desired_state({**after, "rating100": before.get("rating100")}, self.settings, shaping)
            if old.fingerprint == record.fingerprint:
                fingerprint = desired_state(after, self.settings, shaping).fingerprint
                written["updated_at"] = after.get("updated_at")
        self.records.save(replace(record, fingerprint=fingerprint, written=written), wrote=False)

    def _report(self) -> dict:
        return {**self.counts, "examples": list(self.examples)}


def log_report(report: dict) -> None:
    """One summary line, then up to 10 unmatched examples, in Stash's log."""
    log.info("pull: %s Plex items with new activity; %s plays added, %s resume points and %s ratings updated in "
             "%s scenes; %s unmatched", report["scanned"], report["plays_added"], report["resume_updated"],
             report["ratings_updated"], report["scenes_changed"], report["unmatched"])
    for example in report.get("examples") or []:
        log.info("  unmatched: %s", example)
