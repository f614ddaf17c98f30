"""Where each Stash tag goes in Plex: nowhere (``exclude_tags``), a label (``label_tags``), or ``tags_as``.

Both settings name tags, and a named tag stands for its descendants too, so the routes are built
from Stash's tag hierarchy (each tag's parents): one paged ``findTags`` pass, only when either
setting is set. Names match case-insensitively. A tag under both an excluded and a label parent is
excluded. ``via`` remembers which named tag routed each tag, so a fan-out for that tag (renamed,
moved in the hierarchy) reaches the scenes it routed before.
"""

from dataclasses import dataclass, field
from typing import Iterable


@dataclass(frozen=True)
class TagRoutes:
    """Tag ids never sent, tag ids sent as labels, and the named tag that routed each."""

    excluded: frozenset = frozenset()
    labels: frozenset = frozenset()
    via: dict = field(default_factory=dict, compare=False)
    missing: tuple = ()  # configured names Stash has no tag for

    def route(self, tag_id: int) -> str:
        """``exclude``, ``label`` or ``default`` for one tag id."""
        if tag_id in self.excluded:
            return "exclude"
        return "label" if tag_id in self.labels else "default"


def build_routes(tags: Iterable[dict], excluded_names: list, label_names: list) -> TagRoutes:
    """Routes from every tag (``{id, name, parents: [{id}]}``) and the configured, lower-cased names."""
    tags = list(tags)
    children: dict = {}
    by_name: dict = {}
    for tag in tags:
        by_name.setdefault(str(tag["name"]).lower(), int(tag["id"]))
        for parent in tag.get("parents") or []:
            children.setdefault(int(parent["id"]), []).append(int(tag["id"]))
    via: dict = {}
    excluded = _subtrees(_ids(by_name, excluded_names), children, via)
    labels = _subtrees(_ids(by_name, label_names), children, via) - excluded
    missing = tuple(name for name in list(excluded_names) + list(label_names) if name not in by_name)
    return TagRoutes(frozenset(excluded), frozenset(labels), via, missing)


def _ids(by_name: dict, names: list) -> list:
    return [by_name[name] for name in names if name in by_name]


def _subtrees(roots: list, children: dict, via: dict) -> set:
    """Every tag under the roots (the roots included); cycles in a broken hierarchy end the walk."""
    found: set = set()
    for root in roots:
        stack = [root]
        while stack:
            tag_id = stack.pop()
            if tag_id in found:
                continue
            found.add(tag_id)
            via.setdefault(tag_id, root)
            stack.extend(children.get(tag_id, ()))
    return found
