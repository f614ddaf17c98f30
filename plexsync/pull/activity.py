"""What Plex knows about watching and rating, read incrementally, paged and parsed lean.

Never one request per item; 1,000 entries per request:

* plays: the play history, requested as plexapi's ``history()`` requests it (``GET
  /status/sessions/history/all`` with ``sort=viewedAt:desc``, ``librarySectionID``, ``accountID`` for the
  owner's plays only, and ``viewedAt>`` from a unix time), one entry per finished play with its own id
  (the last segment of ``historyKey``), item, account and time;
* watch states: the owner's ``viewOffset``, ``lastViewedAt``, ``userRating`` and ``lastRatedAt`` of the
  items viewed (``lastViewedAt>>=``) or rated (``lastRatedAt>>=``) since a unix time, from the library
  listing with that filter (the field names plexapi's ``search(filters=...)`` sends).

PMS keeps the owner as local account 1; its listings show the token's user, so resume points and
ratings are the owner's (the token PlexSync is given is the owner's: it edits the library).
"""

import logging
from typing import Iterable, Iterator, NamedTuple, Optional
from urllib.parse import quote

from plexsync.plex import PlexClient

log = logging.getLogger(__name__)
OWNER = 1
HISTORY = "/status/sessions/history/all"
PAGE = 1000


class Play(NamedTuple):
    """One finished play in Plex's history."""

    history_id: int
    rating_key: int
    viewed_at: int
    account_id: int
    title: str = ""


class WatchState(NamedTuple):
    """The owner's state of one Plex item; times are unix seconds (0 = never), the offset milliseconds."""

    rating_key: int
    title: str
    file: str
    view_offset: int
    last_viewed_at: int
    user_rating: Optional[float]
    last_rated_at: int


def _int(value: Optional[str]) -> int:
    try:
        return int(float(value)) if value else 0
    except ValueError:
        return 0


def _query(args: dict) -> str:
    """A query string as plexapi's ``joinArgs`` builds it: keys as they are, values quoted, sorted by key."""
    return "?" + "&".join(f"{key}={quote(str(args[key]), safe='')}" for key in sorted(args, key=str.lower))


def history_key(section: int, since: Optional[int], everyone: bool) -> str:
    """The history request for one library: newest first, from ``since`` on, the owner's plays unless ``everyone``."""
    args = {"sort": "viewedAt:desc", "librarySectionID": section}
    if not everyone:
        args["accountID"] = OWNER
    if since is not None:
        args["viewedAt>"] = int(since)
    return HISTORY + _query(args)


def parse_play(video) -> Optional[Play]:
    """A history entry, or None when it lacks an id, an item or a time."""
    history_id = _int((video.attrib.get("historyKey") or "").rsplit("/", 1)[-1])
    rating_key, viewed_at = _int(video.attrib.get("ratingKey")), _int(video.attrib.get("viewedAt"))
    if not (history_id and rating_key and viewed_at):
        return None
    return Play(history_id, rating_key, viewed_at, _int(video.attrib.get("accountID")), video.attrib.get("title", ""))


def parse_state(video) -> WatchState:
    """An item of a listing as the owner's watch state."""
    rating = video.attrib.get("userRating")
    part = video.find("Media/Part")
    return WatchState(_int(video.attrib.get("ratingKey")), video.attrib.get("title", ""),
                      part.attrib.get("file", "") if part is not None else "", _int(video.attrib.get("viewOffset")),
                      _int(video.attrib.get("lastViewedAt")), float(rating) if rating else None,
                      _int(video.attrib.get("lastRatedAt")))


class Activity:
    """Reads plays and watch states of the configured libraries."""

    def __init__(self, plex: PlexClient, sections: Iterable) -> None:
        self.plex, self.sections = plex, sections

    def plays(self, since: Optional[int], everyone: bool) -> Iterator[Play]:
        """Plays viewed at or after ``since`` (all when None), newest first per library."""
        for section in self.sections:
            for page in self.plex.pages(history_key(section.key, since, everyone), "reading the play history", PAGE):
                for video in page:
                    play = parse_play(video)
                    if play is None:
                        log.debug("skipped a history entry without id, item or time: %s", dict(video.attrib))
                        continue
                    yield play

    def states(self, viewed_since: Optional[int], rated_since: Optional[int]) -> dict:
        """ratingKey -> WatchState of the items viewed after ``viewed_since`` or rated after ``rated_since``
        (a None time: that kind is not read)."""
        found = {}
        for name, verb, since in (("lastViewedAt", "viewed", viewed_since), ("lastRatedAt", "rated", rated_since)):
            if since is None:
                continue
            for section in self.sections:
                key = f"/library/sections/{section.key}/all?type=1&{name}%3E%3E={max(0, int(since))}"
                for page in self.plex.pages(key, f"listing what was {verb} in library {section.key}", PAGE):
                    found.update((state.rating_key, state) for state in map(parse_state, page.findall("Video")))
        return found
