"""A fake Stash server that speaks real HTTP and real GraphQL, for tests and the demo.

GraphQL is graphql-core's (parse, validate, coerce, execute), against a real schema: by default the
project's subset of Stash's schema (``stash_subset.graphql``), or, with ``schema_dir``, a Stash
release's own schema files (``../shared/stash-schema/v0.30.1``), so a misspelt field or a wrong
argument type fails here the way it fails against Stash. Status codes and error shapes follow gqlgen
(``gqlgen.py``): 422 for documents that do not parse or validate and for bad variables, 200 with
``errors`` for resolver errors (docs/stash-plugin-protocol.md §4.2, §5). This module is the Stash
behaviour behind that schema.

Behaviour copied from Stash on purpose, with where it comes from:

* ``updated_at``/``created_at`` are RFC3339 strings in the server's offset without fractional
  seconds, and timestamp filters compare them AS TEXT (``pkg/sqlite/timestamp.go``, §5.3);
* ``findScenes`` with no ``sort`` has no ORDER BY (insertion order here), every sort ends with a
  ``COALESCE(title, id)`` natural, case-insensitive ascending tiebreak, and an unknown sort is an
  error (``pkg/sqlite/scene.go`` ``sceneSortOptions``);
* ``findScenes(ids:)`` ignores the filter and fails if an id is missing;
* plugin settings never saved are absent from ``configuration.plugins`` (§4.1);
* renaming a performer, studio or tag does not touch the scenes' ``updated_at`` (§3.3);
* auth: a non-matching ``ApiKey`` is always 401; otherwise a valid ``session`` cookie or no
  credentials configured (§4.2).

How a field gets its value. Objects are plain dicts built by the ``_*_view`` methods ("views"); a
field whose name is a key of its object's dict answers that value (None is a legitimate null). A
field that needs arguments, other objects or a change to the store has a resolver: a method marked
``@resolves("Type", "field")`` taking ``(parent, args, request)``, where ``parent`` is the object's
dict (None on Query and Mutation), ``args`` the coerced arguments and ``request.base`` the URL the
client used. A field with neither answers a GraphQL error naming it, never a silent null: the full
release schemas declare far more than the fake implements.

Adding an operation, e.g. ``sceneAddPlay`` for play history:

1. if the project's subset should declare it, copy its declaration from Stash's schema into
   ``stash_subset.graphql`` (tests/test_stash_schema.py checks it matches every supported release);
2. keep the state in the store (a field of ``_Scene``, set through ``add_scene``/``update_scene``);
3. write the resolver next to the others::

       @resolves("Mutation", "sceneAddPlay")
       def _scene_add_play(self, parent, args, request):
           ...  # change the store under self._lock, return what the schema says the field returns

4. for a new object field without arguments, adding its key to the view is enough (e.g.
   ``"resume_time": scene.resume_time`` in ``_scene_view``).

Behaviour that belongs to another part of the sandbox is plugged in from outside with
:meth:`FakeStash.add_resolver` (e.g. ``runPluginOperation`` answered by a ``StashHost``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.server
import json
import os
import random
import re
import shutil
import socket
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from graphql import GraphQLError, GraphQLResolveInfo

from plexsync.sandbox import stash_schema
from plexsync.sandbox.gqlgen import Endpoint
from plexsync.sandbox.stash_objects import StashObjects, resolves

__all__ = ["FakeStash", "RequestRecord"]




@dataclass(frozen=True)
class _Request:
    """What resolvers may know about the HTTP request: the base URL the client used."""

    base: str


# --------------------------------------------------------------------------------------------
# The data store
# --------------------------------------------------------------------------------------------

_SYNC_SCENE = """
query FakeStashScene($id: ID!) { findScene(id: $id) { ...SyncScene } }
fragment SyncScene on Scene {
  id title code details director urls date rating100 organized created_at updated_at
  studio { id name parent_studio { id name } }
  performers { id name disambiguation gender image_path }
  tags { id name }
  %s
  files { id path basename size duration width height video_codec frame_rate bit_rate }
  paths { screenshot preview stream }
  stash_ids { endpoint stash_id }
}
"""

_ACTIVITY = """
query FakeStashActivity($id: ID!) {
  findScene(id: $id) { play_history play_count last_played_at resume_time play_duration rating100 }
}
"""

# pkg/sqlite/scene.go sceneSortOptions (CVE-2024-32231 whitelist); "random_<seed>" is accepted too.
_SORTS = {"bitrate", "created_at", "code", "date", "file_count", "filesize", "duration", "file_mod_time",
          "framerate", "group_scene_number", "id", "interactive", "interactive_speed", "last_o_at",
          "last_played_at", "movie_scene_number", "o_counter", "organized", "performer_count",
          "play_count", "play_duration", "resume_time", "path", "perceptual_similarity", "random",
          "rating", "resolution", "studio", "tag_count", "title", "updated_at", "performer_age"}

_FILTERS = {"id", "title", "organized", "rating100", "performers", "studios", "tags", "movies", "groups",
            "updated_at", "created_at"}

_SCENE_KEYS = {"title", "details", "date", "studio", "performers", "tags", "files", "code", "urls",
               "rating100", "organized", "groups", "director", "stash_ids", "created_at", "updated_at"}


@dataclass
class _Scene:
    id: int
    created_at: str = ""
    updated_at: str = ""
    updated_dt: Optional[dt.datetime] = None
    title: Optional[str] = None
    code: Optional[str] = None
    details: Optional[str] = None
    director: Optional[str] = None
    date: Optional[str] = None
    rating100: Optional[int] = None
    organized: bool = False
    urls: list = field(default_factory=list)
    studio: Optional[int] = None
    performers: list = field(default_factory=list)
    tags: list = field(default_factory=list)
    groups: list = field(default_factory=list)       # [(group_id, scene_index)]
    files: list = field(default_factory=list)        # VideoFile dicts
    stash_ids: list = field(default_factory=list)
    screenshot: Optional[bytes] = None
    plays: list = field(default_factory=list)        # UTC datetimes to the second (scenes_view_dates)
    resume_time: float = 0.0
    play_duration: float = 0.0


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request the fake answered (or dropped: ``status`` None)."""

    method: str
    path: str
    operation_name: Optional[str]
    variables: Optional[dict]
    headers: dict
    status: Optional[int]
    t: float
    query: str = ""          # the URL query string
    document: Optional[str] = None  # the GraphQL query text


