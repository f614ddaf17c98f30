"""``preview`` and ``reindex``: look at what a sync would do, and at the library index, without writing."""

import logging
from typing import Optional

from plexsync.errors import PlexSyncError
from plexsync.matcher import scene_files
from plexsync.metadata import desired_state, plan_edit, plex_view, skip_reason
from plexsync.runtime import Runtime
from plexsync.stashlog import PATHS

log = logging.getLogger(__name__)
PREVIEW_COUNT = 20


def _scenes_to_preview(runtime: Runtime, scene_id: Optional[int]) -> list:
    if scene_id is not None:
        scene = runtime.stash.find_scene(scene_id)
        return [scene] if scene else []
    _, scenes = runtime.stash.scenes_page(1, PREVIEW_COUNT, sort="updated_at", direction="DESC")
    return scenes


def _indexed(params: dict, kind: str, part: str) -> list:
    """Values of ``kind[i].<part>`` keys in index order."""
    prefix, suffix = f"{kind}[", f"].{part}"
    found = {int(k[len(prefix):-len(suffix)]): v for k, v in params.items()
             if k.startswith(prefix) and k.endswith(suffix) and k[len(prefix):-len(suffix)].isdigit()}
    return [found[i] for i in sorted(found)]


def _changes(params: dict, view) -> dict:
    changes = {}
    for key, value in params.items():
        if key.endswith(".value"):
            name = key[:-6]
            changes[name] = {"plex": view.scalars.get(name, ""), "stash": value}
    for kind in ("genre", "label", "actor", "collection"):
        wanted = _indexed(params, kind, "tag.tag")
        if wanted or f"{kind}[].tag.tag-" in params:
            changes[kind] = {"plex": view.tags.get(kind, []), "stash": wanted}
    names = _indexed(params, "actor", "tag.tag")
    photos = {name: params[f"actor[{i}].tag.thumb"] for i, name in enumerate(names)
              if params.get(f"actor[{i}].tag.thumb") and params[f"actor[{i}].tag.thumb"] != view.thumbs.get(name.lower())}
    if photos:
        changes["photos"] = {"plex": {name: view.thumbs.get(name.lower(), "") for name in photos}, "stash": photos}
    return changes


def preview_scene(runtime: Runtime, scene: dict) -> dict:
    """The match and the field-by-field diff a sync would apply to one scene."""
    entry = {"scene_id": int(scene["id"]), "title": scene.get("title") or ""}
    try:
        match = runtime.delivery.syncer.matcher.match(scene)
        item = runtime.plex.fetch_item(match.rating_key)
    except PlexSyncError as exc:
        return {**entry, "match": None, "reason": str(exc), "error_class": exc.error_class}
    syncer = runtime.delivery.syncer
    record = syncer.records.get(entry["scene_id"])
    view = plex_view(item)
    desired = desired_state(scene, runtime.settings, syncer.shaping())
    params, _ = plan_edit(desired, view, record.written if record else {}, runtime.settings.preserve_plex_edits)
    excluded = skip_reason(scene, runtime.settings)
    collections = syncer.extras.collections.preview(int(item.librarySectionID or 0), desired.collections) if syncer.extras else []
    return {**entry, "match": {"rating_key": match.rating_key, "confidence": match.confidence, "file": PATHS.shown(match.plex_file),
                               "plex_title": item.title or "", "library": item.librarySectionTitle or ""},
            "changes": {} if excluded else _changes(params, view), "collections": [] if excluded else collections,
            **({"excluded": excluded} if excluded else {})}


def preview(runtime: Runtime, scene_id: Optional[int]) -> list:
    """Preview the given scene, or the 20 most recently updated ones; logs one block per scene."""
    results = [preview_scene(runtime, scene) for scene in _scenes_to_preview(runtime, scene_id)]
    for result in results:
        if result["match"] is None:
            log.info('scene %s "%s": no match: %s', result["scene_id"], result["title"], result["reason"])
            continue
        match = result["match"]
        summary = result.get("excluded") or ("no changes" if not result["changes"] else f"{len(result['changes'])} fields would change")
        log.info('scene %s "%s" -> Plex %s (%s confidence): %s', result["scene_id"], result["title"],
                 match["rating_key"], match["confidence"], summary)
        for field, change in result["changes"].items():
            log.info("  %s: %r -> %r", field, change["plex"], change["stash"])
        for collection in result["collections"]:
            log.info('  collection "%s" (%s): %s', collection["title"], collection["state"],
                     ", ".join(collection["changes"]) or "no changes")
    return results


def reindex(runtime: Runtime) -> dict:
    """Rebuild the library index; report items per section and how many Stash paths map to none."""
    per_section = runtime.index.build(force=True)
    mapper, index = runtime.delivery.syncer.matcher.mapper, runtime.index
    scenes = unmatched = 0
    examples = []
    for _, _, page in runtime.stash.all_scenes(per_page=250):
        for scene in page:
            scenes += 1
            paths = [mapper.to_plex(path) for path, _ in scene_files(scene)]
            if paths and not any(index.by_path(path) for path in paths):
                unmatched += 1
                if len(examples) < 10:
                    examples.append(f"scene {scene['id']}: {PATHS.shown(paths[0])}")
    log.info("reindex: %s; %s of %s Stash scenes have no Plex item at their mapped path",
             ", ".join(f"{title}: {count} items" for title, count in per_section.items()), unmatched, scenes)
    for example in examples:
        log.info("  %s", example)
    return {"sections": per_section, "scenes": scenes, "unmatched": unmatched, "examples": examples}
