"""Stash's web front, for browser tests: the app page, the plugins' JavaScript and CSS, and ``/graphql``.

What a browser gets from Stash (internal/api/server.go, routes_plugin.go), on one loopback origin:

* ``/plugin/{id}/javascript`` and ``/plugin/{id}/css``: the manifest's ``ui.javascript`` / ``ui.css``
  files of a loaded plugin, concatenated with a newline after each and re-read on every request;
  any other ``/plugin/...`` path is a 404, because Stash mounts ``/plugin`` for plugin files (so a
  browser reload of a UI route under ``/plugin/`` gets Stash's 404, not the app);
* ``/graphql`` and the media paths, forwarded to the fake Stash (which answers ``runPluginOperation``
  by running the plugin through the Stash host, see ``plugin_operations``);
* ``/assets/...``: the app's own files (here a stand-in for Stash's UI built from real React 17,
  react-bootstrap 1.6, Apollo Client 3 and react-router 5, see ``tests/ui/``);
* every other path: the app page, with Stash's Content-Security-Policy (``setPageSecurityHeaders``),
  one ``<script>`` per enabled plugin's JavaScript as Stash's plugin loader adds them, and the
  Stash version the app should behave as (``stash_version``: what the plugin API offers differs).
"""

import http.client
import http.server
import mimetypes
import re
import threading
import urllib.parse
from pathlib import Path
from typing import Optional

from plexsync.sandbox.fake_stash import FakeStash
from plexsync.sandbox.stash_host import StashHost

CSP = ("default-src data: 'self' 'unsafe-inline'; connect-src data: 'self' ws: wss:{connect}; img-src data: *; "
       "script-src 'self' http://www.gstatic.com https://www.gstatic.com 'unsafe-inline' 'unsafe-eval'{script}; "
       "style-src 'self' 'unsafe-inline'{style}; media-src blob: 'self'; worker-src blob:; child-src 'none'; "
       "object-src 'none'; form-action 'self';")
FORWARDED = re.compile(r"/graphql|/(scene|performer|studio|tag|group|image)/.*")
PLUGIN_FILES = re.compile(r"/plugin/([^/]+)/(javascript|css)")
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><base href="/"><title>Stash</title>
<link rel="stylesheet" href="assets/bootstrap.min.css"><link rel="stylesheet" href="assets/shell.css">
{css}</head>
<body><div id="root"></div>
<script>window.STASH_SHELL = {{"version": "{version}"}};</script>
<script src="assets/shell.js"></script>
{scripts}
<script>StashShell.start();</script>
</body></html>
"""


class StashWeb:
    """Serves the app page and the plugins' UI files; forwards the API to a fake Stash."""

    def __init__(self, stash: FakeStash, host: StashHost, app_dir: Path, stash_version: str = "v0.30.1") -> None:
        self.stash, self.host, self.app_dir, self.stash_version = stash, host, Path(app_dir), stash_version
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "StashWeb":
        """Bind 127.0.0.1 on a free port and serve in a background thread."""
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.web = self  # type: ignore[attr-defined]
        self._server.handle_error = lambda request, address: None  # a browser leaving mid-answer: not ours to report
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="StashWeb", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "StashWeb":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- answers -------------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: str, headers, body: bytes) -> tuple:
        """(status, headers, body) for one request."""
        if FORWARDED.fullmatch(path):
            return self._forward(method, path, query, headers, body)
        if method != "GET":
            return 405, {"Content-Type": "text/plain"}, b"405 method not allowed\n"
        plugin_files = PLUGIN_FILES.fullmatch(path)
        if plugin_files:
            return self._plugin_files(*plugin_files.groups())
        if path == "/plugin" or path.startswith("/plugin/"):
            return 404, {"Content-Type": "text/plain"}, b"404 page not found\n"
        if path.startswith("/assets/"):
            return self._asset(path[len("/assets/"):])
        return 200, {"Content-Type": "text/html", "Content-Security-Policy": self._csp(),
                     "Cache-Control": "no-cache"}, self._page().encode()

    def _enabled(self) -> list:
        return [p for p in self.host.plugins.values() if p.id not in self.host.disabled]

    def _page(self) -> str:
        plugins = [p for p in self._enabled() if p.config["ui"]]
        scripts = "\n".join(f'<script src="plugin/{p.id}/javascript"></script>' for p in plugins
                            if p.config["ui"]["javascript"])
        css = "\n".join(f'<link rel="stylesheet" href="plugin/{p.id}/css">' for p in plugins if p.config["ui"]["css"])
        return PAGE.format(css=css, scripts=scripts, version=self.stash_version)

    def _csp(self) -> str:
        extra = {"connect": [], "script": [], "style": []}
        for plugin in self._enabled():
            csp = (plugin.config["ui"] or {}).get("csp") or {}
            for key in extra:
                extra[key] += csp.get(f"{key}-src") or []
        return CSP.format(**{key: "".join(" " + value for value in values) for key, values in extra.items()})

    def _plugin_files(self, plugin_id: str, kind: str) -> tuple:
        plugin = self.host.plugins.get(plugin_id)
        if plugin is None:
            return 404, {"Content-Type": "text/plain"}, b"Not Found\n"
        if plugin_id in self.host.disabled:
            return 400, {"Content-Type": "text/plain"}, b"plugin disabled\n"
        files = [name for name in (plugin.config["ui"] or {}).get(kind) or [] if not name.startswith("http")]
        data = b"".join((Path(plugin.dir) / name).read_bytes() + b"\n" for name in files)
        ctype = "text/javascript" if kind == "javascript" else "text/css"
        return 200, {"Content-Type": ctype, "Cache-Control": "no-cache"}, data

    def _asset(self, name: str) -> tuple:
        path = (self.app_dir / name).resolve()
        if self.app_dir.resolve() not in path.parents or not path.is_file():
            return 404, {"Content-Type": "text/plain"}, b"404 page not found\n"
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return 200, {"Content-Type": ctype}, path.read_bytes()

    def _forward(self, method: str, path: str, query: str, headers, body: bytes) -> tuple:
        conn = http.client.HTTPConnection("127.0.0.1", self.stash.port, timeout=600)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() in ("content-type", "cookie", "apikey", "accept")}
            conn.request(method, path + (f"?{query}" if query else ""), body=body or None, headers=sent)
            response = conn.getresponse()
            kept = {k: v for k, v in response.getheaders() if k.lower() in ("content-type", "set-cookie")}
            return response.status, kept, response.read()
        finally:
            conn.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "StashWeb"

    def _serve(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urllib.parse.urlsplit(self.path)
        status, headers, data = self.server.web.answer(method, url.path, url.query, self.headers, body)  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (signature from http.server)
        """Silenced: the fake Stash keeps the request log."""
