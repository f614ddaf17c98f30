"""Runs Stash plugins the way Stash v0.30.1 does, for tests (docs/stash-plugin-protocol.md §1-§3, §7).

Loading: every ``*.yml`` under the plugins folder (recursive, lexical, following symlinks), id =
file stem, decoded strictly like go-yaml's ``UnmarshalStrict`` (``manifest.py``). Spawning:
``exec + execArgs``, ``python``/``python3`` replaced by the host's interpreter with the plugin folder's parent appended to
PYTHONPATH, ``{pluginDir}`` substituted, cwd never the plugin folder. stdin: the PluginInput JSON
encoded byte-for-byte as Go's ``encoding/json`` would, then closed. stdout: read to EOF (so a
grandchild holding the pipe blocks, as in Stash), then decoded by Stash's PluginOutput rules.
stderr: Stash's level-prefix protocol, including the 64 KiB line limit that stops reading.

POSIX only (the stderr reader uses ``select`` on the pipe).
"""

from __future__ import annotations

import base64
import decimal
import json
import math
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from plexsync.sandbox.manifest import ManifestError, load_manifest

__all__ = ["StashHost", "PluginResult", "RunningPlugin", "Plugin", "ManifestError", "HostError",
           "PluginStartError", "GoStruct", "go_json", "load_manifest", "decode_plugin_output",
           "SCENE_UPDATE_KEYS"]

MAX_LOG_LINE = 65535  # bufio.Scanner's 64 KiB token buffer must also hold the "\n"


# --------------------------------------------------------------------------------------------
# Go's encoding/json
# --------------------------------------------------------------------------------------------

class GoStruct(dict):
    """A dict that encodes in insertion order, like a Go struct. Plain dicts encode as Go maps."""


_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f",
               "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_STRING_RE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')


def _go_escape(match: re.Match) -> str:
    ch = match.group()
    if ch in _GO_ESCAPES:
        return _GO_ESCAPES[ch]
    if "\ud800" <= ch <= "\udfff":
        return "\ufffd"  # Go replaces invalid UTF-8 (a lone surrogate here) with U+FFFD
    return "\\u%04x" % ord(ch)


def _go_string(text: str) -> str:
    return '"' + _GO_STRING_RE.sub(_go_escape, text) + '"'


def _go_float(value: float) -> str:
    """encoding/json float64: shortest repr, 'f' format unless |x| < 1e-6 or >= 1e21, e-07 -> e-7."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"json: unsupported value: {value!r}")
    text = repr(value)
    if value != 0 and (abs(value) < 1e-6 or abs(value) >= 1e21):
        mantissa, exponent = text.split("e")
        if exponent.startswith("-0"):
            exponent = "-" + exponent[2:]
        return f"{mantissa.removesuffix('.0')}e{exponent}"
    text = format(decimal.Decimal(text), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _go_encode(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, GoStruct):
        return "{" + ",".join(f"{_go_string(k)}:{_go_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, dict):
        items = sorted(((str(k), v) for k, v in value.items()), key=lambda kv: kv[0].encode("utf-8"))
        return "{" + ",".join(f"{_go_string(k)}:{_go_encode(v)}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_go_encode(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as Go JSON")


def go_json(value: Any) -> bytes:
    """Encode like Go's ``json.Marshal`` (compact, maps sorted bytewise, HTML-safe escapes)."""
    return _go_encode(value).encode("utf-8")


def _as_struct(value: Any) -> Any:
    """Turn nested dicts into GoStructs (for server_connection, which has no maps inside)."""
    if isinstance(value, dict):
        return GoStruct((k, _as_struct(v)) for k, v in value.items())
    return value


# --------------------------------------------------------------------------------------------
# Errors (strict manifest loading itself is manifest.py)
# --------------------------------------------------------------------------------------------

class HostError(LookupError):
    """A request the host cannot serve: unknown plugin or task, or a disabled plugin."""


class PluginStartError(RuntimeError):
    """The plugin process could not be started (Stash skips the remaining hooks of the event)."""


def _walk_yml(root: str) -> list:
    """Every ``*.yml`` below root, in filepath.Walk order (lexical, depth-first), following symlinks."""
    found: list = []
    seen: set = set()

    def visit(folder: str) -> None:
        real = os.path.realpath(folder)
        if real in seen:
            return
        seen.add(real)
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if os.path.isdir(path):
                visit(path)
            elif os.path.splitext(name)[1] == ".yml":
                found.append(path)

    visit(root)
    return found


