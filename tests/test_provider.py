"""The metadata provider over real HTTP, called the way the sandbox's fake Plex calls it, against the
fake Stash with authentication on."""

import time

import pytest
import requests
from helpers import wait_for

from plexsync.identity import IDENTIFIER, guid
from plexsync.sandbox.fake_plex import FakePlex
from plexsync.sandbox.fake_stash import FakeStash
from plexsync.sandbox.plex_agents import MetadataAgents
from plexsync.sandbox.provider_run import ProviderThread

API_KEY = "stash-api-key-0123456789abcdef"
PUBLIC = "https://plexsync.example.org"
PHOTO = b"\xff\xd8\xff\xe0 photo of Ava Stone"
STASH_ROOT, PLEX_ROOT = "/data/videos", "/media/videos"


@pytest.fixture
def stash():
    fake = FakeStash(api_key=API_KEY, require_auth=True).start()
    fake.set_plugin_settings("PlexSync", {"path_map": f"{STASH_ROOT}=>{PLEX_ROOT}"})
    yield fake
    fake.stop()


def env_for(stash, **extra) -> dict:
    return {"STASH_URL": extra.pop("STASH_URL", "") or stash.url, "STASH_API_KEY": API_KEY, **extra}


@pytest.fixture
def served(stash, clock):
    """Start a provider (after the test has added its scenes); stopped at the end."""
    running = []

    def start(warm: bool = True, **extra):
        provider = ProviderThread(env_for(stash, **extra), clock=clock).start(warm=warm)
        running.append(provider)
        return provider

    yield start
    for provider in running:
        provider.stop()


@pytest.fixture
def plex():
    with FakePlex(token="plex-token-for-provider-tests") as fake:
        fake.add_section(title="Movies", locations=[PLEX_ROOT])
        yield fake


def agents_for(plex, provider, form: str = "absolute", **options) -> MetadataAgents:
    agents = MetadataAgents(plex, filename_form=form, **options)
    agents.register(provider.url)
    agents.use(1, IDENTIFIER)
    return agents


def add(stash, name: str, folder: str = "", duration: float = 600.0, **fields) -> int:
    path = f"{STASH_ROOT}/{folder + '/' if folder else ''}{name}"
    return stash.add_scene(files=[{"path": path, "size": 1000, "duration": duration}], **fields)


