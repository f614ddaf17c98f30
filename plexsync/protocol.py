"""Stash's raw plugin protocol: what arrives on stdin and the one JSON object answered on stdout.

Source: stash-plugin-protocol.md §3.2-3.5. Stash writes one line of JSON and closes stdin; it parses
all of stdout as one JSON object, so nothing but the final answer may ever be written there.
"""

import json
from typing import Any, NamedTuple, Optional

from plexsync.errors import BadInput


class ServerConnection(NamedTuple):
    """How to reach the Stash that ran us (``server_connection``; Go field names, no JSON tags)."""

    scheme: str = "http"
    host: str = "127.0.0.1"
    port: int = 9999
    session_cookie: str = ""
    dir: str = ""
    plugin_dir: str = ""

    def __repr__(self) -> str:
        return f"ServerConnection({self.base_url}, plugin_dir={self.plugin_dir!r})"  # never the cookie

    @property
    def base_url(self) -> str:
        """URL of Stash: the bind address mapped to one we can connect to (protocol §4.2)."""
        host = self.host.strip()
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host in ("::", "[::]"):
            host = "[::1]"
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{self.scheme or 'http'}://{host}:{self.port}"

    @classmethod
    def from_json(cls, raw: Any) -> "ServerConnection":
        """Build from the ``server_connection`` object; missing keys fall back to Stash's defaults."""
        if not isinstance(raw, dict):
            raise BadInput("server_connection is missing or not an object")
        cookie = raw.get("SessionCookie") or {}
        port = raw.get("Port", 9999)
        if not isinstance(port, int) or isinstance(port, bool):
            raise BadInput("server_connection.Port must be a number")
        return cls(
            scheme=str(raw.get("Scheme") or "http"),
            host=str(raw.get("Host") or ""),
            port=port,
            session_cookie=str(cookie.get("Value") or "") if isinstance(cookie, dict) else "",
            dir=str(raw.get("Dir") or ""),
            plugin_dir=str(raw.get("PluginDir") or ""),
        )

    def to_json(self) -> dict:
        """The subset of Stash's shape PlexSync needs, for handing the connection to the worker."""
        return {
            "Scheme": self.scheme, "Host": self.host, "Port": self.port,
            "SessionCookie": {"Name": "session", "Value": self.session_cookie},
            "Dir": self.dir, "PluginDir": self.plugin_dir,
        }


class PluginInput(NamedTuple):
    """One invocation: the connection to Stash and the ``args`` map."""

    connection: ServerConnection
    args: dict

    @property
    def hook_context(self) -> Optional[dict]:
        """The ``hookContext`` of a hook invocation, or None for a task."""
        value = self.args.get("hookContext")
        return value if isinstance(value, dict) else None

    @property
    def mode(self) -> str:
        """Which operation this is: ``hook`` or a task's ``defaultArgs.mode``."""
        if "hookContext" in self.args:
            return "hook"
        return str(self.args.get("mode") or "").strip()


def parse_input(data: bytes) -> PluginInput:
    """Decode stdin bytes; any unusable input raises BadInput with a one-line reason."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")  # a BOM is tolerated (no utf-8-sig codec import)
    except UnicodeDecodeError as exc:
        raise BadInput(f"plugin input is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise BadInput("plugin input is empty: PlexSync must be run by Stash (or given its JSON on stdin)")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"plugin input is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(payload, dict):
        raise BadInput(f"plugin input must be a JSON object, got {type(payload).__name__}")
    args = payload.get("args")
    if not isinstance(args, dict):
        raise BadInput("plugin input has no 'args' object")
    return PluginInput(ServerConnection.from_json(payload.get("server_connection")), args)


def encode_result(output: Any = None, error: Optional[str] = None) -> str:
    """The one JSON object Stash expects on stdout: ``{"output": ...}`` or ``{"error": "..."}``.

    ASCII-only (non-ASCII escaped), so no console code page on Windows can corrupt it.
    """
    if error is not None:
        return json.dumps({"error": str(error)})
    return json.dumps({"output": output}, default=str)
