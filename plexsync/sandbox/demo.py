"""``python -m plexsync demo``: PlexSync end to end on the built-in sandbox, narrated.

Starts a fake Stash and a fake Plex on loopback, installs PlexSync into a temporary plugins folder,
saves a scene in the fake Stash, runs the hook exactly as Stash would, and shows the queued job, the
``status`` task's answer, and the Plex item before and after the background worker synced it. Then,
when the provider's requirements are installed, the fake Plex adds PlexSync's metadata provider and
scans a new file in through it.
"""

import json
import os
import time

from plexsync.sandbox import stash_schema
from plexsync.sandbox.world import Sandbox

FIELDS = ("title", "summary", "studio", "originallyAvailableAt")


def _show_item(sandbox: Sandbox, key: int, heading: str) -> dict:
    item = sandbox.plex.item(key)
    shown = {name: item.fields.get(name) for name in FIELDS}
    shown.update(genres=item.tag_names("genre"), actors=item.tag_names("actor"),
                 collections=item.tag_names("collection"), locked=sorted(item.locks),
                 poster="uploaded" if item.poster_bytes else None)
    print(f"\n{heading}")
    for name, value in shown.items():
        print(f"  {name:22} {value}")
    return shown


def _show_result(label: str, result) -> None:
    print(f"\n{label}: output={json.dumps(result.output)} error={result.error} ({result.duration * 1000:.0f} ms)")
    for level, message in result.logs:
        print(f"  [{level}] {message}")


def _wait_for_sync(sandbox: Sandbox, key: int, title: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sandbox.plex.item(key).fields.get("title") == title:
            return True
        time.sleep(0.1)
    return False


def _provider_demo(sandbox: Sandbox) -> dict:
    """A new file scanned into Plex through the metadata provider: Stash's metadata at scan time."""
    try:
        from plexsync.sandbox.plex_agents import MetadataAgents
        from plexsync.sandbox.provider_run import ProviderThread
    except ImportError as exc:
        print(f"\n(skipping the metadata provider: {exc.name} is not installed; pip install -r requirements-provider.txt)")
        return {}
    stash = sandbox.stash
    scene = stash.add_scene(title="Harbour Lights", details="Boats coming home.", date="2024-07-02",
                            studio="Harbour Films", performers=["Ava Stone"], tags=["Harbour", "Night"],
                            files=[("/data/videos/new/harbour-lights.mp4", 4_000_000)])
    with ProviderThread({"STASH_URL": stash.url}) as provider:
        agents = MetadataAgents(sandbox.plex)
        registered = agents.register(provider.url)
        agents.use(sandbox.section, registered.identifier)
        print(f"\nPlex added the metadata provider {registered.identifier} at {provider.url}; scanning a new file ...")
        key = agents.scan_file(sandbox.section, "/media/videos/new/harbour-lights.mp4", 4_000_000)
    print(f"  provider calls: {', '.join(f'{e.kind} ({e.detail})' for e in agents.events if e.rating_key == key)}")
    shown = _show_item(sandbox, key, f"Plex item {key} right after the scan (guid {sandbox.plex.item(key).guid}):")
    return {"scene": scene, "plex_item": shown}


def run_demo(keep: bool = False) -> dict:
    """Run the narrated demo; returns the Plex item after the sync."""
    os.environ.setdefault("PLEXSYNC_IDLE_EXIT", "2")
    sandbox = Sandbox().start()
    try:
        host = sandbox.host()
        scene, key = sandbox.add_scene("clip-0042", file_name="clip-0042.mp4")
        print(f"Sandbox: fake Stash at {sandbox.stash.url}, fake Plex at {sandbox.plex.url}")
        print(f"The fake Stash serves {stash_schema.describe(sandbox.stash.schema_dir)}")
        print(f"PlexSync installed in {sandbox.plugin_dir}; Stash sees /data/videos, Plex sees /media/videos")
        _show_item(sandbox, key, f"Plex item {key} before:")
        print(f"\nSaving scene {scene} in Stash (title, details, studio, date, performers, tags) ...")
        stash = sandbox.stash
        results = host.scene_update(scene, title="Sunset at the Pier", details="A long evening by the sea.",
                                    studio_id=str(stash.add_studio("Harbour Films")), date="2024-06-21",
                                    performer_ids=[str(stash.add_performer(n)) for n in ("Ava Stone", "Ben Reed")],
                                    tag_ids=[str(stash.add_tag(n)) for n in ("Beach", "Evening", "Drama")])
        _show_result("Scene.Update.Post hook", results[0])
        _show_result("status task", host.run_task_by_mode("PlexSync", "status"))
        synced = _wait_for_sync(sandbox, key, "Sunset at the Pier")
        after = _show_item(sandbox, key, f"Plex item {key} after the background worker ran:" if synced
                           else "Plex item after 30 s (the worker did not sync it!):")
        _show_result("status task", host.run_task_by_mode("PlexSync", "status"))
        return {"synced": synced, "plex_item": after, "provider": _provider_demo(sandbox)}
    finally:
        if keep:
            print(f"\nkept: {sandbox.root}")
            sandbox.stop_worker()
        else:
            sandbox.stop()
