"""Plex collections (type 18) through the Plex client: exactly the requests PlexSync needs, parsed lean.

What PMS serves and takes (plexapi 4.18 ``collection.py`` and ``library.py``, the sandbox's
``plex_collections`` fake): a regular collection is the ``collection`` tag of its members, listed by
``GET /library/sections/{id}/all?type=18``, its members in order by ``GET /library/metadata/{rk}/children``;
fields are edited with the section edit (``type=18``), the custom order is ``collectionSort=2`` in its
advanced settings plus moves, and posters upload like an item's. Errors are translated by
``PlexClient.call`` like every other Plex request.
"""

import bisect
from dataclasses import dataclass
from typing import Optional

from plexsync.plex import PAGE_SIZE, PlexClient

COLLECTION_TYPE = 18
CUSTOM_ORDER = 2


@dataclass(frozen=True)
class PlexCollection:
    """A collection as the section listing shows it."""

    rating_key: int
    section: int
    title: str
    summary: str = ""
    child_count: int = 0
    collection_sort: int = 0
    thumb: str = ""
    smart: bool = False


class CollectionsClient:
    """Collection reads and writes on one Plex server (one request each, nothing hidden)."""

    def __init__(self, plex: PlexClient) -> None:
        self.plex = plex

    def _query(self, what: str, key: str, method: str = "get", **kwargs):
        server = self.plex.server
        return self.plex.call(what, server.query, key, method=getattr(server._session, method), **kwargs)

    def _pages(self, what: str, key: str, tag: str, params: Optional[dict] = None) -> list:
        """Every ``tag`` element of a paged container, one request per page."""
        found, start = [], 0
        while True:
            element = self._query(what, key, params=params, headers=_paging(start))
            page = element.findall(tag) if element is not None else []
            found += page
            total = int(element.attrib.get("totalSize") or 0) if element is not None else 0
            start += PAGE_SIZE
            if not page or start >= total:
                return found

    def listing(self, section: int, title: Optional[str] = None) -> list:
        """The section's collections (paged), or those whose title contains ``title``."""
        params = {"type": COLLECTION_TYPE, **({"title": title} if title else {})}
        page = self._pages(f"listing the collections of library {section}", f"/library/sections/{section}/all",
                           "Directory", params)
        return [_collection(entry, section) for entry in page]

    def members(self, rating_key: int) -> list:
        """The member ratingKeys in the collection's order (paged)."""
        page = self._pages(f"reading the members of collection {rating_key}",
                           f"/library/metadata/{rating_key}/children", "Video")
        return [int(video.attrib["ratingKey"]) for video in page]

    def upload_poster(self, rating_key: int, data: bytes) -> None:
        """Upload poster bytes (Plex selects and locks the new poster)."""
        self._query(f"uploading the poster of collection {rating_key}", f"/library/metadata/{rating_key}/posters",
                    "post", data=data)

    def edit(self, section: int, rating_key: int, params: dict) -> None:
        """One edit of the collection's fields (the section edit endpoint, ``type=18``)."""
        self._query(f"editing collection {rating_key}", f"/library/sections/{section}/all", "put",
                    params={"type": COLLECTION_TYPE, "id": rating_key, **params})

    def custom_order(self, rating_key: int) -> None:
        """Switch the collection to its custom order (advanced setting ``collectionSort=2``)."""
        self._query(f"ordering collection {rating_key}", f"/library/metadata/{rating_key}/prefs", "put",
                    params={"collectionSort": CUSTOM_ORDER})

    def move(self, rating_key: int, item: int, after: Optional[int]) -> None:
        """Move a member after another (to the front with ``after`` None)."""
        self._query(f"ordering collection {rating_key}", f"/library/metadata/{rating_key}/items/{item}/move", "put",
                    params={"after": after} if after is not None else None)

    def delete(self, rating_key: int) -> None:
        """Delete a collection (only ever one PlexSync created, and only when it is empty)."""
        self._query(f"deleting collection {rating_key}", f"/library/metadata/{rating_key}", "delete")


def _paging(start: int) -> dict:
    return {"X-Plex-Container-Start": str(start), "X-Plex-Container-Size": str(PAGE_SIZE)}


def _collection(entry, section: int) -> PlexCollection:
    attrs = entry.attrib
    return PlexCollection(int(attrs["ratingKey"]), int(attrs.get("librarySectionID") or section), attrs.get("title", ""),
                          attrs.get("summary", ""), int(attrs.get("childCount") or 0), int(attrs.get("collectionSort") or 0),
                          attrs.get("thumb", ""), attrs.get("smart") == "1")


def moves(current: list, wanted: list) -> list:
    """The fewest ``(item, after)`` moves that put ``wanted``'s items in its order at the front.

    Items not in ``wanted`` (added by hand in Plex) keep their relative order behind them. The
    longest run of wanted items already in order stays put; every other one moves once.
    """
    target = [key for key in wanted if key in set(current)]
    target += [key for key in current if key not in set(target)]
    keep = _longest_in_order([target.index(key) for key in current])
    kept = {current[i] for i in keep}
    result = []
    for position, key in enumerate(target):
        if key not in kept:
            result.append((key, target[position - 1] if position else None))
    return result


def _longest_in_order(sequence: list) -> list:
    """Indexes of a longest strictly increasing subsequence (patience sorting, O(n log n))."""
    tails, tail_index, previous = [], [], [-1] * len(sequence)
    for i, value in enumerate(sequence):
        place = bisect.bisect_left(tails, value)
        if place == len(tails):
            tails.append(value)
            tail_index.append(i)
        else:
            tails[place], tail_index[place] = value, i
        previous[i] = tail_index[place - 1] if place else -1
    chain, i = [], tail_index[-1] if tail_index else -1
    while i >= 0:
        chain.append(i)
        i = previous[i]
    return chain[::-1]
