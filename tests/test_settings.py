from pathlib import Path

import pytest
import yaml

from plexsync.errors import ConfigError
from plexsync.settings import Settings, load_settings, parse_path_map

ROOT = Path(__file__).resolve().parent.parent


def manifest() -> dict:
    return yaml.safe_load((ROOT / "PlexSync.yml").read_text(encoding="utf-8"))


def test_manifest_settings_are_exactly_the_model_fields():
    assert set(manifest()["settings"]) == set(Settings.model_fields)


def test_manifest_setting_types_match_the_model():
    types = {bool: "BOOLEAN", int: "NUMBER", float: "NUMBER"}
    for key, spec in manifest()["settings"].items():
        annotation = Settings.model_fields[key].annotation
        assert spec["type"] == types.get(annotation, "STRING"), key


def test_never_saved_settings_take_their_defaults():
    settings = load_settings({}, env={})
    assert settings.strict_matching is True and settings.preserve_plex_edits is False
    assert settings.tags_as == "genres" and settings.max_retries == 5
    assert settings.connect_timeout == 5 and settings.read_timeout == 30 and settings.dlq_retention_days == 30
    assert all(getattr(settings, key) for key in Settings.model_fields if key.startswith("sync_") and key != "sync_performer_photos")


def test_new_settings_default_to_todays_behaviour():
    settings = load_settings({}, env={})
    assert settings.collection_sources == ("studio",) and settings.sync_performer_photos is False
    assert settings.excluded_tags == settings.label_parents == settings.skip_tags == []
    assert settings.only_organized is False and settings.missing_in_plex == "retry" and settings.title_template == "{title}"
    assert load_settings({"sync_collection": False}, env={}).collection_sources == ()
    spaced = load_settings({"collections_from": " Group , studio,group", "skip_scene_tags": " A,b ,, "}, env={})
    assert spaced.collection_sources == ("group", "studio") and spaced.skip_tags == ["a", "b"]


@pytest.mark.parametrize("key, value, expected", [
    ("max_retries", 50, "max_retries: must be a number from 1 to 20"),
    ("max_retries", 0, "max_retries: must be a number from 1 to 20"),
    ("connect_timeout", 31, "connect_timeout: must be a number from 1 to 30"),
    ("read_timeout", "soon", "read_timeout: must be a number from 5 to 120"),
    ("dlq_retention_days", 400, "dlq_retention_days: must be a number from 1 to 365"),
    ("tags_as", "moods", "tags_as: must be one of 'genres' or 'labels'"),
    ("plex_url", "plex.lan:32400", "plex_url: must start with http:// or https://"),
    ("path_map", "/data/videos", "path_map: rule 1 '/data/videos' has no '=>'"),
    ("strict_matching", "maybe", "strict_matching: must be true or false"),
    ("collections_from", "studio, tags", "collections_from: unknown source 'tags'; use a comma-separated list of studio, parent_studio, group"),
    ("missing_in_plex", "skip", "missing_in_plex: must be one of 'retry' or 'ignore'"),
    ("title_template", "{studio} - {name}", "title_template: unknown field {name}; use {title}, {studio}, {date}, {code}, {performers}"),
    ("title_template", "{title", "title_template: has a '{' or '}' that does not enclose a field name"),
])
def test_bad_value_gives_one_line_naming_the_key(key, value, expected):
    with pytest.raises(ConfigError) as caught:
        load_settings({key: value, "plex_token": "secret-token-1234"}, env={})
    message = str(caught.value)
    assert message.startswith(expected)
    assert "\n" not in message and "secret-token" not in message


def test_env_is_a_fallback_for_url_and_token():
    settings = load_settings({}, env={"PLEX_URL": "http://plex:32400/", "PLEX_TOKEN": "tok-abcdefgh"})
    assert settings.plex_url == "http://plex:32400" and settings.token == "tok-abcdefgh"
    stored = load_settings({"plex_url": "http://other:32400"}, env={"PLEX_URL": "http://plex:32400"})
    assert stored.plex_url == "http://other:32400"


def test_token_is_masked_everywhere_it_could_be_printed():
    settings = load_settings({"plex_token": "abcdefgh12345678"}, env={})
    assert "abcdefgh" not in repr(settings) and "abcdefgh" not in settings.describe()
    assert "****5678" in settings.describe()


def test_missing_plex_settings_name_the_key():
    with pytest.raises(ConfigError, match="^plex_url: not set"):
        load_settings({}, env={}).require_plex()
    with pytest.raises(ConfigError, match="^plex_token: not set"):
        load_settings({"plex_url": "http://p:1"}, env={}).require_plex()


def test_path_map_rules_parse_and_sort_longest_first():
    settings = load_settings({"path_map": "/data=>/media; /data/videos => /mnt/v ;\nD:\\Videos=>/w"}, env={})
    assert [(r.stash, r.plex) for r in settings.path_rules] == [
        ("/data/videos", "/mnt/v"), ("D:\\Videos", "/w"), ("/data", "/media")]
    assert parse_path_map("") == []


def test_libraries_split_on_commas():
    assert load_settings({"plex_libraries": " Movies , Clips,,"}, env={}).libraries == ["Movies", "Clips"]
