"""The hook path: validate a Stash scene event, queue a job, make sure a worker runs. No network I/O.

Stash runs hooks synchronously: a user's save, or a bulk edit of 500 scenes (500 hook processes in a
row), waits for this. So it imports only the standard library and persist-queue, never builds anything
for Plex from the hook's ``input`` (which is whatever mutation fired, not the scene), and hands the
network work to the detached worker. The job is put before the lease is checked (enqueue-then-check),
so a worker deciding to exit at this moment still sees it (it releases, then rechecks the queue).
"""

import json
import logging
import sys
from pathlib import Path
from typing import NamedTuple, Optional

from plexsync import misconfig, stashlog
from plexsync.errors import BadInput
from plexsync.jobs import JobQueue, new_job
from plexsync.lease import SPAWN_TTL, Lease, new_token
from plexsync.procs import spawn_detached
from plexsync.protocol import PluginInput, ServerConnection
from plexsync.schedule import queue_if_due
from plexsync.state import StateDB, data_dir_for
from plexsync.worklog import relay

log = logging.getLogger(__name__)

EVENTS = {
    "Scene.Create.Post": "create", "Scene.Update.Post": "update", "Scene.Destroy.Post": "destroy",
    # Renames fire no scene hook and do not touch the scenes' updated_at: a fan-out job (expanded by
    # the worker into the scenes that use the object) carries them to Plex. Stash fires Movie.* with
    # Group.* from v0.27 on (the second job finds nothing changed); before, only Movie.*.
    "Performer.Update.Post": "fanout_performer", "Performer.Destroy.Post": "fanout_performer",
    "Studio.Update.Post": "fanout_studio", "Studio.Destroy.Post": "fanout_studio",
    "Tag.Update.Post": "fanout_tag", "Tag.Destroy.Post": "fanout_tag", "Tag.Merge.Post": "fanout_tag",
    "Group.Update.Post": "fanout_group", "Group.Destroy.Post": "fanout_group",
    "Movie.Update.Post": "fanout_group", "Movie.Destroy.Post": "fanout_group",
}
# What PlexSync writes of a performer, studio, tag or group: fields whose change reaches its scenes
# (names, the hierarchy that routes tags and makes parent-studio collections) ...
FANOUT_FIELDS = {"performer": frozenset({"name", "disambiguation", "image"}), "studio": frozenset({"name", "parent_id"}),
                 "tag": frozenset({"name", "parent_ids", "child_ids"}), "group": frozenset({"name"})}
# ... and fields only its collection shows (cover, description): a collection job, no scene resync.
COLLECTION_FIELDS = {"studio": frozenset({"image", "details"}), "group": frozenset({"synopsis", "front_image"})}
# Update inputs that touch only these keys cannot change anything PlexSync writes to Plex
# (the UI's "Organized" button and rating widget send just {id, organized} or {id, rating100}),
# except ``rating100`` while ``sync_rating`` is on.
NO_EFFECT_FIELDS = frozenset({
    "id", "ids", "clientMutationId", "organized", "rating100", "o_counter",
    "resume_time", "play_duration", "play_count",
})
LOG_SETTINGS_KEY = "log_settings"
# Settings the hook needs, cached in the state database by every process that reads them from Stash
# (hooks never ask Stash); never cached yet means the defaults.
HOOK_SETTINGS_KEY = "hook_settings"
HOOK_RELAY_LIMIT = 20  # worker log records shown per hook, so a bulk edit stays fast
HOOK_RELAY_BYTES = 16 * 1024  # and at most this much of the worker log read per hook (about 100 records)
ENTRY_SCRIPT = Path(__file__).resolve().parent.parent / "PlexSync.py"


class HookEvent(NamedTuple):
    """A validated scene event."""

    scene_id: int
    trigger: str
    input: object
    input_fields: Optional[tuple]

    @property
    def event(self) -> str:
        """The job event: create, update, destroy, ``fanout_<kind>`` or ``collection_<kind>``."""
        base = EVENTS[self.trigger]
        if not base.startswith("fanout_") or not self.trigger.endswith(".Update.Post") or not self.input_fields:
            return base
        kind, fields = base[len("fanout_"):], set(self.input_fields)
        if not FANOUT_FIELDS[kind] & fields and COLLECTION_FIELDS.get(kind, frozenset()) & fields:
            return f"collection_{kind}"
        return base