@dataclass
class Plugin:
    """A loaded plugin: id (the yml stem), the yml path and the decoded config."""

    id: str
    path: str
    config: dict

    @property
    def dir(self) -> str:
        """``{pluginDir}``: the folder holding the yml."""
        return os.path.dirname(self.path)

    @property
    def name(self) -> str:
        """The display name (``name`` key)."""
        return self.config["name"]


# --------------------------------------------------------------------------------------------
# Results: stdout decoding, stderr log protocol
# --------------------------------------------------------------------------------------------

class _Pairs(list):
    """A JSON object as its (key, value) pairs, so duplicate keys stay visible."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


def _plain(value: Any) -> Any:
    if isinstance(value, _Pairs):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def decode_plugin_output(stdout: str) -> tuple:
    """raw.go: json.Unmarshal into {Error *string; Output any}; on failure all of stdout is the output.

    Keys match case-insensitively and the last one wins; top-level null means no error, no output.
    """
    try:
        doc = json.loads(stdout, object_pairs_hook=_Pairs, parse_constant=_reject_constant)
    except ValueError:
        return stdout, None
    if doc is None:
        return None, None
    if not isinstance(doc, _Pairs):
        return stdout, None
    output, error = None, None
    for key, value in doc:
        folded = key.lower()
        if folded == "error":
            if value is not None and not isinstance(value, str):
                return stdout, None
            error = value
        elif folded == "output":
            output = _plain(value)
    return output, error


_SIGNALS = {1: "hangup", 2: "interrupt", 3: "quit", 4: "illegal instruction", 5: "trace/breakpoint trap",
            6: "aborted", 7: "bus error", 8: "floating point exception", 9: "killed",
            10: "user defined signal 1", 11: "segmentation fault", 12: "user defined signal 2",
            13: "broken pipe", 14: "alarm clock", 15: "terminated"}


def exit_status_text(returncode: int) -> str:
    """Go's ``ExitError`` text: ``exit status 1``, ``signal: killed``..."""
    if returncode >= 0:
        return f"exit status {returncode}"
    return f"signal: {_SIGNALS.get(-returncode, f'signal {-returncode}')}"


_LEVELS = {ord("t"): "trace", ord("d"): "debug", ord("i"): "info", ord("w"): "warning", ord("e"): "error",
           ord("p"): "progress", 0: "none"}