def match(provider, **body) -> list:
    response = requests.post(f"{provider.url}/library/metadata/matches", json={"type": 1, **body}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["MediaContainer"]["Metadata"]


def rich_scene(stash) -> int:
    return add(stash, "sunset.mp4", "2024", title="Sunset at the Pier", details="A long evening.", date="2024-06-21",
               studio="Harbour Films", performers=[stash.add_performer("Ava Stone", image=PHOTO), "Ben Reed"],
               tags=["Beach", "Evening"], director="Dee Rector")


# ------------------------------------------------------------------------------- registration and routes


def test_plex_accepts_the_provider_document(stash, served, plex):
    provider = served()
    root = requests.get(f"{provider.url}?includePreferences=1", timeout=5).json()["MediaProvider"]
    agents = agents_for(plex, provider)

    assert root["identifier"] == IDENTIFIER == agents.providers[IDENTIFIER].identifier
    assert root["Types"] == [{"type": 1, "Scheme": [{"scheme": IDENTIFIER}]}]
    assert {f["type"]: f["key"] for f in root["Feature"]} == {"match": "/library/metadata/matches", "metadata": "/library/metadata"}
    listed = requests.get(f"{plex.url}/media/providers/metadata", headers={"X-Plex-Token": plex.token}, timeout=5)
    assert f'identifier="{IDENTIFIER}"' in listed.text


def test_health_says_whether_stash_answers(stash, served):
    provider = served()
    healthy = requests.get(f"{provider.url}/health", timeout=5).json()
    stash.stop()
    down = requests.get(f"{provider.url}/health", timeout=5)

    assert healthy["ok"] and healthy["stash"]["ok"] and healthy["index"]["ready"]
    assert down.status_code == 200 and down.json()["stash"]["ok"] is False and down.json()["ok"] is False


@pytest.mark.parametrize("form", ["absolute", "relative", "basename"])
def test_a_new_file_is_scanned_in_with_stash_metadata_in_every_filename_form(stash, served, plex, form):
    scene = rich_scene(stash)
    provider = served()
    agents = agents_for(plex, provider, form)

    key = agents.scan_file(1, f"{PLEX_ROOT}/2024/sunset.mp4", 1000, duration_ms=600_000)

    item = plex.item(key)
    assert item.guid == guid(scene)
    assert item.fields["title"] == "Sunset at the Pier" and item.fields["studio"] == "Harbour Films"
    assert item.fields["originallyAvailableAt"] == "2024-06-21" and item.fields["year"] == 2024
    assert item.tag_names("genre") == ["Beach", "Evening"] and item.tag_names("actor") == ["Ava Stone", "Ben Reed"]
    assert item.tag_names("collection") == ["Harbour Films"] and item.tag_names("director") == ["Dee Rector"]
    assert [e.kind for e in agents.events][-2:] == ["matched", "refreshed"]


def test_match_scores_say_how_certain_the_match_is(stash, served):
    scene = add(stash, "clip.mp4", "2024")
    provider = served()

    assert [(m["ratingKey"], m["score"]) for m in match(provider, filename=f"{PLEX_ROOT}/2024/clip.mp4")] == [(f"scene-{scene}", 100)]
    assert match(provider, filename="2024/clip.mp4")[0]["score"] == 100
    assert match(provider, filename="/elsewhere/2024/clip.mp4")[0]["score"] == 95
    assert match(provider, filename="clip.mp4")[0]["score"] == 85
    assert match(provider, filename="clip.mp4", duration=600_500)[0]["score"] == 90
    assert match(provider, filename="clip.mp4", duration=300_000) == []
    found = match(provider, filename="clip.mp4")[0]
    assert found == {"type": "movie", "ratingKey": f"scene-{scene}", "guid": guid(scene),
                     "key": f"/library/metadata/scene-{scene}", "title": "T", "score": 85}


def test_twins_sharing_a_file_name_are_never_guessed(stash, served):
    first = add(stash, "twin.mp4", "a", duration=600, title="Twin A")
    second = add(stash, "twin.mp4", "b", duration=900, title="Twin B")
    provider = served()

    assert match(provider, filename="twin.mp4") == []
    assert [m["ratingKey"] for m in match(provider, filename="twin.mp4", duration=900_000)] == [f"scene-{second}"]
    assert [m["ratingKey"] for m in match(provider, filename="a/twin.mp4")] == [f"scene-{first}"]
    ranked = match(provider, filename="twin.mp4", manual=1)
    assert sorted(m["ratingKey"] for m in ranked) == [f"scene-{first}", f"scene-{second}"]


def test_a_file_stash_does_not_know_stays_unmatched_until_stash_has_it(stash, served, plex, clock):
    provider = served()
    agents = agents_for(plex, provider)

    clock.advance(2)
    key = agents.scan_file(1, f"{PLEX_ROOT}/new/fresh.mp4")
    scene = add(stash, "fresh.mp4", "new", title="Fresh")
    clock.advance(2)  # misses within a second of a refresh share it
    second = agents.scan_file(1, f"{PLEX_ROOT}/new/fresh.mp4")  # a miss refreshes the index from updated_at

    assert plex.item(key).guid == f"local://{key}" and plex.item(key).fields["title"] == "fresh"
    assert plex.item(second).guid == guid(scene) and plex.item(second).fields["title"] == "Fresh"
    assert stash.count("ProviderChanges") == 2 and stash.count("ProviderIndex") == 1  # one per miss, no rebuild


def test_a_deleted_scene_is_no_longer_matched_and_its_metadata_is_404(stash, served, clock):
    scene = add(stash, "gone.mp4")
    keep = add(stash, "kept.mp4")
    provider = served()
    stash.destroy_scene(scene)
    clock.advance(61)  # the index refreshes at least every minute; the count shows a deletion

    assert match(provider, filename="gone.mp4") == []
    assert match(provider, filename="kept.mp4")[0]["ratingKey"] == f"scene-{keep}"
    assert requests.get(f"{provider.url}/library/metadata/scene-{scene}", timeout=5).status_code == 404


def test_fix_match_ranks_candidates_by_typed_title_or_scene_id_and_choosing_one_refreshes(stash, served, plex):
    wanted = add(stash, "a.mp4", title="Evening by the Sea", date="2023-05-01")
    add(stash, "b.mp4", title="Morning by the Lake")
    provider = served()
    agents = agents_for(plex, provider)
    key = agents.scan_file(1, f"{PLEX_ROOT}/unrelated.mp4")

    by_title = agents.fix_match(key, title="evening sea", year=2023)
    by_id = agents.fix_match(key, title=f"scene-{wanted}")
    chosen = by_title[0]
    refreshed = agents.choose(key, chosen["guid"], chosen["title"], chosen.get("year"))

    assert by_title[0]["ratingKey"] == f"scene-{wanted}" and len(by_title) <= 20
    assert by_id[0]["ratingKey"] == f"scene-{wanted}" and by_id[0]["score"] == 100
    assert refreshed and plex.item(key).guid == guid(wanted) and plex.item(key).fields["title"] == "Evening by the Sea"


def test_fix_match_with_a_guid_plex_cannot_parse_fails_without_calling_the_provider(stash, served, plex):
    add(stash, "a.mp4")
    provider = served()
    agents = agents_for(plex, provider)
    key = agents.scan_file(1, f"{PLEX_ROOT}/a.mp4")
    before = provider.provider.index.requests

    assert agents.choose(key, f"{IDENTIFIER}://scene-1", "Whatever") is False
    assert agents.events[-1].kind == "refresh_failed" and provider.provider.index.requests == before


# ------------------------------------------------------------------------------- the metadata document


def test_metadata_carries_stash_fields_in_plex_shape(stash, served):
    scene = rich_scene(stash)
    provider = served()

    response = requests.get(f"{provider.url}/library/metadata/scene-{scene}", timeout=5)
    item = response.json()["MediaContainer"]["Metadata"][0]

    assert response.json()["MediaContainer"]["size"] == 1
    assert {k: item[k] for k in ("type", "ratingKey", "guid", "key", "title", "summary", "studio",
                                 "originallyAvailableAt", "year", "duration", "contentRating", "isAdult")} == {
        "type": "movie", "ratingKey": f"scene-{scene}", "guid": guid(scene), "key": f"/library/metadata/scene-{scene}",
        "title": "Sunset at the Pier", "summary": "A long evening.", "studio": "Harbour Films",
        "originallyAvailableAt": "2024-06-21", "year": 2024, "duration": 600_000, "contentRating": "XXX", "isAdult": True}
    assert item["Genre"] == [{"tag": "Beach"}, {"tag": "Evening"}]
    assert item["Role"] == [{"tag": "Ava Stone", "order": 1}, {"tag": "Ben Reed", "order": 2}]
    assert item["Collection"] == [{"tag": "Harbour Films"}]
    assert not {"thumb", "art", "Image"} & set(item)  # no image links without PLEXSYNC_PUBLIC_URL
    extras = requests.get(f"{provider.url}/library/metadata/scene-{scene}/extras", timeout=5)
    assert extras.status_code == 200 and extras.json()["MediaContainer"]["size"] == 0


def test_metadata_honours_the_plugin_settings(stash, served):
    stash.set_plugin_settings("PlexSync", {"tags_as": "labels", "sync_collection": False, "sync_title": False})
    scene = rich_scene(stash)
    provider = served(PLEXSYNC_CONTENT_RATING="")

    item = requests.get(f"{provider.url}/library/metadata/scene-{scene}", timeout=5).json()["MediaContainer"]["Metadata"][0]

    assert "Genre" not in item and "Collection" not in item  # labels are the push's job
    assert item["title"] == "sunset"  # sync_title off: the file name, as Plex would show it
    assert "contentRating" not in item and "isAdult" not in item


def test_unknown_scene_is_404_and_malformed_rating_keys_are_400(stash, served):
    provider = served()

    assert requests.get(f"{provider.url}/library/metadata/scene-4242", timeout=5).status_code == 404
    for bad in ("scene-abc", "scene-0", "4242", "scene-1;drop"):
        response = requests.get(f"{provider.url}/library/metadata/{bad}", timeout=5)
        assert response.status_code == 400 and "ratingKey" in response.json()["error"]
    traversal = requests.get(f"{provider.url}/library/metadata/scene-..%2F..%2Fx", timeout=5)
    assert traversal.status_code in (400, 404) and "error" in traversal.json()


# ------------------------------------------------------------------------------- images


def test_image_links_are_signed_and_serve_stash_covers_with_stash_credentials(stash, served, plex):
    scene = rich_scene(stash)
    provider = served(PLEXSYNC_PUBLIC_URL=PUBLIC)
    agents = agents_for(plex, provider, tunnels={PUBLIC: provider.url})
    key = agents.scan_file(1, f"{PLEX_ROOT}/2024/sunset.mp4")
    item = requests.get(f"{provider.url}/library/metadata/scene-{scene}", timeout=5).json()["MediaContainer"]["Metadata"][0]

    status, cover = agents.fetch_image(item["thumb"])
    photo = agents.fetch_image(item["Role"][0]["thumb"])
    tampered = requests.get(item["thumb"].replace(PUBLIC, provider.url).replace("/scene/", "/performer/"), timeout=5)

    assert item["thumb"].startswith(f"{PUBLIC}/images/scene/{scene}?v=") and "sig=" in item["thumb"]
    assert [i["type"] for i in item["Image"]] == ["coverPoster", "background"]
    assert plex.item(key).selected_poster == item["thumb"]
    assert (status, cover) == (200, stash.screenshot_bytes(scene))
    assert photo == (200, PHOTO) and "thumb" not in item["Role"][1]  # Ben Reed has no image: no photo
    assert tampered.status_code == 404 and tampered.json() == {"error": "no such image"}


def test_plex_cloud_cannot_fetch_lan_image_urls(stash, served, plex):
    provider = served(PLEXSYNC_PUBLIC_URL="http://192.168.1.20:8790")
    agents = agents_for(plex, provider)

    assert agents.fetch_image("http://192.168.1.20:8790/images/scene/1?v=1&sig=x")[0] == 400


# ------------------------------------------------------------------------------- Stash down and back


def test_stash_down_gives_empty_matches_and_503_metadata_quickly_and_recovers(stash, served, clock):
    scene = add(stash, "clip.mp4")
    provider = served()
    stash.stop()

    started = time.monotonic()
    metadata = requests.get(f"{provider.url}/library/metadata/scene-{scene}", timeout=10)
    matched = match(provider, filename="clip.mp4")
    unknown = match(provider, filename="other.mp4")
    elapsed = time.monotonic() - started
    stash.start()
    clock.advance(6)  # past the gate's cooldown: the next request probes Stash

    assert metadata.status_code == 503 and "Stash" in metadata.json()["error"] and metadata.headers["Retry-After"]
    assert matched == [] and unknown == [] and elapsed < 3
    assert match(provider, filename="clip.mp4")[0]["ratingKey"] == f"scene-{scene}"
    assert requests.get(f"{provider.url}/library/metadata/scene-{scene}", timeout=5).status_code == 200


def test_a_hanging_stash_still_answers_plex_within_3_seconds(stash, served):
    scene = add(stash, "clip.mp4")
    provider = served()
    stash.latency = 5.0

    started = time.monotonic()
    response = requests.get(f"{provider.url}/library/metadata/scene-{scene}", timeout=10)

    assert response.status_code == 503 and time.monotonic() - started < 3


def test_a_provider_started_while_stash_is_down_catches_up_by_itself(stash, served, clock):
    scene = add(stash, "clip.mp4")
    url = stash.url
    stash.stop()
    provider = served(STASH_URL=url)
    assert match(provider, filename="clip.mp4") == []
    stash.start()
    clock.advance(6)

    assert match(provider, filename="clip.mp4")[0]["ratingKey"] == f"scene-{scene}"


def test_plex_gives_up_after_its_timeout_and_keeps_the_item(stash, served, plex):
    scene = add(stash, "clip.mp4", title="Clip")
    provider = served()
    agents = agents_for(plex, provider, timeout=0.5)
    key = agents.scan_file(1, f"{PLEX_ROOT}/clip.mp4")
    stash.update_scene(scene, title="Renamed")
    stash.latency = 1.5  # longer than this Plex's timeout, shorter than the provider's 2 s
    provider.provider.cache.ttl = 0

    assert agents.refresh(key) is False
    assert agents.events[-1].kind == "refresh_failed" and plex.item(key).fields["title"] == "Clip"


# ------------------------------------------------------------------------------- bad input and secrets


def test_malformed_input_gets_a_4xx_json_answer_and_the_service_keeps_serving(stash, served):
    provider = served()
    url = f"{provider.url}/library/metadata/matches"
    cases = {
        "bad json": requests.post(url, data=b"{not json", headers={"Content-Type": "application/json"}, timeout=5),
        "not an object": requests.post(url, json=[1, 2], timeout=5),
        "wrong type": requests.post(url, json={"type": "movie"}, timeout=5),
        "wrong filename type": requests.post(url, json={"type": 1, "filename": {"a": 1}}, timeout=5),
        "huge": requests.post(url, data=b'{"title": "' + b"x" * 200_000 + b'"}', timeout=5),
        "huge chunked": requests.post(url, data=iter([b'{"title": "', b"x" * 100_000, b'"}']), timeout=5),
        "wrong method": requests.get(url, timeout=5),
        "unknown route": requests.get(f"{provider.url}/library/sections", timeout=5),
        "bad image id": requests.get(f"{provider.url}/images/scene/abc?v=1&sig=x", timeout=5),
    }

    for name, response in cases.items():
        assert 400 <= response.status_code < 500, name
        assert "error" in response.json() and "Traceback" not in response.text, name
    assert cases["huge"].status_code == 413 and cases["huge chunked"].status_code == 413
    assert requests.get(provider.url, timeout=5).status_code == 200


def test_the_stash_api_key_appears_in_nothing_the_provider_returns_or_logs(stash, served, plex, caplog):
    scene = rich_scene(stash)
    provider = served(PLEXSYNC_PUBLIC_URL=PUBLIC)
    agents = agents_for(plex, provider, tunnels={PUBLIC: provider.url})
    seen = []
    agents.http.hooks["response"].append(lambda response, *a, **k: seen.append(response))
    key = agents.scan_file(1, f"{PLEX_ROOT}/2024/sunset.mp4")
    agents.fix_match(key, title="sunset")
    metadata = requests.get(f"{provider.url}/library/metadata/scene-{scene}", timeout=5)
    seen += [metadata, requests.get(f"{provider.url}/health", timeout=5),
             requests.get(f"{provider.url}/library/metadata/scene-{scene}/images", timeout=5)]
    seen += [requests.get(metadata.json()["MediaContainer"]["Metadata"][0]["thumb"].replace(PUBLIC, provider.url), timeout=5)]
    stash.stop()
    seen += [requests.get(f"{provider.url}/library/metadata/scene-{scene + 1}", timeout=5),
             requests.get(f"{provider.url}/health", timeout=5)]

    assert len(seen) >= 8 and {r.status_code for r in seen} >= {200, 503}
    for response in seen:
        assert API_KEY not in response.text and API_KEY.encode() not in response.content
        assert all(API_KEY not in value for value in response.headers.values())
        assert "apikey" not in response.text.lower()
    assert API_KEY not in caplog.text


def test_plex_path_map_from_the_environment_overrides_the_plugin_setting(stash, served):
    scene = add(stash, "clip.mp4", "x")
    provider = served(PLEXSYNC_PATH_MAP=f"{STASH_ROOT}=>/mnt/plex")

    assert match(provider, filename="/mnt/plex/x/clip.mp4")[0]["score"] == 100
    assert match(provider, filename="/mnt/plex/x/clip.mp4")[0]["ratingKey"] == f"scene-{scene}"


# ------------------------------------------------------------------------------- the fake Plex's rules


def test_a_refresh_adds_tags_never_removes_them_and_keeps_locked_fields(stash, served, plex):
    scene = rich_scene(stash)
    provider = served()
    agents = agents_for(plex, provider)
    key = agents.scan_file(1, f"{PLEX_ROOT}/2024/sunset.mp4")
    with plex.changing(key) as item:
        item.fields["summary"] = "My own words"
        item.locks.add("summary")
    stash.update_scene(scene, tags=["Beach", "Night"], details="Changed in Stash", title="Sunset, Renamed")
    provider.provider.cache.ttl = 0  # no brief cache between the two refreshes of this test

    assert agents.refresh(key)
    item = plex.item(key)
    assert item.tag_names("genre") == ["Beach", "Evening", "Night"]  # Evening stays: Plex never removes on refresh
    assert item.fields["summary"] == "My own words" and item.fields["title"] == "Sunset, Renamed"


def test_registration_checks_the_provider_document_as_plex_does(plex, tmp_path):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from plexsync.sandbox.plex_agents import ProviderRejected
    from plexsync.provider.documents import media_provider

    documents = {}

    class Stub(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(documents[self.path.split("?")[0]]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    good = media_provider()
    bad_identifier = {"MediaProvider": {**good["MediaProvider"], "identifier": "tv.plex.agents.stash2plex"}}
    bad_type = {"MediaProvider": {**good["MediaProvider"], "Types": [{"type": 8, "Scheme": [{"scheme": IDENTIFIER}]}]}}
    absolute_key = {"MediaProvider": {**good["MediaProvider"],
                                      "Feature": [{"type": "match", "key": "http://x/library/metadata/matches"},
                                                  {"type": "metadata", "key": "/library/metadata"}]}}
    documents.update({"/good": good, "/identifier": bad_identifier, "/type": bad_type, "/key": absolute_key})
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    agents = MetadataAgents(plex)
    try:
        for path, words in (("/identifier", "must be tv.plex.agents.custom."), ("/type", "Unsupported metadata types"),
                            ("/key", "not relative")):
            with pytest.raises(ProviderRejected, match=words):
                agents.register(base + path)
        token = {"X-Plex-Token": plex.token}
        added = requests.post(f"{plex.url}/media/providers/metadata", params={"uri": base + "/good"}, headers=token, timeout=5)
        again = requests.post(f"{plex.url}/media/providers/metadata", params={"uri": base + "/good"}, headers=token, timeout=5)
        listed = requests.get(f"{plex.url}/media/providers/metadata", headers={**token, "Accept": "application/json"}, timeout=5)
    finally:
        server.shutdown()
    assert added.status_code == 200 and again.status_code == 409
    assert [p["identifier"] for p in listed.json()["MediaContainer"]["MetadataAgentProvider"]] == [IDENTIFIER]


def test_settings_saved_in_stash_reach_the_provider_within_five_minutes(stash, served, clock):
    scene = rich_scene(stash)
    provider = served()
    url = f"{provider.url}/library/metadata/scene-{scene}"
    before = requests.get(url, timeout=5).json()["MediaContainer"]["Metadata"][0]
    stash.set_plugin_settings("PlexSync", {"path_map": f"{STASH_ROOT}=>{PLEX_ROOT}", "sync_tags": False})
    clock.advance(301)
    provider.provider.cache.ttl = 0

    def genres_gone() -> bool:  # the first request after 5 minutes re-reads them in the background
        return "Genre" not in requests.get(url, timeout=5).json()["MediaContainer"]["Metadata"][0]

    assert before["Genre"] and wait_for(genres_gone, timeout=10)


def test_only_movies_are_matched_and_adult_scenes_only_when_plex_includes_adult_content(stash, served, caplog):
    add(stash, "clip.mp4")
    provider = served()

    assert match(provider, filename="clip.mp4", type=2) == []
    assert match(provider, filename="clip.mp4", includeAdult=0) == []
    assert match(provider, filename="clip.mp4", includeAdult=1) and match(provider, filename="clip.mp4")
    assert caplog.text.count("includeAdult=0") == 1
    not_adult = served(PLEXSYNC_CONTENT_RATING="")
    assert match(not_adult, filename="clip.mp4", includeAdult=0)


# ------------------------------------------------------------------------------- scan read-ahead


def scan_folder(plex, provider, names: list, folder: str = "show") -> list:
    """Scan files into the fake Plex through the provider, in this order; their Plex rating keys."""
    agents = agents_for(plex, provider)
    return [agents.scan_file(1, f"{PLEX_ROOT}/{folder}/{name}") for name in names]


def test_a_match_fetches_the_scenes_plex_scans_next_in_one_request_and_their_metadata_asks_stash_nothing(stash, served, plex):
    names = [f"part {n}.mp4" for n in range(1, 13)]  # path order is natural order: "part 2" before "part 10"
    scenes = [add(stash, name, "show", title=f"Part {n}") for n, name in enumerate(names, 1)]
    later = add(stash, "a.mp4", "show2", title="Next folder")
    provider = served()
    stash.reset_log()

    keys = scan_folder(plex, provider, names)

    batches = [r for r in stash.requests if r.operation_name == "ScenesById"]
    assert [plex.item(key).fields["title"] for key in keys] == [f"Part {n}" for n in range(1, 13)]
    assert stash.count("FindScene") == 1  # the first file's scene, alone: its own answer waits for no batch
    assert len(batches) == 1 and batches[0].variables["ids"] == [str(s) for s in scenes[1:] + [later]]
    assert len(stash.requests) == 2  # every other metadata request was a cache hit


def test_a_scan_in_path_order_reads_ahead_one_batch_at_a_time(stash, served, plex):
    names = [f"clip-{n:02d}.mp4" for n in range(1, 22)]
    for name in names:
        add(stash, name, "show")
    provider = served()
    provider.provider.cache.batch = 5
    stash.reset_log()

    keys = scan_folder(plex, provider, names)

    batches = [r.variables["ids"] for r in stash.requests if r.operation_name == "ScenesById"]
    assert all(plex.item(key).guid.endswith(f"scene-{n}") for n, key in enumerate(keys, 1))
    assert stash.count("FindScene") == 1 and [len(ids) for ids in batches] == [5, 5, 5, 5]
    assert [int(i) for ids in batches for i in ids] == list(range(2, 22))  # each scene fetched once, in order


def test_files_stash_adds_or_moves_after_the_index_was_built_take_their_place_in_the_read_ahead(stash, served, clock):
    first, second, moved = (add(stash, f"part {n}.mp4", "show") for n in (1, 2, 4))
    provider = served()
    third = add(stash, "part 3.mp4", "show")
    stash.update_scene(moved, files=[{"path": f"{STASH_ROOT}/show/part 1b.mp4", "size": 1000, "duration": 600.0}])
    clock.advance(61)  # the next request refreshes the index from updated_at (no rebuild: nothing was deleted)
    stash.reset_log()

    assert match(provider, filename=f"{PLEX_ROOT}/show/part 1.mp4")[0]["ratingKey"] == f"scene-{first}"

    assert wait_for(lambda: stash.count("ScenesById") == 1, timeout=10)
    batch = [r.variables["ids"] for r in stash.requests if r.operation_name == "ScenesById"][0]
    assert batch == [str(moved), str(second), str(third)] and stash.count("ProviderIndex") == 0
    assert provider.provider.index.following(third, 5) == []  # the moved file's old place is gone


def test_a_lone_metadata_request_fetches_its_scene_alone_and_reads_nothing_ahead(stash, served):
    scenes = [add(stash, f"shot {n}.mp4", "lot", title=f"Shot {n}") for n in range(1, 6)]
    provider = served()
    stash.reset_log()

    answer = requests.get(f"{provider.url}/library/metadata/scene-{scenes[2]}", timeout=10)

    assert answer.json()["MediaContainer"]["Metadata"][0]["title"] == "Shot 3"
    assert [r.operation_name for r in stash.requests] == ["FindScene"]  # "Refresh metadata" on one item: no batch


def test_a_scene_deleted_inside_a_batch_does_not_fail_the_metadata_of_the_others(stash, served):
    scenes = [add(stash, f"take {n}.mp4", "set", title=f"Take {n}") for n in range(1, 11)]
    provider = served()
    stash.destroy_scene(scenes[4])  # after the index saw it: findScenes(ids:) now fails for the whole batch
    stash.reset_log()

    assert match(provider, filename=f"{PLEX_ROOT}/set/take 1.mp4")[0]["ratingKey"] == f"scene-{scenes[0]}"
    answers = [requests.get(f"{provider.url}/library/metadata/scene-{s}", timeout=10) for s in scenes]

    assert [a.status_code for a in answers] == [200] * 4 + [404] + [200] * 5
    assert [a.json()["MediaContainer"]["Metadata"][0]["title"] for a in answers if a.status_code == 200] == \
        [f"Take {n}" for n in (1, 2, 3, 4, 6, 7, 8, 9, 10)]
    # the batch was halved until the gone scene was alone: the others still came in batches
    assert stash.count("FindScene") <= 3 and stash.count("ScenesById") <= 5


def test_a_batch_that_fails_because_stash_is_down_caches_nothing(stash, served, clock, caplog):
    scenes = [add(stash, f"cut {n}.mp4", "reel", title=f"Cut {n}") for n in range(1, 6)]
    provider = served()
    stash.add_fault(status=502, operation="ScenesById")
    url = f"{provider.url}/library/metadata/scene-{scenes[2]}"

    assert match(provider, filename=f"{PLEX_ROOT}/reel/cut 1.mp4")[0]["ratingKey"] == f"scene-{scenes[0]}"
    # the read-ahead's batch has failed and scene 1's own findScene has answered (which may open the gate
    # again: Stash did answer); then Stash goes down altogether
    assert wait_for(lambda: "Stash unavailable" in caplog.text and stash.count("FindScene") == 1, timeout=10)
    assert requests.get(f"{provider.url}/library/metadata/scene-{scenes[0]}", timeout=10).status_code == 200
    stash.stop()
    during = requests.get(url, timeout=10)
    stash.start()
    clock.advance(6)  # past the gate's cooldown
    stash.reset_log()
    after = requests.get(url, timeout=10)

    assert during.status_code == 503
    assert after.status_code == 200 and after.json()["MediaContainer"]["Metadata"][0]["title"] == "Cut 3"
    asked = [r.variables["id"] for r in stash.requests if r.operation_name == "FindScene"]
    assert asked.count(str(scenes[2])) == 1  # Stash asked again: the batch's failure was not cached


def test_stash_down_in_the_middle_of_a_scan_gives_503_within_3_s_and_the_scan_recovers(stash, served, plex, clock):
    scenes = [add(stash, f"roll {n}.mp4", "day", title=f"Roll {n}") for n in range(1, 5)]
    provider = served()
    stash.stop()

    started = time.monotonic()
    matched = match(provider, filename=f"{PLEX_ROOT}/day/roll 1.mp4")  # a fresh index answers without Stash
    down = requests.get(f"{provider.url}/library/metadata/scene-{scenes[0]}", timeout=10)
    elapsed = time.monotonic() - started
    stash.start()

    def recovered() -> bool:  # each try past the cooldown of whichever failed fetch came last
        clock.advance(6)
        return bool(match(provider, filename=f"{PLEX_ROOT}/day/roll 1.mp4"))

    assert wait_for(recovered, timeout=10)
    keys = scan_folder(plex, provider, [f"roll {n}.mp4" for n in range(1, 5)], "day")

    assert matched[0]["ratingKey"] == f"scene-{scenes[0]}" and down.status_code == 503 and elapsed < 3
    assert [plex.item(key).fields["title"] for key in keys] == [f"Roll {n}" for n in range(1, 5)]


def test_prefetched_scenes_expire_after_the_ttl_so_a_refresh_reads_stash_again(stash, served, plex, clock):
    scenes = [add(stash, f"ep {n}.mp4", "tv", title=f"Ep {n}") for n in range(1, 4)]
    provider = served()
    agents = agents_for(plex, provider)
    keys = [agents.scan_file(1, f"{PLEX_ROOT}/tv/ep {n}.mp4") for n in range(1, 4)]
    stash.update_scene(scenes[2], title="Ep 3, renamed")
    stash.reset_log()

    agents.refresh(keys[2])
    within_ttl = plex.item(keys[2]).fields["title"]
    clock.advance(31)
    agents.refresh(keys[2])

    assert within_ttl == "Ep 3" and plex.item(keys[2]).fields["title"] == "Ep 3, renamed"
    assert len(stash.requests) == 1  # the refresh within the TTL was a cache hit, the one after it read Stash