def parse_event(context: object) -> HookEvent:
    """Validate ``hookContext``; raises BadInput naming what is wrong."""
    if not isinstance(context, dict):
        raise BadInput("hook input has no hookContext object")
    scene_id = context.get("id")
    if isinstance(scene_id, bool) or not isinstance(scene_id, int) or scene_id <= 0:
        raise BadInput(f"hookContext.id must be a positive integer id, got {json.dumps(scene_id)[:40]}")
    trigger = context.get("type")
    if trigger not in EVENTS:
        raise BadInput(f"unsupported hook trigger {json.dumps(trigger)[:60]}: expected a Scene, Performer, Studio, Tag or Group trigger")
    fields = context.get("inputFields")
    fields = tuple(str(f) for f in fields) if isinstance(fields, list) else None
    return HookEvent(scene_id, trigger, context.get("input"), fields)


def skip_reason(event: HookEvent, sync_rating: bool = True) -> Optional[str]:
    """Why an event cannot change Plex, or None if it must be synced."""
    if not event.trigger.endswith(".Update.Post") or not event.input_fields:
        return None
    kind = EVENTS[event.trigger][len("fanout_"):] if EVENTS[event.trigger].startswith("fanout_") else ""
    if kind:
        relevant = FANOUT_FIELDS[kind] | COLLECTION_FIELDS.get(kind, frozenset())
        return None if relevant & set(event.input_fields) else "nothing PlexSync writes of it changed"
    fields = set(event.input_fields)
    if fields <= NO_EFFECT_FIELDS and not (sync_rating and "rating100" in fields):
        return "only " + ", ".join(sorted(fields - {"id", "ids"}) or ["id"]) + " changed"
    return None


def settled_skip(event: HookEvent, db: StateDB) -> Optional[str]:
    """``skip_reason`` with the settings a rating or organized change depends on, as last cached (default:
    ``sync_rating`` on, ``only_organized`` off): with ``only_organized`` the organized button counts."""
    cached = db.get(HOOK_SETTINGS_KEY) or {}
    reason = skip_reason(event, cached.get("sync_rating", True) is not False)
    if reason and cached.get("only_organized") and "organized" in (event.input_fields or ()):
        return None
    return reason


def destroy_details(event: HookEvent) -> dict:
    """The file path and delete flag a destroy carries (the scene no longer exists in Stash)."""
    data = event.input if isinstance(event.input, dict) else {}
    path = data.get("path")
    return {"path": path if isinstance(path, str) and path else None, "delete_file": data.get("delete_file") is True}


def handle_hook(plugin_input: PluginInput) -> str:
    """Queue the scene event and make sure a worker will process it; returns the output text."""
    event = parse_event(plugin_input.hook_context)
    data_dir = data_dir_for(plugin_dir(plugin_input.connection))
    # Only a rating or organized change needs cached settings to decide; every other event decides without a file.
    db = StateDB(data_dir) if {"rating100", "organized"} & set(event.input_fields or ()) else None
    reason = settled_skip(event, db) if db else skip_reason(event)
    if reason:
        if db:
            db.close()
        log.debug("scene %s: nothing to sync (%s)", event.scene_id, reason)
        return "skipped"
    extra = destroy_details(event) if event.event == "destroy" else {}
    queue = JobQueue(data_dir, threads=False)
    queue.put(new_job(event.scene_id, event.event, **extra))
    db = db or StateDB(data_dir)
    try:
        stashlog.apply_cached(db.get(LOG_SETTINGS_KEY) or {})
        queue_if_due(db, queue)
        ensure_worker(db, plugin_input.connection)
        relay(data_dir, db, limit=HOOK_RELAY_LIMIT, max_bytes=HOOK_RELAY_BYTES)
    finally:
        queue.close()
        db.close()
    log.debug("scene %s: queued (%s)", event.scene_id, event.trigger)
    return "queued"


def plugin_dir(connection: ServerConnection) -> str:
    """The plugin folder: Stash's ``PluginDir``, or this checkout when run by hand."""
    return connection.plugin_dir or str(ENTRY_SCRIPT.parent)


def ensure_worker(db: StateDB, connection: ServerConnection) -> Optional[int]:
    """Start a detached worker unless one holds the lease (or the last one stopped on a configuration
    error and asked for a pause); returns the new worker's pid, if any."""
    if not misconfig.spawn_allowed(db):
        return None
    token = new_token()
    lease = Lease(db, token)
    if lease.holder() is not None or not lease.acquire(ttl=SPAWN_TTL):  # cheap read first, then the lock
        return None
    payload = json.dumps({"server_connection": connection.to_json(), "lease_token": token}).encode()
    argv = [sys.executable, str(ENTRY_SCRIPT), "--worker"]
    pid = spawn_detached(argv, payload, log_path=str(db.path.parent / "worker.stderr"))
    lease.hand_over(pid)
    log.debug("started background worker (pid %s)", pid)
    return pid
