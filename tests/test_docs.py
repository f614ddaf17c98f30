"""The README's settings and tasks tables list exactly what the manifest declares, with the model's defaults."""

import re
from pathlib import Path

import yaml

from plexsync.settings import Settings
from plexsync.tasks import MODES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
MANIFEST = yaml.safe_load((ROOT / "PlexSync.yml").read_text(encoding="utf-8"))


def table(heading: str) -> list:
    section = README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("|--")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


def readme_default(text: str):
    text = text.strip("`")
    if text == "*(empty)*":
        return ""
    if text in ("true", "false"):
        return text == "true"
    return float(text) if re.fullmatch(r"\d+(\.\d+)?", text) else text


def model_default(key: str):
    value = Settings.model_fields[key].default
    value = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def test_settings_table_matches_manifest_and_model_defaults():
    rows = {row[0].strip("`"): row[1] for row in table("Settings")}
    assert set(rows) == set(MANIFEST["settings"]) == set(Settings.model_fields)
    for key, default in rows.items():
        assert readme_default(default) == model_default(key), key


def test_tasks_table_lists_exactly_the_manifests_modes():
    documented = {row[1].split("`")[1] for row in table("Tasks")}
    declared = {task["defaultArgs"]["mode"] for task in MANIFEST["tasks"]}
    assert documented == declared == set(MODES)
    scopes = {task["defaultArgs"].get("scope") for task in MANIFEST["tasks"] if task["defaultArgs"]["mode"] == "reconcile"}
    assert scopes == {"all", "recent", "7d"}


def test_the_readme_commands_are_the_ones_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    command = "python3 -m pip install -q -r requirements-dev.txt && python3 -m pytest"
    assert command in ci
    assert "python3 -m pip install -r requirements-dev.txt && python3 -m pytest" in README
    assert "python3 -m pip install -r requirements-sandbox.txt && python3 -m plexsync demo" in README


def test_manifest_loads_under_stashs_strict_rules():
    from plexsync.sandbox.stash_host import load_manifest

    config = load_manifest(str(ROOT / "PlexSync.yml"))
    triggers = [trigger for hook in config["hooks"] for trigger in hook["triggeredBy"]]
    assert triggers[:3] == ["Scene.Create.Post", "Scene.Update.Post", "Scene.Destroy.Post"]
    assert all(hook["defaultArgs"] == {"mode": "hook"} for hook in config["hooks"])
    assert config["exec"] == ["python", "{pluginDir}/PlexSync.py"] and config["interface"] == "raw"


def test_operations_table_lists_exactly_the_operations_and_the_screenshots_exist():
    from plexsync.operations import OPERATIONS

    assert {row[0].strip("`") for row in table("Operations")} == set(OPERATIONS)
    for picture in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        assert (ROOT / picture).is_file(), picture
