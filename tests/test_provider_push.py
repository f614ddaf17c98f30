"""Push and pull as one: items Plex matched through the provider are found by their guid, and the push
keeps doing what a provider cannot (covers, removed tags, locks)."""

import pytest
from helpers import wait_for

from plexsync.errors import AmbiguousMatch
from plexsync.identity import IDENTIFIER, guid
from plexsync.matcher import GUID, HIGH
from plexsync.sandbox.plex_agents import MetadataAgents
from plexsync.sandbox.provider_run import ProviderThread
from plexsync.sandbox.world import PLEX_ROOT, STASH_ROOT, Sandbox

API_KEY = "stash-api-key-for-push-and-pull"


@pytest.fixture
def sandbox(tmp_path):
    world = Sandbox(root=tmp_path / "sandbox", stash_options={"api_key": API_KEY, "require_auth": True}).start()
    yield world
    world.stop()


@pytest.fixture
def provider(sandbox, clock):
    with ProviderThread({"STASH_URL": sandbox.stash.url, "STASH_API_KEY": API_KEY}, clock=clock) as running:
        yield running


@pytest.fixture
def agents(sandbox, provider):
    agents = MetadataAgents(sandbox.plex)
    agents.register(provider.url)
    agents.use(sandbox.section, IDENTIFIER)
    return agents


def scene_with_file(sandbox, name: str, **fields) -> int:
    return sandbox.stash.add_scene(files=[{"path": f"{STASH_ROOT}/{name}", "size": 5000, "duration": 1200.0}], **fields)


def test_the_library_index_records_the_scene_a_provider_guid_names(sandbox, runtime_for):
    scene, _ = sandbox.add_scene("Pathed")
    matched = sandbox.plex.add_item(section=sandbox.section, title="x", files=[(f"{PLEX_ROOT}/x.mp4", 1)], guid=guid(scene))
    runtime = runtime_for()
    runtime.index.build(force=True)

    assert runtime.index.by_scene(scene) == [(matched, f"{PLEX_ROOT}/x.mp4")]
    assert runtime.index.scene_of(matched) == scene


def test_the_guid_is_the_strongest_identity(sandbox, runtime_for):
    scene, by_path = sandbox.add_scene("Both")
    by_guid = sandbox.plex.add_item(section=sandbox.section, title="g", files=[(f"{PLEX_ROOT}/copy/g.mp4", 1)], guid=guid(scene))
    matcher = runtime_for().delivery.syncer.matcher

    found = matcher.match(sandbox.stash.scene(scene))

    assert (found.rating_key, found.confidence) == (by_guid, GUID) and by_path != by_guid


@pytest.mark.parametrize("strict", [True, False])
def test_a_guid_naming_another_scene_than_the_path_is_resolved_by_strict_matching(sandbox, runtime_for, strict, caplog):
    other, _ = sandbox.add_scene("Other", in_plex=False)
    scene, item = sandbox.add_scene("Mine", in_plex=False, file_name="mine.mp4")
    item = sandbox.plex.add_item(section=sandbox.section, title="mine", files=[(f"{PLEX_ROOT}/mine.mp4", 1_000_002)],
                                 guid=guid(other))
    matcher = runtime_for(strict_matching=strict).delivery.syncer.matcher

    if strict:
        found = matcher.match(sandbox.stash.scene(scene))
        assert (found.rating_key, found.confidence) == (item, HIGH)
        assert f"Plex matched it to scene {other} through the provider; strict_matching: the path wins" in caplog.text
    else:
        with pytest.raises(AmbiguousMatch, match="turn strict_matching on to let the path win"):
            matcher.match(sandbox.stash.scene(scene))
        assert matcher.match(sandbox.stash.scene(other)).rating_key == item


def test_two_items_with_one_scenes_guid_are_ambiguous(sandbox, runtime_for):
    scene, _ = sandbox.add_scene("Twice", in_plex=False)
    for name in ("a", "b"):
        sandbox.plex.add_item(section=sandbox.section, title=name, files=[(f"{PLEX_ROOT}/{name}.mp4", 1)], guid=guid(scene))

    with pytest.raises(AmbiguousMatch, match="several Plex items carry scene"):
        runtime_for().delivery.syncer.matcher.match(sandbox.stash.scene(scene))


def test_health_reports_the_provider_registration_and_the_libraries_using_it(sandbox, agents):
    sandbox.add_scene("Healthy")
    sandbox.plex.add_section(title="Elsewhere", locations=["/media/else"])

    result = sandbox.host().run_task_by_mode("PlexSync", "health")

    checks = {c["name"]: c for c in result.output["checks"]}
    assert result.output["provider"] == {"registered": True, "libraries": ["Movies"]}
    assert checks["provider"]["ok"] and "libraries using it: Movies" in checks["provider"]["detail"]


def test_a_file_scanned_in_through_the_provider_then_gets_stash_edits_by_push(sandbox, agents, clock):
    """Plex's library folder is one path_map does not cover: only the guid links the item to the scene."""
    clips = sandbox.plex.add_section(title="Clips", locations=["/media/clips"])
    agents.use(clips, IDENTIFIER)
    stash = sandbox.stash
    scene = scene_with_file(sandbox, "harbour.mp4", title="Harbour", details="At dusk.", studio="Harbour Films",
                            tags=["Beach", "Evening"], performers=["Ava Stone"])
    clock.advance(2)  # the provider's last index refresh is older than the scene

    key = agents.scan_file(clips, "/media/clips/harbour.mp4", 5000, duration_ms=1_200_000)
    at_scan = sandbox.plex.item(key)
    assert at_scan.guid == guid(scene) and at_scan.fields["title"] == "Harbour"
    assert at_scan.tag_names("genre") == ["Beach", "Evening"] and at_scan.poster_bytes is None

    host = sandbox.host(env={"PLEXSYNC_IDLE_EXIT": "2"})
    beach = next(t["id"] for t in stash.scene(scene)["tags"] if t["name"] == "Beach")
    results = host.scene_update(scene, title="Harbour at Dusk", tag_ids=[beach])
    assert results[0].error is None

    assert wait_for(lambda: sandbox.plex.item(key).fields.get("title") == "Harbour at Dusk", timeout=60)
    assert wait_for(lambda: sandbox.plex.item(key).poster_bytes is not None, timeout=30)
    item = sandbox.plex.item(key)
    assert item.poster_bytes == stash.screenshot_bytes(scene)  # uploaded: Plex's cloud cannot reach Stash
    assert item.tag_names("genre") == ["Beach"]  # removed in Stash, removed in Plex (a provider refresh never does)
    assert {"title", "genre", "thumb"} <= item.locks
    log = sandbox.data_dir / "worker.log"
    assert wait_for(lambda: "matched by the provider's guid" in log.read_text(encoding="utf-8", errors="replace"), timeout=30)
