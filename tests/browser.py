"""What the browser tests share: the Stash stand-in's build, headless Chromium, and a Stash UI on loopback.

* ``build_shell()``: ``npm ci`` + ``node build.mjs`` of ``tests/ui/`` (pinned React 17, react-bootstrap
  1.6, Apollo Client 3, react-router 5, Bootstrap 4, esbuild) in a cache folder named after a hash of
  the sources, never in the checkout: node_modules holds ``.yml`` files, and Stash loads every ``.yml``
  under its plugins folder as a plugin.
* ``launch(playwright)``: Debian's Chromium (``/usr/bin/chromium``) driven by Playwright, with the
  flags this machine's closed network needs; Playwright never downloads a browser here.
* ``StashUI``: a sandbox whose fake Stash answers ``runPluginOperation`` through the Stash host,
  behind ``StashWeb`` (the page, the plugin's UI files, /graphql); ``problems`` collects console
  errors and uncaught exceptions, which the tests treat as failures.

``python3 tests/browser.py build`` builds the stand-in ahead (CI does); ``python3 tests/browser.py
screenshots docs/img`` renders the README's pictures.
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
UI_SOURCES = ROOT / "tests" / "ui"
SOURCES = ("package.json", "package-lock.json", "build.mjs", "shell.js", "shell.css")
CHROMIUM = os.environ.get("PLEXSYNC_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 1000}


def missing() -> list:
    """What the browser tests need and this machine lacks."""
    lacking = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if not Path(CHROMIUM).exists():
        lacking.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        lacking.append("playwright (pip install -r requirements-dev.txt)")
    return lacking


def build_shell() -> Path:
    """The built stand-in's ``assets`` folder (shell.js, bootstrap.min.css, shell.css), built if needed."""
    digest = hashlib.sha256(b"".join((UI_SOURCES / name).read_bytes() for name in SOURCES)).hexdigest()[:16]
    cache = Path(os.environ.get("PLEXSYNC_UI_CACHE") or Path.home() / ".cache" / "plexsync")
    folder = cache / f"stash-shell-{digest}"
    assets = folder / "build" / "assets"
    if (assets / "shell.js").exists():
        return assets
    folder.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        shutil.copyfile(UI_SOURCES / name, folder / name)
    for argv in (["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], ["node", "build.mjs"]):
        done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed in {folder}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return assets


def launch(playwright):
    """Headless Debian Chromium."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)


class StashUI:
    """A browser tab on a Stash UI (``stash_version`` decides the plugin API) over a started sandbox."""

    def __init__(self, sandbox, browser, assets: Path, stash_version: str = "v0.30.1") -> None:
        from plexsync.sandbox.stash_web import StashWeb

        self.sandbox = sandbox
        self.operations = sandbox.serve_operations(env={"PLEXSYNC_IDLE_EXIT": "1"})
        self.web = StashWeb(sandbox.stash, self.operations.host, assets, stash_version).start()
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.problems: list = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))

    def _console(self, message) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        if "Failed to load resource" in message.text and url.endswith("/web/favicon.ico"):
            return  # the Plex Web probe failing is how the tab learns Plex Web is unreachable
        self.problems.append(f"console.error: {message.text}")

    def open(self, path: str) -> None:
        """Load a page of the app (a full page load, as typing the address)."""
        self.page.goto(self.web.url + path)

    def modes(self) -> list:
        """The operation modes the browser made PlexSync run so far."""
        return self.operations.modes()

    def close(self) -> None:
        """Close the browser tab and stop the web front."""
        self.context.close()
        self.web.stop()


def screenshots(target: Path) -> list:
    """Render the README's pictures of the tab and the page from a small, realistic sandbox."""
    from playwright.sync_api import sync_playwright

    from plexsync.sandbox.world import Sandbox

    target.mkdir(parents=True, exist_ok=True)
    with Sandbox() as sandbox, sync_playwright() as playwright:
        browser = launch(playwright)
        ui = StashUI(sandbox, browser, build_shell())
        try:
            return _shoot(ui, target)
        finally:
            ui.close()
            browser.close()


def _shoot(ui: StashUI, target: Path) -> list:
    from plexsync.sandbox.world import PLEX_ROOT, STASH_ROOT

    sandbox, page = ui.sandbox, ui.page
    host = ui.operations.host
    studio = sandbox.stash.add_studio("Northern Light Films")
    scenes = [sandbox.add_scene(f"Harbour at Dawn, part {n}", studio=studio, date="2024-05-0%d" % n,
                                tags=["Harbour", "Sunrise", "4K"], details="Boats leave the harbour as the fog lifts.")
              for n in range(1, 6)]
    for scene, _ in scenes:
        host.run_operation("PlexSync", {"mode": "sync_scene", "scene_id": str(scene)})
    sandbox.stash.update_scene(scenes[0][0], title="Harbour at Dawn (director's cut)", tags=["Harbour", "Sunrise", "8K"])
    twin = sandbox.stash.add_scene(title="Lighthouse", files=[(f"{STASH_ROOT}/2024/lighthouse.mp4", 77)])
    for folder in ("archive", "2024-copy"):
        sandbox.plex.add_item(section=1, title="lighthouse", files=[(f"{PLEX_ROOT}/{folder}/lighthouse.mp4", 77)])
    host.run_operation("PlexSync", {"mode": "sync_scene", "scene_id": str(twin)})
    host.run_task_by_mode("PlexSync", "reconcile", {"dry_run": "true"})
    host.run_task_by_mode("PlexSync", "health")
    ui.open(f"/scenes/{scenes[0][0]}")
    page.get_by_role("tab", name="Plex").click()
    page.wait_for_selector(".plexsync-diff")
    page.wait_for_selector(".plexsync-open, .plexsync-unreachable")
    written = [target / "plex-tab.png", target / "plexsync-page.png"]
    page.locator(".scene-tabs").screenshot(path=str(written[0]))
    ui.open("/plugins/plexsync")
    page.wait_for_selector(".plexsync-letters-table")
    page.screenshot(path=str(written[1]), full_page=True)
    return written


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    command: Optional[str] = sys.argv[1] if len(sys.argv) > 1 else None
    if command == "build":
        sys.stdout.write(f"{build_shell()}\n")
    elif command == "screenshots":
        for path in screenshots(Path(sys.argv[2] if len(sys.argv) > 2 else ROOT / "docs" / "img")):
            sys.stdout.write(f"{path}\n")
    else:
        sys.exit("usage: python3 tests/browser.py build | screenshots [folder]")
