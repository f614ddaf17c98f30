"""The Plex tab and the PlexSync page in a real browser: headless Chromium on a Stash stand-in built from
real React 17, react-bootstrap 1.6, Apollo Client 3 and react-router 5 (tests/ui/), whose /graphql is
the fake Stash running PlexSync through the Stash host for ``runPluginOperation``, as Stash does.

Every test fails on a console error or an uncaught exception in the page (React's own warnings
included: the stand-in uses React's development build). Without Chromium, Node.js or Playwright the
tests are skipped with one line naming what is missing, unless ``PLEXSYNC_REQUIRE_BROWSER=1`` (CI)
makes that a failure.
"""

import os
import re

import pytest
from browser import StashUI, build_shell, launch, missing
from helpers import wait_for

from plexsync.breaker import CircuitBreaker
from plexsync.sandbox.world import PLEX_ROOT, STASH_ROOT
from plexsync.state import StateDB

LACKING = missing()
if LACKING and os.environ.get("PLEXSYNC_REQUIRE_BROWSER") != "1":
    pytest.skip(f"browser tests need {', '.join(LACKING)}", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    assert not LACKING, f"browser tests need {', '.join(LACKING)}"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def assets():
    return build_shell()


@pytest.fixture
def make_ui(sandbox, browser, assets):
    made = []

    def make(stash_version="v0.30.1"):
        ui = StashUI(sandbox, browser, assets, stash_version)
        made.append(ui)
        return ui

    yield make
    for ui in made:
        problems = list(ui.problems)
        ui.close()
        assert problems == [], problems


@pytest.fixture
def ui(make_ui):
    return make_ui()


def open_tab(ui, scene_id):
    ui.open(f"/scenes/{scene_id}")
    ui.page.get_by_role("tab", name="Plex").click()


def twin(sandbox, name="twin"):
    scene = sandbox.stash.add_scene(title="Twin", files=[(f"{STASH_ROOT}/x/{name}.mp4", 9)])
    for folder in ("a", "b"):
        sandbox.plex.add_item(section=1, title=name, files=[(f"{PLEX_ROOT}/{folder}/{name}.mp4", 9)])
    return scene


def test_the_plex_tab_shows_the_matched_item_and_the_difference(sandbox, ui):
    scene, key = sandbox.add_scene("Harbour", tags=["Boats"], details="Fog lifts.")
    ui.open(f"/scenes/{scene}")
    ui.page.get_by_role("tab", name="Details").wait_for()
    assert ui.modes() == []  # mounted only when opened: no plugin process per scene view
    ui.page.get_by_role("tab", name="Plex").click()
    diff = ui.page.locator(".plexsync-diff")
    diff.wait_for()
    assert diff.locator("tr[data-field=title] .plexsync-plex").inner_text() == sandbox.plex.item(key).title
    assert diff.locator("tr[data-field=title] .plexsync-stash").inner_text() == "Harbour"
    assert diff.locator("tr[data-field=genre] .plexsync-stash").inner_text() == "Boats"
    item = ui.page.locator(".plexsync-item").inner_text()
    assert f"#{key}" in item and "Movies" in item and "high: the exact file path" in item
    assert ui.page.locator(".plexsync-state").get_attribute("data-state") == "never_synced"
    assert sorted(ui.modes()) == ["scene_diff", "scene_status"]


def test_sync_now_changes_plex_and_shows_the_outcome_line(sandbox, ui):
    scene, key = sandbox.add_scene("Before")
    sandbox.stash.update_scene(scene, title="After", details="New details")
    open_tab(ui, scene)
    ui.page.locator(".plexsync-diff").wait_for()
    ui.page.get_by_role("button", name="Sync now").click()
    outcome = ui.page.locator(".plexsync-outcome")
    outcome.wait_for()
    assert outcome.inner_text().startswith(f'synced scene {scene} "After" -> Plex {key}: title')
    assert sandbox.plex.item(key).title == "After" and sandbox.plex.item(key).fields.get("summary") == "New details"
    ui.page.locator(".plexsync-in-agreement").wait_for()
    assert ui.page.locator(".plexsync-state").get_attribute("data-state") == "synced"
    assert "Written" in ui.page.locator(".plexsync-last-sync").inner_text()
    assert "sync_scene" in ui.modes()
    ui.page.locator(".plexsync-open").wait_for()  # the fake Plex answers Plex Web's icon: the link is shown
    href = ui.page.locator(".plexsync-open").get_attribute("href")
    assert href.startswith(f"{sandbox.plex.url}/web/index.html#!/server/") and href.endswith(f"%2Flibrary%2Fmetadata%2F{key}")


def test_a_dead_letter_shows_its_reason_and_fix_and_retry_reaches_the_plugin(sandbox, ui):
    scene = twin(sandbox)
    ui.operations.host.run_operation("PlexSync", {"mode": "sync_scene", "scene_id": str(scene)})
    open_tab(ui, scene)
    letter = ui.page.locator(".plexsync-letter")
    letter.wait_for()
    assert ui.page.locator(".plexsync-state").get_attribute("data-state") == "dead_letter"
    assert "several have the same file name and size" in letter.inner_text()
    assert "Fix: Fix path_map" in letter.inner_text()
    sandbox.configure(path_map=f"{STASH_ROOT}=>{PLEX_ROOT}; {STASH_ROOT}/x=>{PLEX_ROOT}/a")
    letter.get_by_role("button", name="Retry").click()
    ui.page.locator(".plexsync-outcome.alert-success").wait_for()
    assert ui.page.locator(".plexsync-letter").count() == 0
    assert "retry_dead_letter" in ui.modes()
    assert any(item.title == "Twin" for item in sandbox.plex.items())


def test_errors_are_shown_in_words_never_a_blank_tab(sandbox, ui):
    scene, _ = sandbox.add_scene("Broken")
    sandbox.plex.stop()
    open_tab(ui, scene)
    problem = ui.page.locator(".plexsync-diff-section .plexsync-problem")
    problem.wait_for()
    assert problem.inner_text().startswith("Could not compare with Plex: Plex unreachable while connecting")
    ui.page.get_by_role("button", name="Sync now").click()
    held = ui.page.locator(".plexsync-outcome.alert-warning")
    held.wait_for()
    assert held.inner_text().startswith(f"scene {scene}: held until Plex or Stash answers again: Plex unreachable")
    assert ui.page.locator(".plexsync-state").get_attribute("data-state") == "held"
    sandbox.stash.set_plugin_settings("PlexSync", {})
    ui.page.get_by_role("button", name="Sync now").click()
    failed = ui.page.locator(".plexsync-tab > .plexsync-problem")
    failed.wait_for()
    assert failed.inner_text().startswith("Sync now failed: plex_url: not set")
    state = sandbox.data_dir / "state.db"
    state.write_bytes(b"not a database" * 100)
    try:
        ui.page.get_by_role("button", name="Refresh").click()
        ui.page.get_by_text("PlexSync could not read this scene's state: unexpected error: DatabaseError").wait_for()
    finally:
        state.unlink()


def test_the_plexsync_page_shows_the_queue_breakers_letters_reconcile_health_and_chart(sandbox, ui):
    scenes = [sandbox.add_scene(f"Synced {n}") for n in range(3)]
    host = ui.operations.host
    for scene, _ in scenes:
        host.run_operation("PlexSync", {"mode": "sync_scene", "scene_id": str(scene)})
    letters = [twin(sandbox, name) for name in ("one", "two", "three")]
    for scene in letters:
        host.run_operation("PlexSync", {"mode": "sync_scene", "scene_id": str(scene)})
    assert host.run_task_by_mode("PlexSync", "reconcile", {"dry_run": "true"}).error is None
    db = StateDB(sandbox.data_dir)
    CircuitBreaker(db).trip("Plex unreachable while reading: connection refused")
    db.close()
    ui.open("/plugins/plexsync")
    page = ui.page
    page.locator(".plexsync-letters-table").wait_for()
    assert page.locator("[data-counter=dead_letters] .plexsync-counter-value").inner_text() == "3"
    assert page.locator("[data-counter=synced_today] .plexsync-counter-value").inner_text() == "3"
    assert page.locator(".plexsync-breakers [data-breaker]").first.get_attribute("data-breaker") in ("open", "half_open")
    breakers = page.locator(".plexsync-breakers").inner_text()
    assert "(unreachable)" in breakers and "(ongoing)" in breakers and "connection refused" in breakers
    assert page.locator(".plexsync-bar").count() == 72
    assert sum(int(bar.get_attribute("data-synced")) for bar in page.locator(".plexsync-bar").all()) == 3
    assert page.locator(".plexsync-reconcile [data-class=ambiguous]").inner_text().startswith("ambiguous\t3")
    assert page.locator(".plexsync-letters-table tbody tr").count() == 3
    page.locator(".plexsync-row-clear").first.click()
    wait_for(lambda: page.locator(".plexsync-letters-table tbody tr").count() == 2, timeout=30)
    assert page.locator(".plexsync-outcome").inner_text() == "1 dead letter deleted."
    page.get_by_role("button", name="Clear all").click()
    page.locator(".plexsync-clear-all-yes").click()
    page.locator(".plexsync-no-letters").wait_for()
    assert ui.operations.modes().count("dlq_clear") == 2
    page.get_by_role("button", name="Run health check").click()
    page.locator("[data-check=path_map]").wait_for()
    assert page.locator("[data-check][data-ok=false]").count() == 0


def test_retry_on_the_page_syncs_the_scene_now(sandbox, ui):
    scene = twin(sandbox)
    ui.operations.host.run_operation("PlexSync", {"mode": "sync_scene", "scene_id": str(scene)})
    sandbox.configure(path_map=f"{STASH_ROOT}=>{PLEX_ROOT}; {STASH_ROOT}/x=>{PLEX_ROOT}/a")
    ui.open("/plugins/plexsync")
    ui.page.locator(".plexsync-row-retry").click()
    outcome = ui.page.locator(".plexsync-outcome")
    outcome.wait_for()
    assert outcome.inner_text().startswith(f'synced scene {scene} "Twin"')
    ui.page.locator(".plexsync-no-letters").wait_for()


def test_the_page_is_linked_from_the_navigation_the_settings_and_the_tab(sandbox, ui):
    scene, _ = sandbox.add_scene("Linked")
    ui.open("/settings")
    ui.page.get_by_role("link", name="Open the PlexSync page").click()
    ui.page.locator(".plexsync-page h2").wait_for()
    open_tab(ui, scene)
    ui.page.get_by_role("link", name="PlexSync page").click()
    ui.page.locator(".plexsync-page h2").wait_for()
    ui.open("/")
    ui.page.locator(".plexsync-nav").click()
    ui.page.locator(".plexsync-page h2").wait_for()
    assert re.search(r"/plugins/plexsync$", ui.page.url)
    ui.page.reload()  # the link's address survives a reload (Stash's server owns /plugin/...)
    ui.page.locator(".plexsync-page h2").wait_for()


@pytest.mark.parametrize("version, settings_link", [("v0.27.2", True), ("v0.25.1", False)])
def test_older_stash_gets_the_page_but_not_the_tab_without_errors(sandbox, make_ui, version, settings_link):
    ui = make_ui(version)
    scene, _ = sandbox.add_scene("Older")
    ui.open(f"/scenes/{scene}")
    ui.page.get_by_role("tab", name="File Info").click()
    ui.page.get_by_text(f"{STASH_ROOT}/Older").wait_for()
    assert ui.page.get_by_role("tab", name="Plex").count() == 0
    ui.open("/settings")
    ui.page.locator(".plugin-entry h4").wait_for()
    assert ui.page.get_by_role("link", name="Open the PlexSync page").count() == (1 if settings_link else 0)
    ui.page.locator(".plexsync-nav").click()
    ui.page.locator("[data-counter=pending]").wait_for()
    assert ui.modes() == ["overview"]


def test_other_plugins_patching_the_tabs_still_get_the_scene(sandbox, make_ui):
    other = sandbox.plugins_dir / "ZOther"
    other.mkdir()
    (other / "ZOther.yml").write_text("name: ZOther\nui:\n  javascript:\n    - z.js\n")
    (other / "z.js").write_text('(function () { window.PluginApi.patch.before("ScenePage.Tabs", function (props) {'
                                " window.zSeen = props.scene && props.scene.id; return [props]; }); })();\n")
    ui = make_ui()
    ui.operations.host.reload()
    scene, _ = sandbox.add_scene("Shared")
    ui.open(f"/scenes/{scene}")
    ui.page.get_by_role("tab", name="Plex").wait_for()
    assert ui.page.evaluate("window.zSeen") == str(scene)