_ERRLOG_LEVELS = {"trace", "debug", "info", "warning", "error", "progress", "none"}
_GO_FLOAT_RE = re.compile(r"[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE)


@dataclass
class PluginResult:
    """What Stash got from one plugin run."""

    output: Any = None
    error: Optional[str] = None
    logs: list = field(default_factory=list)        # [(level, message)]
    progress: list = field(default_factory=list)    # floats clamped to 0..1
    returncode: Optional[int] = None
    stdout: str = ""
    stderr_overflow: bool = False
    duration: float = 0.0
    timed_out: bool = False
    started: bool = True
    plugin_id: str = ""
    operation: Optional[str] = None                 # task or hook name (never sent to the plugin)
    argv: list = field(default_factory=list)
    stdin: bytes = b""

    def lines(self, level: Optional[str] = None) -> list:
        """Logged messages, optionally only those at ``level``."""
        return [msg for lvl, msg in self.logs if level is None or lvl == level]


class RunningPlugin:
    """A started plugin process, pumped by reader threads the way Stash's goroutines pump it."""

    def __init__(self, proc: subprocess.Popen, stdin: bytes, err_level: str, info: dict):
        self.proc = proc
        self.pid = proc.pid
        self.info = info
        self.stdin = stdin
        self.err_level = err_level
        self.logs: list = []
        self.progress: list = []
        self.stderr_overflow = False
        self._cond = threading.Condition()
        self._stdout = bytearray()
        self._started = time.monotonic()
        self._ended: Optional[float] = None
        self._exited = threading.Event()
        self._stderr_stop = threading.Event()
        self._result: Optional[PluginResult] = None
        self._threads = [threading.Thread(target=fn, daemon=True, name=f"plugin-{self.pid}-{fn.__name__}")
                         for fn in (self._write_stdin, self._read_stdout, self._read_stderr)]
        for thread in self._threads:
            thread.start()

    # -- pumps --------------------------------------------------------------------------------

    def _write_stdin(self) -> None:
        try:
            self.proc.stdin.write(self.stdin)
            self.proc.stdin.close()
        except OSError:  # the plugin exited without reading: Stash logs a warning and goes on
            _close_quietly(self.proc.stdin)

    def _read_stdout(self) -> None:
        fd = self.proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self._stdout.extend(chunk)
        self.proc.stdout.close()
        self.proc.wait()  # Stash: read stdout to EOF, then cmd.Wait()
        self._ended = time.monotonic()
        self._exited.set()

    def _read_stderr(self) -> None:
        fd = self.proc.stderr.fileno()
        buffer = b""
        stop_at: Optional[float] = None
        while True:
            if self._stderr_stop.is_set() and stop_at is None:
                stop_at = time.monotonic() + 1.0
            readable, _, _ = select.select([fd], [], [], 0 if stop_at else 0.05)
            if not readable:
                if stop_at:
                    break
                continue
            chunk = os.read(fd, 65536)
            if not chunk or (stop_at and time.monotonic() > stop_at):
                break
            buffer = self._consume(buffer + chunk)
            if buffer is None:
                break
        if buffer:
            self._final_line(buffer)
        self.proc.stderr.close()

    def _consume(self, buffer: bytes) -> Optional[bytes]:
        """Handle complete lines; None once a line is too long (Stash stops reading stderr)."""
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                return buffer if len(buffer) <= MAX_LOG_LINE else self._overflow()
            line, buffer = buffer[:end], buffer[end + 1:]
            if len(line) > MAX_LOG_LINE:
                return self._overflow()
            self._line(line[:-1] if line.endswith(b"\r") else line)

    def _final_line(self, buffer: bytes) -> None:
        if len(buffer) > MAX_LOG_LINE:
            self._overflow()
        else:
            self._line(buffer[:-1] if buffer.endswith(b"\r") else buffer)

    def _overflow(self) -> None:
        with self._cond:
            self.stderr_overflow = True
        return None

    def _line(self, raw: bytes) -> None:
        """pkg/logger/plugin.go detectLogLevel + handleStderrLine."""
        if not raw:
            return
        level, message = None, raw.decode("utf-8", "replace")
        if len(raw) >= 4 and raw[0] == 1 and raw[2] == 2 and raw[1] in _LEVELS:
            level, message = _LEVELS[raw[1]], raw[3:].decode("utf-8", "replace").strip()
        level = level or self.err_level
        if level == "none":
            return
        if level == "progress":
            self._progress(message)
            return
        self._log(level, message)

    def _progress(self, text: str) -> None:
        if not _GO_FLOAT_RE.fullmatch(text):
            self._log("error", f"Error parsing progress value '{text}': strconv.ParseFloat: "
                               f"parsing {json.dumps(text)}: invalid syntax")
            return
        with self._cond:
            self.progress.append(min(max(float(text), 0.0), 1.0))
            self._cond.notify_all()

    def _log(self, level: str, message: str) -> None:
        with self._cond:
            self.logs.append((level, message))
            self._cond.notify_all()

    # -- control ------------------------------------------------------------------------------

    def kill(self) -> None:
        """Stop the plugin like Stash does: SIGKILL to the direct child only, no grace period."""
        if self.proc.poll() is None:
            self.proc.kill()

    def running(self) -> bool:
        """True until the process has exited and stdout reached EOF."""
        return not self._exited.is_set()

    def wait_for_progress(self, min_value: float, timeout: float = 10.0) -> bool:
        """Block until a progress value >= min_value arrives (True) or timeout passes (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: any(p >= min_value for p in self.progress), timeout)

    def wait_for_log(self, text: str, timeout: float = 10.0) -> bool:
        """Block until a log message containing ``text`` arrives (True) or timeout passes (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: any(text in msg for _, msg in self.logs), timeout)

    def wait(self, timeout: Optional[float] = None) -> PluginResult:
        """Wait for stdout EOF and exit (raise TimeoutError after ``timeout`` s) and return the result."""
        if self._result is not None:
            return self._result
        if not self._exited.wait(timeout):
            raise TimeoutError(f"plugin pid {self.pid} still running after {timeout} s")
        self._stderr_stop.set()
        self._threads[2].join(timeout=5)
        self._result = self._build(timed_out=False)
        return self._result

    def abandon(self) -> PluginResult:
        """Build a result without waiting for stdout EOF (a grandchild may still hold the pipe)."""
        self._stderr_stop.set()
        self._result = self._build(timed_out=True)
        return self._result

    def _build(self, timed_out: bool) -> PluginResult:
        stdout = bytes(self._stdout).decode("utf-8", "replace")
        output, error = decode_plugin_output(stdout)
        code = self.proc.returncode
        if error is None and code not in (0, None):
            error = exit_status_text(code)
        with self._cond:
            logs, progress, overflow = list(self.logs), list(self.progress), self.stderr_overflow
        ended = self._ended if self._ended is not None else time.monotonic()
        return PluginResult(output=output, error=error, logs=logs, progress=progress, returncode=code,
                            stdout=stdout, stderr_overflow=overflow, duration=ended - self._started,
                            timed_out=timed_out, stdin=self.stdin, **self.info)


def _close_quietly(handle: Any) -> None:
    try:
        handle.close()
    except OSError:
        pass


# --------------------------------------------------------------------------------------------
# The host
# --------------------------------------------------------------------------------------------

SCENE_UPDATE_KEYS = ("clientMutationId", "id", "title", "code", "details", "director", "url", "urls", "date",
                     "rating100", "o_counter", "organized", "studio_id", "gallery_ids", "performer_ids",
                     "movies", "groups", "tag_ids", "cover_image", "stash_ids", "resume_time",
                     "play_duration", "play_count", "primary_file_id")  # pkg/models/scene.go:176-202
_ID_LISTS = ("gallery_ids", "performer_ids", "tag_ids")


class StashHost:
    """Loads plugins from a folder and runs their tasks and hooks against a FakeStash."""

    def __init__(self, plugins_dir: Any, stash: Any, python: str = sys.executable, cwd: Optional[str] = None,
                 env: Optional[dict] = None, strict: bool = True, disabled: Iterable[str] = ()):
        self.plugins_dir = str(plugins_dir)
        self.stash = stash
        self.python = python
        self.env = dict(env or {})
        self.strict = strict
        self.disabled = set(disabled)
        self.cwd = cwd or self._temp_cwd()
        self.plugins: dict = {}
        self.load_errors: list = []
        self.reload()

    def _temp_cwd(self) -> str:
        path = tempfile.mkdtemp(prefix="stash-host-cwd-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, path, True)
        return path

    def close(self) -> None:
        """Remove the temporary working directory, if the host made one."""
        cleanup = getattr(self, "_cleanup", None)
        if cleanup is not None:
            cleanup()

    def __enter__(self) -> "StashHost":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def reload(self) -> None:
        """(Re)load every plugin yml, like Stash at startup and on reloadPlugins.

        A broken yml is skipped and recorded in ``load_errors``; with ``strict`` (default) it raises.
        """
        plugins: dict = {}
        errors: list = []
        for path in _walk_yml(self.plugins_dir):
            plugin_id = os.path.splitext(os.path.basename(path))[0]
            try:
                config = load_manifest(path)
            except ManifestError as exc:
                errors.append(exc)
                continue
            if plugin_id.lower() in {p.lower() for p in plugins}:
                errors.append(ManifestError(f"{path}: plugin ID {plugin_id} already exists"))
                continue
            plugins[plugin_id] = Plugin(plugin_id, path, config)
        self.plugins, self.load_errors = plugins, errors
        if errors and self.strict:
            raise errors[0]

    def set_enabled(self, plugin_id: str, enabled: bool) -> None:
        """Enable or disable a plugin (setPluginsEnabled)."""
        (self.disabled.discard if enabled else self.disabled.add)(plugin_id)

    # -- spawning -----------------------------------------------------------------------------

    def plugin(self, plugin_id: str) -> Plugin:
        """A loaded plugin by id (case-sensitive, like Stash's lookups)."""
        if plugin_id not in self.plugins:
            raise HostError(f"plugin with id {plugin_id} not found")
        return self.plugins[plugin_id]

    def command(self, plugin: Plugin, operation: Optional[dict]) -> tuple:
        """argv and environment per protocol §3.1."""
        cmd = list(plugin.config["exec"]) + list(operation["execArgs"] if operation else [])
        if not cmd:
            raise PluginStartError("empty exec value")
        env = {**os.environ, **self.env}
        if cmd[0] in ("python", "python3"):
            cmd[0] = self.python
            parent = os.path.abspath(os.path.dirname(plugin.dir))
            env["PYTHONPATH"] = f"{env['PYTHONPATH']}{os.pathsep}{parent}" if "PYTHONPATH" in env else parent
        elif shutil.which(cmd[0]) is None:
            cmd[0] = os.path.join(plugin.dir, cmd[0])
        return [cmd[0]] + [arg.replace("{pluginDir}", plugin.dir) for arg in cmd[1:]], env

    def plugin_input(self, plugin: Plugin, args: dict) -> bytes:
        """The exact stdin bytes: Go-encoded PluginInput{server_connection, args}."""
        connection = _as_struct(self.stash.server_connection(plugin.dir))
        return go_json(GoStruct(server_connection=connection, args=args))

    def _spawn(self, plugin: Plugin, operation: Optional[dict], args: dict) -> RunningPlugin:
        argv, env = self.command(plugin, operation)
        stdin = self.plugin_input(plugin, args)
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd=self.cwd, env=env, close_fds=True)
        except OSError as exc:
            raise PluginStartError(f"error running plugin: {exc}") from exc
        err_level = plugin.config["errLog"] if plugin.config["errLog"] in _ERRLOG_LEVELS else "error"
        info = {"plugin_id": plugin.id, "operation": operation["name"] if operation else None, "argv": argv}
        return RunningPlugin(proc, stdin, err_level, info)

    def _finish(self, running: RunningPlugin, timeout: Optional[float]) -> PluginResult:
        try:
            return running.wait(timeout)
        except TimeoutError:
            running.kill()
        try:
            result = running.wait(5.0)
        except TimeoutError:
            return running.abandon()
        result.timed_out = True
        return result

    # -- tasks --------------------------------------------------------------------------------

    def _task(self, plugin: Plugin, task_name: str) -> dict:
        for task in plugin.config["tasks"]:
            if task["name"] == task_name:
                return task
        raise HostError(f"task {task_name} not found in plugin {plugin.id}")

    def start_task(self, plugin_id: str, task_name: Optional[str], args_map: Optional[dict] = None) -> RunningPlugin:
        """Start a task like runPluginTask: args = args_map plus any missing defaultArgs.

        With ``task_name=None`` there is no operation: args only, no execArgs.
        Raises HostError (unknown/disabled) or PluginStartError (could not spawn).
        """
        plugin = self.plugin(plugin_id)
        if plugin_id in self.disabled:
            raise HostError(f"plugin {plugin_id} is disabled")
        task = self._task(plugin, task_name) if task_name is not None else None
        args = {**(task["defaultArgs"] if task else {}), **(args_map or {})}
        return self._spawn(plugin, task, args)

    def run_task(self, plugin_id: str, task_name: Optional[str], args_map: Optional[dict] = None,
                 timeout: Optional[float] = None) -> PluginResult:
        """Run a task to completion (no timeout unless given; on timeout it is SIGKILLed)."""
        try:
            running = self.start_task(plugin_id, task_name, args_map)
        except PluginStartError as exc:
            return PluginResult(error=str(exc), started=False, plugin_id=plugin_id, operation=task_name)
        return self._finish(running, timeout)

    def task_for_mode(self, plugin_id: str, mode: str) -> str:
        """The name of the task whose defaultArgs.mode equals ``mode``."""
        for task in self.plugin(plugin_id).config["tasks"]:
            if task["defaultArgs"].get("mode") == mode:
                return task["name"]
        raise HostError(f"plugin {plugin_id} has no task with defaultArgs.mode == {mode!r}")

    def run_task_by_mode(self, plugin_id: str, mode: str, args_map: Optional[dict] = None,
                         timeout: Optional[float] = None) -> PluginResult:
        """Run the task whose defaultArgs.mode equals ``mode``."""
        return self.run_task(plugin_id, self.task_for_mode(plugin_id, mode), args_map, timeout)

    def run_operation(self, plugin_id: str, args: Optional[dict] = None,
                      timeout: Optional[float] = None) -> PluginResult:
        """runPluginOperation: the args only, no defaultArgs, no execArgs."""
        return self.run_task(plugin_id, None, args, timeout)

    # -- hooks --------------------------------------------------------------------------------

    def hooks_for(self, trigger: str) -> list:
        """(plugin, hook) pairs Stash runs for ``trigger``, in order (a repeated trigger runs twice)."""
        return [(plugin, hook) for plugin in self.plugins.values() if plugin.id not in self.disabled
                for hook in plugin.config["hooks"] for fired in hook["triggeredBy"] if fired == trigger]

    def fire_hooks(self, trigger: str, object_id: int, input: Any = None,  # noqa: A002 (Stash's name)
                   input_fields: Optional[list] = None, timeout: Optional[float] = None) -> list:
        """Run every matching hook sequentially, like executePostHooks; returns their results.

        ``input`` is encoded as given: pass a GoStruct for struct field order. If a hook cannot be
        started, the remaining hooks of the event are skipped (as in Stash).
        """
        context = GoStruct()
        if object_id:
            context["id"] = int(object_id)  # `json:"id,omitempty"`
        context["type"] = trigger
        context["input"] = input
        if input_fields:
            context["inputFields"] = list(input_fields)
        results = []
        for plugin, hook in self.hooks_for(trigger):
            args = {**hook["defaultArgs"], "hookContext": context}
            try:
                running = self._spawn(plugin, hook, args)
            except PluginStartError as exc:
                results.append(PluginResult(error=str(exc), started=False, plugin_id=plugin.id, operation=hook["name"]))
                break
            results.append(self._finish(running, timeout))
        return results

    # -- mutations ----------------------------------------------------------------------------

    def fire_hooks_on_plugin_updates(self) -> None:
        """From now on a ``sceneUpdate`` sent to the fake Stash (by a plugin, say) runs Scene.Update.Post hooks
        before it answers, as Stash does: the input as sent (all 24 SceneUpdateInput keys, unset ones null)
        and inputFields = the keys sent. The hooks' results collect in ``plugin_update_hooks``."""
        update = self.stash.resolver("Mutation", "sceneUpdate")
        self.plugin_update_hooks: list = []

        def resolve(parent: Any, args: dict, request: Any) -> Any:
            result = update(parent, args, request)
            data = args["input"]
            hook_input = GoStruct((key, None) for key in SCENE_UPDATE_KEYS)
            hook_input.update(data)
            self.plugin_update_hooks += self.fire_hooks("Scene.Update.Post", int(data["id"]), hook_input, list(data))
            return result

        self.stash.add_resolver("Mutation", "sceneUpdate", resolve)

    def scene_update(self, scene_id: int, input_fields: Optional[list] = None, timeout: Optional[float] = None,
                     **changes: Any) -> list:
        """sceneUpdate: change the scene, then fire Scene.Update.Post with a full SceneUpdateInput.

        ``changes`` use SceneUpdateInput names (title, tag_ids, studio_id, ...). inputFields defaults
        to the given keys plus "id" (Stash's order is random; pass ``input_fields`` to pin it).
        """
        unknown = set(changes) - set(SCENE_UPDATE_KEYS) - {"id"}
        if unknown:
            raise TypeError(f"not SceneUpdateInput fields: {', '.join(sorted(unknown))}")
        if changes.get("cover_image"):
            self.stash.set_screenshot(scene_id, _decode_cover(changes["cover_image"]))
        self.stash.update_scene(scene_id, **_store_changes(changes))
        update = GoStruct((key, None) for key in SCENE_UPDATE_KEYS)
        update["id"] = str(scene_id)
        for key, value in changes.items():
            update[key] = _input_value(key, value)
        fields = input_fields if input_fields is not None else [*changes, "id"]
        return self.fire_hooks("Scene.Update.Post", scene_id, update, fields, timeout)

    def bulk_scene_update(self, ids: list, tag_ids_add: Optional[list] = None,
                          tag_ids_remove: Optional[list] = None, performer_ids_add: Optional[list] = None,
                          organized: Optional[bool] = None, timeout: Optional[float] = None) -> list:
        """bulkSceneUpdate: update every scene, then one Scene.Update.Post per scene (gqlgen input, nulls omitted)."""
        for scene_id in ids:
            self.stash.update_scene(scene_id, **self._bulk_changes(scene_id, tag_ids_add, tag_ids_remove,
                                                                   performer_ids_add, organized))
        update = GoStruct(ids=[str(i) for i in ids])
        if organized is not None:
            update["organized"] = organized
        if performer_ids_add:
            update["performer_ids"] = GoStruct(ids=[str(i) for i in performer_ids_add], mode="ADD")
        if tag_ids_add or tag_ids_remove:
            mode = "ADD" if tag_ids_add else "REMOVE"
            update["tag_ids"] = GoStruct(ids=[str(i) for i in tag_ids_add or tag_ids_remove], mode=mode)
        results = []
        for scene_id in ids:
            results += self.fire_hooks("Scene.Update.Post", scene_id, update, list(update), timeout)
        return results

    def _bulk_changes(self, scene_id: int, add: Optional[list], remove: Optional[list],
                      performers_add: Optional[list], organized: Optional[bool]) -> dict:
        current = self.stash.scene(scene_id)
        tags = [int(t["id"]) for t in current["tags"]]
        tags += [int(t) for t in add or [] if int(t) not in tags]
        tags = [t for t in tags if t not in {int(r) for r in remove or []}]
        performers = [int(p["id"]) for p in current["performers"]]
        performers += [int(p) for p in performers_add or [] if int(p) not in performers]
        changes: dict = {"tags": tags, "performers": performers}
        if organized is not None:
            changes["organized"] = organized
        return changes

    def scene_create(self, timeout: Optional[float] = None, **scene: Any) -> tuple:
        """sceneCreate (or a scan finding a new file): Scene.Create.Post with input null."""
        scene_id = self.stash.add_scene(**scene)
        return scene_id, self.fire_hooks("Scene.Create.Post", scene_id, None, None, timeout)

    def scene_destroy(self, scene_id: int, delete_file: bool = False, delete_generated: bool = True,
                      timeout: Optional[float] = None) -> list:
        """sceneDestroy: remove the scene, then Scene.Destroy.Post with the destroy input."""
        destroyed = self.stash.destroy_scene(scene_id, delete_file=delete_file, delete_generated=delete_generated)
        return self.fire_hooks("Scene.Destroy.Post", scene_id, GoStruct(destroyed), None, timeout)


def _input_value(key: str, value: Any) -> Any:
    """A SceneUpdateInput value as Stash would re-encode it (ids as strings, nested structs ordered)."""
    if value is None:
        return None
    if key in _ID_LISTS:
        return [str(v) for v in value]
    if key in ("studio_id", "primary_file_id", "id"):
        return str(value)
    if key == "stash_ids":
        return [GoStruct(stash_id=s["stash_id"], endpoint=s["endpoint"], updated_at=s.get("updated_at"))
                for s in value]
    if key in ("groups", "movies"):
        id_key = "group_id" if key == "groups" else "movie_id"
        return [GoStruct([(id_key, str(g[id_key])), ("scene_index", g.get("scene_index"))]) for g in value]
    return value


def _store_changes(changes: dict) -> dict:
    """SceneUpdateInput keys -> FakeStash.update_scene keys (ignoring what the fake does not store)."""
    out = {k: changes[k] for k in ("title", "code", "details", "director", "urls", "date", "rating100",
                                   "organized") if k in changes}
    if "url" in changes and "urls" not in changes:
        out["urls"] = [changes["url"]] if changes["url"] else []
    if "studio_id" in changes:
        out["studio"] = int(changes["studio_id"]) if changes["studio_id"] else None
    if "performer_ids" in changes:
        out["performers"] = [int(v) for v in changes["performer_ids"] or []]
    if "tag_ids" in changes:
        out["tags"] = [int(v) for v in changes["tag_ids"] or []]
    if "groups" in changes:
        out["groups"] = [(int(g["group_id"]), g.get("scene_index")) for g in changes["groups"] or []]
    if "stash_ids" in changes:
        out["stash_ids"] = [{"endpoint": s["endpoint"], "stash_id": s["stash_id"]} for s in changes["stash_ids"] or []]
    return out


def _decode_cover(data: str) -> bytes:
    return base64.b64decode(data.split(",", 1)[1] if data.startswith("data:") else data)