@dataclass
class _Fault:
    status: int
    times: int
    operation: Optional[str]
    path: Optional[str]
    drop: bool


def _natural(text: str) -> tuple:
    """Sort key for SQLite's NATURAL_CI collation: case-insensitive, digit runs compared as numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in re.split(r"(\d+)", text) if part)


def _nullable(value: Any) -> tuple:
    return (0,) if value is None else (1, value)


def _parse_offset(tz_offset: str) -> tuple:
    if tz_offset in ("Z", "z"):
        return dt.timezone.utc, True
    match = re.fullmatch(r"([+-])(\d\d):?(\d\d)", tz_offset)
    if match is None:
        raise ValueError(f"tz_offset must look like +02:00 or Z, not {tz_offset!r}")
    delta = dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
    return dt.timezone(-delta if match.group(1) == "-" else delta), False


def _parse_stamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


class FakeStash(StashObjects):
    """An in-memory Stash behind a real HTTP server; see the module docstring for what is emulated.

    Groups, studio details and logos, the tag hierarchy and performer images: ``stash_objects``.
    """

    def __init__(self, api_key: str = "", require_auth: bool = False, tz_offset: str = "+02:00",
                 version: Optional[str] = None, schema_dir: stash_schema.SchemaSource = None,
                 refresh_cookies: bool = False, config_dir: Optional[str] = None,
                 clock: Callable[[], float] = time.time):
        """``schema_dir``: a release folder of ``../shared/stash-schema`` to serve instead of the subset.

        ``version`` defaults to the release folder's name (``v0.25.1``), else ``v0.30.1``.
        """
        self.api_key = api_key
        self.require_auth = require_auth
        self.username = "admin" if require_auth else ""  # credentials configured: what Stash's config shows
        self.schema_dir = Path(schema_dir) if schema_dir is not None else None
        self.version = version or _default_version(self.schema_dir)
        self.refresh_cookies = refresh_cookies
        self.latency = 0.0
        self._tz, self._zulu = _parse_offset(tz_offset)
        self._clock = clock
        self._lock = threading.RLock()
        self._endpoint = Endpoint(stash_schema.load_schema(self.schema_dir), self._resolve_field)
        self._resolvers = _bound_resolvers(self)
        self._config_dir = config_dir
        self._own_config_dir: Optional[str] = None
        self._reset_data()
        self._cookies = [self._mint_cookie()]
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._conns: set = set()
        self._port = 0

    @property
    def supports_groups(self) -> bool:
        """Whether the served schema has ``Scene.groups`` (Stash v0.27 and newer)."""
        return "groups" in self._endpoint.schema.type_map["Scene"].fields  # type: ignore[union-attr]

    def _reset_data(self) -> None:
        self._scenes: dict = {}
        self._performers: dict = {}
        self._studios: dict = {}
        self._tags: dict = {}
        self._groups: dict = {}
        self._next_ids: dict = {}
        self._settings: dict = {}
        self._requests: list = []
        self._faults: list = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "FakeStash":
        """Bind 127.0.0.1 on a free port (later starts reuse it) and serve in a background thread."""
        server = http.server.ThreadingHTTPServer(("127.0.0.1", self._port), _Handler)
        self._port = server.server_address[1]
        server.daemon_threads = True
        server.stash = self  # type: ignore[attr-defined]
        server.handle_error = lambda request, address: None  # type: ignore[assignment]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="FakeStash", daemon=True)  # quick stop()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open keep-alive connections and remove the temporary config dir."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            for conn in list(self._conns):
                _close_quietly(conn)
            self._thread.join(timeout=5)
            self._server = None
        if self._own_config_dir:
            shutil.rmtree(self._own_config_dir, ignore_errors=True)
            self._own_config_dir = None

    def restart(self) -> "FakeStash":
        """Serve again on the same port with the same data (Stash restarted)."""
        config_dir, self._own_config_dir = self._own_config_dir, None  # keep the config dir
        self.stop()
        self._own_config_dir = config_dir
        return self.start()

    def __enter__(self) -> "FakeStash":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (kept while stopped for a restart; the server must have been started)."""
        if not self._port:
            raise RuntimeError("FakeStash is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_dir(self) -> str:
        """Stash's config directory (``server_connection.Dir``); a temp dir unless one was given."""
        if self._config_dir:
            return self._config_dir
        if self._own_config_dir is None:
            self._own_config_dir = tempfile.mkdtemp(prefix="fake-stash-config-")
        return self._own_config_dir

    # -- session ---------------------------------------------------------------------------

    def _mint_cookie(self) -> str:
        payload = f"{int(self._clock())}|".encode() + base64.urlsafe_b64encode(os.urandom(60))
        return base64.urlsafe_b64encode(payload).decode()

    @property
    def session_cookie(self) -> str:
        """The newest valid ``session`` cookie value."""
        with self._lock:
            return self._cookies[-1]

    def expire_cookie(self) -> str:
        """Invalidate every session cookie (like max_session_age passing) and mint a new one."""
        with self._lock:
            self._cookies = [self._mint_cookie()]
            return self._cookies[-1]

    def server_connection(self, plugin_dir: str, dir: Optional[str] = None) -> dict:
        """The ``server_connection`` Stash puts on a plugin's stdin (Go field names, §3.2)."""
        return {
            "Scheme": "http", "Host": "0.0.0.0", "Port": self.port,
            "SessionCookie": {
                "Name": "session", "Value": self.session_cookie, "Quoted": False, "Path": "", "Domain": "",
                "Expires": "0001-01-01T00:00:00Z", "RawExpires": "", "MaxAge": 0, "Secure": False,
                "HttpOnly": False, "SameSite": 0, "Partitioned": False, "Raw": "", "Unparsed": None,
            },
            "Dir": dir or self.config_dir,
            "PluginDir": plugin_dir,
        }

    # -- time ------------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(int(self._clock()), self._tz)

    def _format(self, when: dt.datetime) -> str:
        text = when.astimezone(self._tz).replace(microsecond=0).isoformat()
        return text[:-6] + "Z" if self._zulu else text

    def _touch(self, scene: _Scene, explicit: Optional[str] = None) -> None:
        if explicit is not None:
            scene.updated_at, scene.updated_dt = explicit, _parse_stamp(explicit)
            return
        now = self._now()
        if scene.updated_dt is not None and now < scene.updated_dt + dt.timedelta(seconds=1):
            now = scene.updated_dt + dt.timedelta(seconds=1)
        scene.updated_dt, scene.updated_at = now, self._format(now)

    # -- objects ---------------------------------------------------------------------------

    def _new_id(self, kind: str) -> int:
        self._next_ids[kind] = self._next_ids.get(kind, 0) + 1
        return self._next_ids[kind]

    def add_performer(self, name: str, gender: Optional[str] = None,
                      disambiguation: Optional[str] = None, image: Optional[bytes] = None) -> int:
        """Create a performer (``image``: its bytes; none serves Stash's placeholder); returns its id."""
        with self._lock:
            pid = self._new_id("performer")
            self._performers[pid] = {"id": pid, "name": name, "gender": gender, "image": image,
                                     "disambiguation": disambiguation, "t": int(self._clock())}
            return pid

    def add_studio(self, name: str, parent: Optional[Any] = None, details: Optional[str] = None,
                   image: Optional[bytes] = None) -> int:
        """Create a studio (``parent``: a studio id or name; ``image``: its logo's bytes); returns its id."""
        with self._lock:
            parent_id = self._ref(self._studios, parent, self.add_studio) if parent is not None else None
            sid = self._new_id("studio")
            self._studios[sid] = {"id": sid, "name": name, "parent": parent_id, "details": details, "image": image,
                                  "t": int(self._clock())}
            return sid

    def add_tag(self, name: str, parents: Optional[list] = None) -> int:
        """Create a tag (``parents``: tag ids or names); returns its id."""
        with self._lock:
            tid = self._new_id("tag")
            self._tags[tid] = {"id": tid, "name": name, "parents": []}
            if parents:
                self.set_tag_parents(tid, parents)
            return tid

    def _ref(self, table: dict, value: Any, create: Callable[[str], int]) -> int:
        """An id given as int (must exist) or a name (found, or created)."""
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise TypeError(f"expected an id or a name, got {value!r}")
        if isinstance(value, int):
            if value not in table:
                raise KeyError(f"no object with id {value}")
            return value
        for obj in table.values():
            if obj["name"] == value:
                return obj["id"]
        return create(value)

    def rename_performer(self, pid: int, new: str) -> None:
        """Rename a performer; like Stash, the scenes' ``updated_at`` is untouched."""
        with self._lock:
            self._performers[pid]["name"] = new

    def rename_studio(self, sid: int, new: str) -> None:
        """Rename a studio; scenes are untouched."""
        with self._lock:
            self._studios[sid]["name"] = new

    def rename_tag(self, tid: int, new: str) -> None:
        """Rename a tag; scenes are untouched."""
        with self._lock:
            self._tags[tid]["name"] = new

    def destroy_tag(self, tid: int) -> None:
        """Delete a tag; like Stash (a foreign-key cascade), its scenes lose it without an updated_at bump."""
        with self._lock:
            del self._tags[tid]
            for scene in self._scenes.values():
                scene.tags = [t for t in scene.tags if t != tid]

    def destroy_performer(self, pid: int) -> None:
        """Delete a performer; its scenes lose it without an updated_at bump."""
        with self._lock:
            del self._performers[pid]
            for scene in self._scenes.values():
                scene.performers = [p for p in scene.performers if p != pid]

    # -- scenes ----------------------------------------------------------------------------

    def add_scene(self, title: Optional[str] = "T", **values: Any) -> int:
        """Create a scene from the keyword fields documented on :meth:`update_scene`; returns its id."""
        with self._lock:
            scene = _Scene(id=self._new_id("scene"))
            now = self._format(self._now())
            scene.created_at = values.pop("created_at", None) or now
            values.setdefault("files", [(f"/data/videos/scene{scene.id}.mp4", 1234)])
            self._apply(scene, dict(values, title=title))
            self._touch(scene, values.get("updated_at") or scene.created_at)
            self._scenes[scene.id] = scene
            return scene.id

    def update_scene(self, scene_id: int, **changes: Any) -> None:
        """Change a scene and bump ``updated_at`` (strictly later than before, by at least 1 s).

        Keys: title, details, date, code, director, urls, rating100, organized, studio (id or name),
        performers / tags (ids or names), groups (ids, names or (group, scene_index) pairs),
        files ([(path, size)] or dicts), stash_ids, and updated_at/created_at to set them verbatim.
        """
        with self._lock:
            scene = self._scene_rec(scene_id)
            if "created_at" in changes:
                scene.created_at = changes.pop("created_at")
            self._apply(scene, changes)
            self._touch(scene, changes.get("updated_at"))

    def _scene_rec(self, scene_id: Any) -> _Scene:
        scene = self._scenes.get(int(scene_id))
        if scene is None:
            raise KeyError(f"scene {scene_id} not found")
        return scene

    def _apply(self, scene: _Scene, values: dict) -> None:
        unknown = set(values) - _SCENE_KEYS
        if unknown:
            raise TypeError(f"unknown scene field(s): {', '.join(sorted(unknown))}")
        for key in ("title", "details", "date", "code", "director", "rating100"):
            if key in values:
                setattr(scene, key, values[key])
        if "organized" in values:
            scene.organized = bool(values["organized"])
        if "urls" in values:
            scene.urls = list(values["urls"] or [])
        if "stash_ids" in values:
            scene.stash_ids = [dict(s) for s in values["stash_ids"] or []]
        self._apply_relations(scene, values)

    def _apply_relations(self, scene: _Scene, values: dict) -> None:
        if "studio" in values:
            studio = values["studio"]
            scene.studio = None if studio is None else self._ref(self._studios, studio, self.add_studio)
        if "performers" in values:
            scene.performers = [self._ref(self._performers, p, self.add_performer) for p in values["performers"] or []]
        if "tags" in values:
            scene.tags = [self._ref(self._tags, t, self.add_tag) for t in values["tags"] or []]
        if "groups" in values:
            scene.groups = [self._group_entry(g) for g in values["groups"] or []]
        if "files" in values:
            scene.files = [self._file(f) for f in values["files"] or []]

    def _group_entry(self, entry: Any) -> tuple:
        group, index = entry if isinstance(entry, (tuple, list)) else (entry, None)
        return self._ref(self._groups, group, self.add_group), index

    def _file(self, spec: Any) -> dict:
        if isinstance(spec, (tuple, list)):
            spec = {"path": spec[0], "size": spec[1] if len(spec) > 1 else 0}
        path = spec["path"]
        defaults = {"id": str(self._new_id("file")), "path": path, "basename": path.replace("\\", "/").rsplit("/", 1)[-1],
                    "size": 0, "duration": 600.0, "width": 1920, "height": 1080, "video_codec": "h264",
                    "audio_codec": "aac", "frame_rate": 29.97, "bit_rate": 5_000_000, "format": "mp4"}
        unknown = set(spec) - set(defaults)
        if unknown:
            raise TypeError(f"unknown file field(s): {', '.join(sorted(unknown))}")
        return {**defaults, **spec}

    def destroy_scene(self, scene_id: int, delete_file: Optional[bool] = None,
                      delete_generated: Optional[bool] = None) -> dict:
        """Remove a scene; return the Scene.Destroy.Post hook input Stash would send (§3.3)."""
        with self._lock:
            scene = self._scenes.pop(int(scene_id))
            path = scene.files[0]["path"] if scene.files else ""
            return {"id": str(scene.id), "delete_file": delete_file, "delete_generated": delete_generated,
                    "checksum": "", "oshash": _oshash(path) if path else "", "path": path}

    def scene(self, scene_id: int) -> Optional[dict]:
        """The scene in the SyncScene fragment shape (protocol §5.1), or None."""
        extra = ("groups { group { id name } scene_index }" if self.supports_groups
                 else "movies { movie { id name } scene_index }")
        response = self.graphql(_SYNC_SCENE % extra, {"id": str(scene_id)})
        if "errors" in response:
            raise RuntimeError(f"fake Stash could not read scene {scene_id}: {response['errors']}")
        return response["data"]["findScene"]

    def activity(self, scene_id: int) -> dict:
        """The scene's play history (UTC, newest first), ``play_count``, ``last_played_at``, ``resume_time``,
        ``play_duration`` and ``rating100``, read through GraphQL as a client would."""
        response = self.graphql(_ACTIVITY, {"id": str(scene_id)})
        if "errors" in response:
            raise RuntimeError(f"fake Stash could not read scene {scene_id}: {response['errors']}")
        return response["data"]["findScene"]

    def add_plays(self, scene_id: int, times: list) -> None:
        """Plays recorded by Stash itself (its player), at ``times`` (unix seconds); ``updated_at`` stays."""
        with self._lock:
            scene = self._scene_rec(scene_id)
            scene.plays.extend(dt.datetime.fromtimestamp(int(t), dt.timezone.utc) for t in times)

    def save_activity(self, scene_id: int, resume_time: float) -> None:
        """Stash's player stopped at ``resume_time`` seconds (``sceneSaveActivity``)."""
        with self._lock:
            self._scene_rec(scene_id).resume_time = float(resume_time)

    def scene_ids(self) -> list:
        """All scene ids in insertion order."""
        with self._lock:
            return list(self._scenes)

    def screenshot_bytes(self, scene_id: int) -> bytes:
        """The bytes GET /scene/<id>/screenshot serves (deterministic unless set_screenshot was used)."""
        with self._lock:
            scene = self._scene_rec(scene_id)
            if scene.screenshot is not None:
                return scene.screenshot
            return b"\xff\xd8\xff\xe0FAKE-STASH-SCREENSHOT scene=%d\xff\xd9" % scene.id

    def set_screenshot(self, scene_id: int, data: bytes) -> None:
        """Replace a scene's screenshot and bump ``updated_at`` (as a cover change does)."""
        with self._lock:
            scene = self._scene_rec(scene_id)
            scene.screenshot = bytes(data)
            self._touch(scene)

    # -- settings --------------------------------------------------------------------------

    def set_plugin_settings(self, plugin_id: str, values: dict) -> None:
        """Replace a plugin's whole settings map (what configurePlugin does)."""
        with self._lock:
            self._settings[plugin_id] = json.loads(json.dumps(values))

    def plugin_settings(self, plugin_id: str) -> Optional[dict]:
        """A plugin's saved settings, or None if never saved."""
        with self._lock:
            saved = self._settings.get(plugin_id)
            return None if saved is None else dict(saved)

    # -- faults and the request log --------------------------------------------------------

    def add_fault(self, status: int = 502, times: int = 1, operation: Optional[str] = None,
                  drop: bool = False, path: Optional[str] = None) -> None:
        """Make the next ``times`` matching requests answer ``status`` (or, with drop, close the socket)."""
        with self._lock:
            self._faults.append(_Fault(status, times, operation, path, drop))

    def _take_fault(self, operation: Optional[str], path: str) -> Optional[_Fault]:
        with self._lock:
            for fault in self._faults:
                if (fault.operation is None or fault.operation == operation) and \
                        (fault.path is None or fault.path == path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    @property
    def requests(self) -> list:
        """A copy of the request log (:class:`RequestRecord`)."""
        with self._lock:
            return list(self._requests)

    def count(self, operation: Optional[str] = None, path: Optional[str] = None) -> int:
        """How many logged requests match the GraphQL operation name and/or URL path."""
        return sum(1 for r in self.requests
                   if (operation is None or r.operation_name == operation) and (path is None or r.path == path))

    def reset_log(self) -> None:
        """Forget logged requests."""
        with self._lock:
            self._requests.clear()

    # -- GraphQL ---------------------------------------------------------------------------

    def graphql(self, query: str, variables: Optional[dict] = None, operation_name: Optional[str] = None,
                base: Optional[str] = None) -> dict:
        """Run a GraphQL request in-process (no HTTP, no auth); returns the response dict."""
        return self._execute(query, variables, operation_name, base or self._default_base())[1]

    def _default_base(self) -> str:
        return self.url if self._server is not None else "http://127.0.0.1:9999"

    def _execute(self, query: str, variables: Optional[dict], operation_name: Optional[str],
                 base: str) -> tuple:
        return self._endpoint.answer(query, variables, operation_name, _Request(base))

    def resolver(self, type_name: str, field_name: str) -> Optional[Callable[[Any, dict, Any], Any]]:
        """The resolver answering ``type_name.field_name`` now (to wrap it with :meth:`add_resolver`)."""
        return self._resolvers.get((type_name, field_name))

    def add_resolver(self, type_name: str, field_name: str, resolver: Callable[[Any, dict, Any], Any]) -> None:
        """Resolve ``type_name.field_name`` with ``resolver(parent, args, request)``, for behaviour that lives
        outside the fake (e.g. ``runPluginOperation`` handing the call to a Stash host); it wins over a method."""
        self._resolvers[(type_name, field_name)] = resolver

    def _resolve_field(self, parent: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        """graphql-core's field resolver: a marked method, else the view's key, else an error naming the field."""
        where = (info.parent_type.name, info.field_name)
        resolver = self._resolvers.get(where)
        if resolver is not None:
            return resolver(parent, args, info.context)
        if isinstance(parent, dict) and info.field_name in parent:
            return parent[info.field_name]
        raise GraphQLError(f"the fake Stash does not implement {where[0]}.{where[1]} "
                           "(add it: see plexsync/sandbox/fake_stash.py)")

    # -- resolvers: Query -------------------------------------------------------------------

    @resolves("Query", "findScene")
    def _find_scene(self, parent: None, args: dict, request: _Request) -> Optional[dict]:
        with self._lock:
            scene = self._scenes.get(_int_id(args.get("id")))
            return self._scene_view(scene, request.base) if scene else None

    @resolves("Query", "findScenes")
    def _find_scenes(self, parent: None, args: dict, request: _Request) -> dict:
        with self._lock:
            if args.get("ids") is not None or args.get("scene_ids") is not None:
                scenes = self._by_ids([int(i) for i in (args.get("ids") or args.get("scene_ids") or [])])
                page = scenes
            else:
                scenes = self._filtered(args.get("scene_filter") or {})
                scenes = _search(scenes, (args.get("filter") or {}).get("q"))
                scenes = self._sorted(scenes, args.get("filter") or {})
                page = _page(scenes, args.get("filter") or {})
            return {"count": len(scenes), "scenes": [self._scene_view(s, request.base) for s in page],
                    "duration": sum(s.files[0]["duration"] for s in scenes if s.files),
                    "filesize": float(sum(s.files[0]["size"] for s in scenes if s.files))}

    @resolves("Query", "findPerformer")
    def _find_performer(self, parent: None, args: dict, request: _Request) -> Optional[dict]:
        with self._lock:
            pid = _int_id(args["id"])
            return self._performer_view(pid, request.base) if pid in self._performers else None

    @resolves("Query", "findStudio")
    def _find_studio(self, parent: None, args: dict, request: _Request) -> Optional[dict]:
        with self._lock:
            sid = _int_id(args["id"])
            return self._studio_view(sid, request.base) if sid in self._studios else None

    @resolves("Query", "findTag")
    def _find_tag(self, parent: None, args: dict, request: _Request) -> Optional[dict]:
        with self._lock:
            tid = _int_id(args["id"])
            return self._tag_view(tid) if tid in self._tags else None

    @resolves("Query", "version")
    def _version(self, parent: None, args: dict, request: _Request) -> dict:
        return {"version": self.version, "hash": "f4k3574sh", "build_time": "2025-01-01 00:00:00"}

    @resolves("Query", "configuration")
    def _configuration(self, parent: None, args: dict, request: _Request) -> dict:
        return {"general": {"apiKey": self.api_key, "username": self.username}}

    @resolves("ConfigResult", "plugins")
    def _plugins_config(self, parent: dict, args: dict, request: _Request) -> dict:
        with self._lock:
            include = args.get("include")
            return {pid: dict(values) for pid, values in self._settings.items()
                    if include is None or pid in include}

    @resolves("Studio", "parent_studio")
    def _parent_studio(self, parent: dict, args: dict, request: _Request) -> Optional[dict]:
        with self._lock:
            return self._studio_view(self._studios[int(parent["id"])]["parent"], request.base)

    @resolves("Studio", "child_studios")
    def _child_studios(self, parent: dict, args: dict, request: _Request) -> list:
        with self._lock:
            sid = int(parent["id"])
            return [self._studio_view(c, request.base) for c, s in self._studios.items() if s["parent"] == sid]

    # -- resolvers: Mutation ----------------------------------------------------------------

    @resolves("Mutation", "configurePlugin")
    def _configure_plugin(self, parent: None, args: dict, request: _Request) -> dict:
        self.set_plugin_settings(args["plugin_id"], args["input"])
        return self.plugin_settings(args["plugin_id"]) or {}

    @resolves("Mutation", "sceneUpdate")
    def _scene_update(self, parent: None, args: dict, request: _Request) -> dict:
        data = args["input"]
        with self._lock:
            scene = self._scenes.get(_int_id(data["id"]))
            if scene is None:
                raise GraphQLError(f"scene with id {data['id']} not found")
            changes = _scene_input_changes(data)
            if data.get("cover_image"):
                scene.screenshot = _decode_image(data["cover_image"])
            self.update_scene(scene.id, **changes)
            return self._scene_view(scene, request.base)

    @resolves("Mutation", "sceneAddPlay")
    def _scene_add_play(self, parent: None, args: dict, request: _Request) -> dict:
        """``pkg/sqlite/table.go`` ``addDates``: each time (now when none is given) stored in UTC to the second;
        answers the new count and the whole history. No hook fires and ``updated_at`` stays."""
        with self._lock:
            scene = self._scene_or_error(args["id"])
            times = [self._timestamp(text) for text in args.get("times") or []] or [self._now()]
            scene.plays.extend(t.astimezone(dt.timezone.utc).replace(microsecond=0) for t in times)
            view = self._activity_view(scene)
            return {"count": view["play_count"], "history": view["play_history"]}

    @resolves("Mutation", "sceneSaveActivity")
    def _scene_save_activity(self, parent: None, args: dict, request: _Request) -> bool:
        """``pkg/sqlite/scene.go`` ``SaveActivity``: sets ``resume_time`` if given, adds ``playDuration`` if given;
        no hook, no ``updated_at``."""
        with self._lock:
            scene = self._scene_or_error(args["id"])
            if args.get("resume_time") is not None:
                scene.resume_time = float(args["resume_time"])
            if args.get("playDuration") is not None:
                scene.play_duration += float(args["playDuration"])
            return True

    def _scene_or_error(self, scene_id: Any) -> _Scene:
        scene = self._scenes.get(_int_id(scene_id))
        if scene is None:
            raise GraphQLError(f"scene with id {scene_id} not found")
        return scene

    def _timestamp(self, text: Any) -> dt.datetime:
        """Stash's ``Timestamp`` input (``internal/api/timestamp.go``): RFC3339, or ``<4h``/``>5m`` from now."""
        if isinstance(text, str) and text[:1] in ("<", ">"):
            match = re.fullmatch(r"(\d+)([smh])", text[1:])
            if match is None:
                raise GraphQLError(f"cannot parse Timestamp: cannot parse {text[0]}-duration")
            delta = dt.timedelta(seconds=int(match[1]) * {"s": 1, "m": 60, "h": 3600}[match[2]])
            return self._now() - delta if text[0] == "<" else self._now() + delta
        try:
            parsed = _parse_stamp(str(text))
        except ValueError:
            raise GraphQLError(f"cannot parse Timestamp: {text!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=self._tz)

    # -- views: objects as the dicts their fields are read from ------------------------------

    def _scene_view(self, scene: _Scene, base: str) -> dict:
        index = [{"group": self._group_view(g, base), "scene_index": i} for g, i in scene.groups]
        return {
            "id": str(scene.id), "title": scene.title, "code": scene.code, "details": scene.details,
            "director": scene.director, "urls": list(scene.urls), "url": scene.urls[0] if scene.urls else None,
            "date": scene.date, "rating100": scene.rating100, "organized": scene.organized, "o_counter": 0,
            "interactive": False, **self._activity_view(scene), "created_at": scene.created_at,
            "updated_at": scene.updated_at, "studio": self._studio_view(scene.studio, base),
            "performers": [self._performer_view(p, base) for p in scene.performers],
            "tags": [self._tag_view(t) for t in scene.tags],
            "groups": index, "movies": [{"movie": e["group"], "scene_index": e["scene_index"]} for e in index],
            "files": [dict(f) for f in scene.files], "paths": self._paths(scene, base),
            "stash_ids": [dict({"updated_at": scene.updated_at}, **s) for s in scene.stash_ids],
        }

    @staticmethod
    def _activity_view(scene: _Scene) -> dict:
        """Play history as Stash answers it: UTC times newest first (``GetManyViewDates`` orders by date
        DESC), ``last_played_at`` the newest, ``play_count`` their number; resume time and play duration."""
        history = [_utc_text(t) for t in sorted(scene.plays, reverse=True)]
        return {"play_history": history, "play_count": len(history), "last_played_at": history[0] if history else None,
                "resume_time": scene.resume_time, "play_duration": scene.play_duration}

    def _paths(self, scene: _Scene, base: str) -> dict:
        prefix = f"{base}/scene/{scene.id}"
        stream = f"{prefix}/stream" + (f"?apikey={self.api_key}" if self.api_key else "")
        return {"screenshot": f"{prefix}/screenshot?t={int(scene.updated_dt.timestamp())}",
                "preview": f"{prefix}/preview", "stream": stream, "webp": f"{prefix}/webp",
                "vtt": f"{prefix}/vtt/chapter", "sprite": f"{prefix}_sprite.jpg",
                "funscript": f"{prefix}/funscript", "interactive_heatmap": f"{prefix}/interactive_heatmap",
                "caption": f"{prefix}/caption"}

    def _studio_view(self, sid: Optional[int], base: str) -> Optional[dict]:
        if sid is None:
            return None
        studio = self._studios[sid]
        return {"id": str(sid), "name": studio["name"], "details": studio.get("details"),
                "image_path": self._image_url(base, f"studio/{sid}/image", studio)}

    def _performer_view(self, pid: int, base: str) -> dict:
        p = self._performers[pid]
        return {"id": str(pid), "name": p["name"], "disambiguation": p["disambiguation"], "gender": p["gender"],
                "image_path": self._image_url(base, f"performer/{pid}/image", p), "alias_list": []}

    def _tag_view(self, tid: int) -> dict:
        return {"id": str(tid), "name": self._tags[tid]["name"], "description": None, "aliases": []}

    # -- findScenes ------------------------------------------------------------------------

    def _by_ids(self, ids: list) -> list:
        for sid in ids:
            if sid not in self._scenes:
                raise GraphQLError(f"scene with id {sid} not found")
        return [self._scenes[sid] for sid in ids]

    def _filtered(self, scene_filter: dict) -> list:
        unknown = sorted(set(scene_filter) - _FILTERS)
        if unknown:  # the release schemas accept many more criteria than the fake implements
            raise GraphQLError(f"the fake Stash does not implement scene_filter.{unknown[0]}")
        return [s for s in self._scenes.values()
                if all(self._matches(s, key, crit) for key, crit in scene_filter.items() if crit is not None)]

    def _matches(self, scene: _Scene, key: str, crit: Any) -> bool:
        if key == "organized":
            return scene.organized == crit
        if key in ("updated_at", "created_at"):
            bound = self._format(self._now() + dt.timedelta(days=1))
            return _compare(getattr(scene, key), crit, bound, key)
        if key in ("id", "rating100"):
            return _compare(getattr(scene, key), crit, None, key)
        if key == "title":
            return _string_match(scene.title, crit)
        if key == "studios":
            have = {scene.studio} if scene.studio else set()
            return _multi_match(have, crit, lambda ids: self._studio_tree(ids, crit.get("depth")))
        if key in ("movies", "groups"):
            return _multi_match({g for g, _ in scene.groups}, crit, None)
        return _multi_match(set(getattr(scene, key)), crit, None)  # performers, tags

    def _studio_tree(self, ids: set, depth: Optional[int]) -> set:
        out, frontier, level = set(ids), set(ids), 0
        while frontier and depth not in (None, 0) and (depth < 0 or level < depth):
            frontier = {sid for sid, s in self._studios.items() if s["parent"] in frontier} - out
            out |= frontier
            level += 1
        return out

    def _sorted(self, scenes: list, find_filter: dict) -> list:
        sort = find_filter.get("sort")
        if not sort:
            return list(scenes)  # no ORDER BY at all in Stash; insertion order here
        if sort not in _SORTS and not re.fullmatch(r"random_\d+", sort):
            if sort.startswith("random_"):
                raise GraphQLError(f"invalid random seed: {sort[len('random_'):]}")
            raise GraphQLError(f"invalid sort: {sort}")
        desc = find_filter.get("direction") == "DESC"
        if sort == "id":  # ids are unique: the title tiebreak can never decide (and costs O(n) regexes per page)
            return sorted(scenes, key=lambda s: s.id, reverse=desc)
        scenes = sorted(scenes, key=lambda s: (_natural(s.title if s.title is not None else str(s.id)), s.id))
        return sorted(scenes, key=lambda s: _nullable(self._sort_value(s, sort)), reverse=desc)

    def _sort_value(self, scene: _Scene, sort: str) -> Any:
        first = scene.files[0] if scene.files else {}
        if sort.startswith("random"):
            return random.Random(f"{sort}:{scene.id}").random()
        values = {
            "id": scene.id, "title": _natural(scene.title or first.get("basename", "")), "date": scene.date,
            "created_at": scene.created_at, "updated_at": scene.updated_at, "code": scene.code,
            "path": _natural(first.get("path", "")), "rating": scene.rating100, "organized": scene.organized,
            "filesize": first.get("size"), "duration": first.get("duration"), "bitrate": first.get("bit_rate"),
            "framerate": first.get("frame_rate"), "tag_count": len(scene.tags),
            "performer_count": len(scene.performers), "file_count": len(scene.files),
            "studio": self._studios[scene.studio]["name"] if scene.studio else None,
        }
        return values.get(sort, 0)  # other whitelisted sorts: all equal, so the tiebreak decides

    # -- HTTP ------------------------------------------------------------------------------

    def _handle(self, handler: "_Handler", method: str) -> None:
        arrived = time.time()
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        url = urllib.parse.urlsplit(handler.path)
        payload = _json_body(body) if url.path == "/graphql" and method == "POST" else None
        op_name = _operation_name(payload)
        if self.latency:
            time.sleep(self.latency)
        fault = self._take_fault(op_name, url.path)
        if fault is not None and fault.drop:
            self._log(handler, method, url, payload, op_name, None, arrived)
            _drop(handler)
            return
        status, ctype, data, headers = (fault.status, "text/plain", b"fake fault\n", {}) if fault \
            else self._route(handler, method, url, body, payload)
        self._log(handler, method, url, payload, op_name, status, arrived)  # before the client can read it
        _send(handler, status, ctype, data, headers)

    def _log(self, handler: "_Handler", method: str, url: urllib.parse.SplitResult, payload: Any,
             op_name: Optional[str], status: Optional[int], arrived: float) -> None:
        payload = payload if isinstance(payload, dict) else {}
        record = RequestRecord(method, url.path, op_name, payload.get("variables"), dict(handler.headers),
                               status, arrived, url.query, payload.get("query"))
        with self._lock:
            self._requests.append(record)

    def _route(self, handler: "_Handler", method: str, url: urllib.parse.SplitResult, body: bytes,
               payload: Any) -> tuple:
        authorized, headers = self._authenticate(handler, url)
        if not authorized:
            return 401, "text/plain", b"Unauthorized\n", {}
        if url.path == "/graphql":
            return self._graphql_http(handler, method, body, payload) + (headers,)
        match = re.fullmatch(r"/(scene|performer|studio)/(\d+)/(screenshot|preview|stream|webp|image)", url.path)
        cover = re.fullmatch(r"/(group|movie)/(\d+)/frontimage", url.path)
        if method == "GET" and cover is not None:
            data = self._object_image(cover[1], int(cover[2]))
            return (200, "image/jpeg", data, headers) if data else (404, "text/plain", b"404 page not found\n", headers)
        if method != "GET" or match is None:
            return 404, "text/plain", b"404 page not found\n", headers
        return self._media(*match.groups()) + (headers,)

    def _graphql_http(self, handler: "_Handler", method: str, body: bytes, payload: Any) -> tuple:
        ctype = handler.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if method != "POST" or ctype != "application/json":
            return 400, "application/json", _dumps({"errors": [{"message": "transport not supported"}], "data": None})
        if not isinstance(payload, dict):
            message = "json body could not be decoded: invalid request body"
            return 400, "application/json", _dumps({"errors": [{"message": message}], "data": None})
        if not _decodable(payload):
            message = "json body could not be decoded: query and operationName must be strings, variables an object"
            return 400, "application/json", _dumps({"errors": [{"message": message}], "data": None})
        base = "http://" + (handler.headers.get("Host") or f"127.0.0.1:{self.port}")
        status, response = self._execute(payload.get("query") or "", payload.get("variables"),
                                         payload.get("operationName") or None, base)
        return status, "application/json", _dumps(response)

    def _media(self, kind: str, object_id: str, what: str) -> tuple:
        oid = int(object_id)
        with self._lock:
            table = {"scene": self._scenes, "performer": self._performers, "studio": self._studios}[kind]
            if oid not in table or (kind == "scene") == (what == "image"):
                return 404, "text/plain", b"404 page not found\n"
        if what in ("screenshot", "webp"):
            return 200, "image/jpeg", self.screenshot_bytes(oid)
        if what == "image":
            return 200, "image/jpeg", self._object_image(kind, oid)
        return 200, "video/mp4", b"\x00\x00\x00\x18ftypmp42FAKE-STASH-%s scene=%d" % (what.upper().encode(), oid)

    def _authenticate(self, handler: "_Handler", url: urllib.parse.SplitResult) -> tuple:
        """pkg/session/session.go: an ApiKey (header, else ?apikey=) must match; else the cookie decides."""
        key = handler.headers.get("ApiKey") or urllib.parse.parse_qs(url.query).get("apikey", [""])[0]
        if key:
            return bool(self.api_key) and hmac.compare_digest(key, self.api_key), {}
        cookie = _session_cookie(handler.headers.get_all("Cookie") or [])
        with self._lock:
            valid = cookie is not None and cookie in self._cookies
            if valid and self.refresh_cookies:
                self._cookies.append(self._mint_cookie())
                return True, {"Set-Cookie": f"session={self._cookies[-1]}; Path=/"}
        return valid or not self.require_auth, {}


def _default_version(schema_dir: Optional[Path]) -> str:
    """A release folder's name when it is a tagged release, else the newest release this project knows."""
    if schema_dir is not None and stash_schema.release_version(schema_dir):
        return schema_dir.name
    return "v0.30.1"


def _bound_resolvers(stash: "FakeStash") -> dict:
    """``{(type, field): bound method}`` for every method marked with :func:`resolves`."""
    found = {}
    for klass in reversed(type(stash).__mro__):
        for member in vars(klass).values():
            where = getattr(member, "resolves", None)
            if where is not None:
                found[where] = member.__get__(stash)
    return found


def _int_id(value: Any) -> Optional[int]:
    """An ID argument as Stash's integer key; None when it is not one (Stash then finds nothing)."""
    text = str(value) if value is not None else ""
    return int(text) if text.isdigit() else None


def _scene_input_changes(data: dict) -> dict:
    changes = {k: data[k] for k in ("title", "code", "details", "director", "urls", "date", "rating100",
                                    "organized", "stash_ids") if k in data}
    if "url" in data and "urls" not in data:
        changes["urls"] = [data["url"]] if data["url"] else []
    renames = {"studio_id": "studio", "performer_ids": "performers", "tag_ids": "tags"}
    for key, target in renames.items():
        if key in data:
            value = data[key]
            changes[target] = (int(value) if value else None) if key == "studio_id" else [int(v) for v in value or []]
    if "groups" in data:
        changes["groups"] = [(int(g["group_id"]), g.get("scene_index")) for g in data["groups"] or []]
    elif "movies" in data:
        changes["groups"] = [(int(g["movie_id"]), g.get("scene_index")) for g in data["movies"] or []]
    return changes


def _decode_image(data: str) -> bytes:
    return base64.b64decode(data.split(",", 1)[1] if data.startswith("data:") else data)


def _utc_text(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _oshash(path: str) -> str:
    return hashlib.sha1(path.encode()).hexdigest()[:16]


def _search(scenes: list, q: Optional[str]) -> list:
    """FindFilterType.q, roughly: a case-insensitive substring of title, details, code or a file path."""
    if not q:
        return scenes
    needle = q.lower()
    return [s for s in scenes
            if any(needle in (text or "").lower() for text in [s.title, s.details, s.code] + [f["path"] for f in s.files])]


def _page(scenes: list, find_filter: dict) -> list:
    """models.FindFilterType: page 1-based (<1 means 1), per_page default 25, negative = all."""
    per_page = find_filter.get("per_page")
    per_page = 25 if per_page is None else per_page
    if per_page < 0:
        return scenes
    page = max(find_filter.get("page") or 1, 1)
    return scenes[(page - 1) * per_page:page * per_page]


def _compare(have: Any, crit: dict, default_bound: Any, key: str) -> bool:
    """Int and timestamp criteria; timestamps compare as TEXT, exactly like Stash's SQL."""
    value, value2, mod = crit.get("value"), crit.get("value2"), crit["modifier"]
    if mod in ("BETWEEN", "NOT_BETWEEN"):
        upper = value2 if value2 is not None else default_bound
        inside = have is not None and upper is not None and value <= have <= upper
        return inside if mod == "BETWEEN" else not inside
    checks = {
        "EQUALS": lambda: have == value, "NOT_EQUALS": lambda: have != value,
        "GREATER_THAN": lambda: have is not None and have > value,
        "LESS_THAN": lambda: have is not None and have < value,
        "IS_NULL": lambda: have is None, "NOT_NULL": lambda: have is not None,
    }
    if mod not in checks:
        raise GraphQLError(f"{key}: modifier {mod} is not supported for this criterion")
    return checks[mod]()


def _string_match(have: Optional[str], crit: dict) -> bool:
    value, mod = crit["value"], crit["modifier"]
    text = have or ""
    checks = {
        "EQUALS": lambda: text.lower() == value.lower(), "NOT_EQUALS": lambda: text.lower() != value.lower(),
        "INCLUDES": lambda: value.lower() in text.lower(), "EXCLUDES": lambda: value.lower() not in text.lower(),
        "MATCHES_REGEX": lambda: re.search(value, text) is not None,
        "NOT_MATCHES_REGEX": lambda: re.search(value, text) is None,
        "IS_NULL": lambda: not have, "NOT_NULL": lambda: bool(have),
    }
    if mod not in checks:
        raise GraphQLError(f"title: modifier {mod} is not supported")
    return checks[mod]()


def _multi_match(have: set, crit: dict, expand: Optional[Callable]) -> bool:
    ids = {int(v) for v in crit.get("value") or []}
    excludes = {int(v) for v in crit.get("excludes") or []}
    if expand is not None:
        ids, excludes = expand(ids), expand(excludes)
    if have & excludes:
        return False
    checks = {
        "INCLUDES": lambda: bool(have & ids) or not ids, "INCLUDES_ALL": lambda: ids <= have,
        "EXCLUDES": lambda: not (have & ids), "IS_NULL": lambda: not have, "NOT_NULL": lambda: bool(have),
    }
    mod = crit["modifier"]
    if mod not in checks:
        raise GraphQLError(f"modifier {mod} is not supported for this criterion")
    return checks[mod]()


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _decodable(payload: dict) -> bool:
    """Whether gqlgen's ``graphql.RawParams`` could hold the body (its fields are typed)."""
    return (isinstance(payload.get("query") or "", str) and isinstance(payload.get("operationName") or "", str)
            and isinstance(payload.get("variables") or {}, dict))


def _operation_name(payload: Any) -> Optional[str]:
    """The operationName sent, else the name of the document's first operation."""
    if not isinstance(payload, dict):
        return None
    if payload.get("operationName"):
        return str(payload["operationName"])
    query = payload.get("query")
    match = re.search(r"\b(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)", query if isinstance(query, str) else "")
    return match.group(1) if match else None


def _session_cookie(headers: list) -> Optional[str]:
    for header in headers:
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == "session":
                return value
    return None


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _send(handler: "_Handler", status: int, ctype: str, data: bytes, headers: dict) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(data)))
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def _drop(handler: "_Handler") -> None:
    handler.close_connection = True
    _close_quietly(handler.connection)


def _close_quietly(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Handler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that hands every request to the owning FakeStash."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeStash"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.stash._conns.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.stash._conns.discard(self.connection)  # type: ignore[attr-defined]
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.stash._handle(self, "GET")  # type: ignore[attr-defined]

    def do_POST(self) -> None:  # noqa: N802
        self.server.stash._handle(self, "POST")  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature from http.server)
        """Silenced: tests read ``FakeStash.requests`` instead."""
