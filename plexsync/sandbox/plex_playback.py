"""What the fake Plex records when people watch and rate: the play history and each user's watch state.

Attach a :class:`Playback` to a :class:`FakePlex` (``Playback(plex)``); it answers the routes below through
the fake's ``extensions`` hook. Per item and per user account Plex keeps ``viewCount``, ``viewOffset``
(the resume point, ms), ``lastViewedAt``, ``userRating`` (0-10) and ``lastRatedAt``; listings and detail
documents show the token's user, here the server owner (account 1, PMS's local id for its owner), so the
owner's state lives in the item's ``fields`` (fake_plex.py ``USER_STATE_FIELDS``) and other users' here.
The history has one entry per finished play of every user.

Routes, as plexapi 4.18 sends them (checked by tests/test_fake_plex_playback.py with plexapi itself):

* ``GET /status/sessions/history/all``: ``PlexServer.history()``: ``sort=viewedAt:desc`` and optional
  ``accountID``, ``librarySectionID``, ``metadataItemID``, ``viewedAt>`` (from ``mindate``; the key carries
  the ``>``, the ``=`` is the separator: entries viewed at or after), paged by ``X-Plex-Container-Start/Size``
  (headers or parameters) with ``totalSize`` on the container. An unknown parameter answers 400.
* ``DELETE /status/sessions/history/<id>``: ``PlexHistory.delete()``.
* ``PUT /:/rate?key=<ratingKey>&identifier=com.plexapp.plugins.library&rating=<0-10, or -1 to clear>``:
  ``rate()``; sets ``userRating`` and ``lastRatedAt`` (also when clearing).
* ``GET /:/scrobble`` / ``/:/unscrobble`` (``markPlayed``/``markUnplayed``), ``GET /:/progress``
  (``updateProgress``) and ``GET /:/timeline`` (``updateTimeline``): a finished play (history entry,
  ``viewCount`` + 1, resume point gone), unplayed, and a resume point.

Not verified against a real PMS, chosen to be the strict reading: whether ``viewedAt>=`` includes the
boundary second (here it does), whether clearing a rating keeps ``lastRatedAt`` (here it moves), whether
progress moves ``lastViewedAt`` (here it does), and how much PMS caps a container size (here it does not).
"""

import re
from dataclasses import dataclass
from typing import NoReturn, Optional

from plexsync.sandbox.fake_plex import USER_STATE_FIELDS, FakePlex, _el, _empty_reply, _HttpError, _paging, _Reply, _Request, _xml_reply

OWNER = 1  # PMS's local account id for the server owner
LIBRARY = "com.plexapp.plugins.library"
_HISTORY = re.compile(r"/status/sessions/history/all")
_HISTORY_ENTRY = re.compile(r"/status/sessions/history/(\d+)")
_HISTORY_FILTERS = {"accountID": "account_id", "librarySectionID": "section", "metadataItemID": "rating_key"}
_HISTORY_OPTIONS = {"sort", "viewedAt>", "viewedAt<"}


@dataclass(frozen=True)
class Play:
    """One history entry: who finished which item when (``title`` as it was then)."""

    id: int
    rating_key: int
    section: int
    account_id: int
    device_id: int
    viewed_at: int
    title: str


class Playback:
    """Play history and watch state for a FakePlex; also the helpers tests use to "watch" in Plex."""

    def __init__(self, plex: FakePlex) -> None:
        self.plex = plex
        self._plays: list = []
        self._others: dict = {}  # (ratingKey, account) -> watch state of a user other than the owner
        self._next_id = 1
        plex.extensions.append(self)

    # ------------------------------------------------------------------ what a Plex client does

    def play(self, rating_key: int, viewed_at: Optional[int] = None, account: int = OWNER, device: int = 1) -> int:
        """A finished play: a history entry, ``viewCount`` + 1, the resume point gone; returns the entry id."""
        with self.plex._lock:
            item = self.plex._item_or_404(rating_key)
            when = int(viewed_at if viewed_at is not None else self.plex._now())
            entry = Play(self._next_id, item.rating_key, item.section, account, device, when, item.title or "")
            self._next_id += 1
            self._plays.append(entry)
            state = self._state(item.rating_key, account)
            state["viewCount"] = int(state.get("viewCount") or 0) + 1
            state["lastViewedAt"] = max(when, int(state.get("lastViewedAt") or 0))
            state.pop("viewOffset", None)
            return entry.id

    def progress(self, rating_key: int, offset_ms: int, at: Optional[int] = None, account: int = OWNER) -> None:
        """Playback stopped part-way: the resume point, and ``lastViewedAt``."""
        with self.plex._lock:
            state = self._state(self.plex._item_or_404(rating_key).rating_key, account)
            state["viewOffset"] = int(offset_ms)
            state["lastViewedAt"] = int(at if at is not None else self.plex._now())

    def rate(self, rating_key: int, rating: Optional[float], at: Optional[int] = None, account: int = OWNER) -> None:
        """A user rates (0-10) or unrates (None) an item."""
        with self.plex._lock:
            state = self._state(self.plex._item_or_404(rating_key).rating_key, account)
            if rating is None:
                state.pop("userRating", None)
            else:
                state["userRating"] = float(rating)
            state["lastRatedAt"] = int(at if at is not None else self.plex._now())

    def unplay(self, rating_key: int, account: int = OWNER) -> None:
        """Mark unplayed: no views, no resume point (the history stays, as in PMS)."""
        with self.plex._lock:
            state = self._state(self.plex._item_or_404(rating_key).rating_key, account)
            state.pop("viewCount", None)
            state.pop("viewOffset", None)

    # ------------------------------------------------------------------ what tests read

    def plays(self, rating_key: Optional[int] = None, account: Optional[int] = None) -> list:
        """History entries, oldest first, optionally of one item and/or one account."""
        with self.plex._lock:
            return [p for p in self._plays if (rating_key is None or p.rating_key == int(rating_key))
                    and (account is None or p.account_id == account)]

    def state(self, rating_key: int, account: int = OWNER) -> dict:
        """A copy of one user's watch state of an item (userRating, viewCount, viewOffset, lastViewedAt, ...)."""
        with self.plex._lock:
            state = self._state(int(rating_key), account)
            return {key: state[key] for key in USER_STATE_FIELDS + ("userRating",) if key in state}

    def _state(self, rating_key: int, account: int) -> dict:
        if account == OWNER:
            return self.plex._items[rating_key].fields
        return self._others.setdefault((rating_key, account), {})

    # ------------------------------------------------------------------ routes

    def route(self, request: _Request) -> Optional[_Reply]:
        """The playback routes (the fake calls this under its lock, after its own routes)."""
        if _HISTORY.fullmatch(request.path):
            return self._history(request) if request.method == "GET" else _method_not_allowed()
        entry = _HISTORY_ENTRY.fullmatch(request.path)
        if entry:
            return self._delete_entry(int(entry[1])) if request.method == "DELETE" else _method_not_allowed()
        action = {"/:/rate": self._rate, "/:/scrobble": self._scrobble, "/:/unscrobble": self._unscrobble,
                  "/:/progress": self._progress, "/:/timeline": self._timeline}.get(request.path)
        return action(request) if action else None

    def _history(self, request: _Request) -> _Reply:
        matched = self._selected(request)
        start, size = _paging(request)
        page = matched[start:] if size is None else matched[start:start + size]
        root = _el(None, "MediaContainer", {"size": len(page), "totalSize": len(matched), "offset": start})
        for play in page:
            _el(root, "Video", {
                "historyKey": f"/status/sessions/history/{play.id}", "key": f"/library/metadata/{play.rating_key}",
                "ratingKey": play.rating_key, "librarySectionID": play.section, "title": play.title,
                "type": "movie", "viewedAt": play.viewed_at, "accountID": play.account_id, "deviceID": play.device_id,
            })
        return _xml_reply(root)

    def _selected(self, request: _Request) -> list:
        wanted, since, until = {}, None, None
        for key, value in request.query:
            if key in _HISTORY_FILTERS:
                wanted[_HISTORY_FILTERS[key]] = _integer(key, value)
            elif key == "viewedAt>":
                since = _integer(key, value)
            elif key == "viewedAt<":
                until = _integer(key, value)
            elif key not in _HISTORY_OPTIONS and not key.startswith("X-Plex-"):
                raise _HttpError(400, f"unsupported history parameter {key!r}")
        plays = [p for p in self._plays if all(getattr(p, name) == value for name, value in wanted.items())
                 and (since is None or p.viewed_at >= since) and (until is None or p.viewed_at <= until)]
        return sorted(plays, key=lambda p: (p.viewed_at, p.id), reverse=_descending(request.param("sort")))

    def _delete_entry(self, entry_id: int) -> _Reply:
        before = len(self._plays)
        self._plays = [p for p in self._plays if p.id != entry_id]
        if len(self._plays) == before:
            raise _HttpError(404, f"no history entry {entry_id}")
        return _empty_reply()

    def _target(self, request: _Request, key_param: str = "key") -> int:
        if request.param("identifier") != LIBRARY:
            raise _HttpError(400, f"identifier must be {LIBRARY}")
        return self.plex._item_or_404(_integer(key_param, request.param(key_param) or "")).rating_key

    def _rate(self, request: _Request) -> _Reply:
        if request.method not in ("PUT", "GET"):
            return _method_not_allowed()
        rating_key = self._target(request)
        try:
            rating = float(request.param("rating") or "")
        except ValueError:
            raise _HttpError(400, "rating must be a number") from None
        if rating != -1 and not 0 <= rating <= 10:
            raise _HttpError(400, "rating must be 0-10, or -1 to clear")
        self.rate(rating_key, None if rating == -1 else rating)
        return _empty_reply()

    def _scrobble(self, request: _Request) -> _Reply:
        self.play(self._target(request))
        return _empty_reply()

    def _unscrobble(self, request: _Request) -> _Reply:
        self.unplay(self._target(request))
        return _empty_reply()

    def _progress(self, request: _Request) -> _Reply:
        self.progress(self._target(request), _integer("time", request.param("time") or ""))
        return _empty_reply()

    def _timeline(self, request: _Request) -> _Reply:
        self.progress(self._target(request, "ratingKey"), _integer("time", request.param("time") or ""))
        return _empty_reply()


def _integer(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _HttpError(400, f"{name} must be an integer, got {value!r}") from None


def _descending(sort: Optional[str]) -> bool:
    if sort in (None, "", "viewedAt:desc"):
        return True
    if sort in ("viewedAt", "viewedAt:asc"):
        return False
    raise _HttpError(400, f"unsupported history sort {sort!r}")


def _method_not_allowed() -> NoReturn:
    raise _HttpError(405, "method not allowed")
