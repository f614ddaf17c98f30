"""Ratings on both sides: Stash's ``rating100`` (1-100) and Plex's ``userRating`` (0-10), and who wins.

Scales: Plex shows 0-10 as 0-5 stars; Stash 1-100. A Stash rating becomes ``rating100 / 10``, a Plex rating
``round(userRating * 10)`` (at least 1; Plex's 0, which no Plex client sets, counts as no rating).

Ownership, pushing (Stash -> Plex): Stash's rating wins like every other field, except that an empty
Stash rating clears only a Plex rating PlexSync set, ``preserve_plex_edits`` keeps a Plex rating PlexSync
did not write, and with ``pull_ratings`` on a Plex rating changed after PlexSync last wrote one is left for
the pull to bring back when Stash's rating has not changed since, or changed before the Plex one (the newer
change wins; any other edit of the scene in Stash is no change of its rating).

``agreed`` is the rating both sides last held, as far as PlexSync knows: the one it set in Plex, or the
one it brought from Plex into Stash (kept in the sync record as ``written["rating"]``).
"""

from typing import NamedTuple, Optional

STEP = 0.05  # ratings closer than this are the same (Plex stores floats)


def to_plex(rating100: Optional[int]) -> Optional[float]:
    """A Stash ``rating100`` as a Plex user rating (0-10), or None for no rating."""
    if not rating100 or rating100 <= 0:
        return None
    return round(min(int(rating100), 100) / 10, 1)


def to_stash(user_rating: Optional[float]) -> Optional[int]:
    """A Plex user rating as a Stash ``rating100``, or None for no rating."""
    if user_rating is None or user_rating <= 0:
        return None
    return max(1, min(100, int(round(float(user_rating) * 10))))


def same(a: Optional[float], b: Optional[float]) -> bool:
    """True if two Plex ratings are equal (both None counts as equal)."""
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) < STEP


class Push(NamedTuple):
    """What a sync does with the Plex rating: ``send`` it (``value`` None clears), and what is agreed after."""

    send: bool
    value: Optional[float]
    agreed: Optional[float]


def plan_push(want: Optional[float], have: Optional[float], agreed: Optional[float], preserve: bool,
              plex_newer: bool, pulls: bool = False) -> Push:
    """The rating part of one sync (see the module docstring for the rules).

    ``want``: Stash's rating on Plex's scale; ``have``: the Plex item's; ``plex_newer``: Plex's rating was set
    later than the scene's last update in Stash; ``pulls``: the pull brings ratings back (``pull_ratings``).
    """
    plex_changed = not same(have, agreed)
    if same(want, have):
        return Push(False, want, want)
    plex_wins = pulls and (plex_newer or same(want, agreed))  # the pull brings Plex's change to Stash
    if plex_changed and (plex_wins or (preserve and have is not None)):
        return Push(False, have, agreed)
    if want is None:
        return Push(True, None, None) if agreed is not None and not plex_changed else Push(False, have, agreed)
    return Push(True, want, want)


class Pull(NamedTuple):
    """What a pull does with the Stash rating: ``write`` it (``value`` None clears), and what is agreed after."""

    write: bool
    value: Optional[int]
    agreed: Optional[float]


def plan_pull(plex: Optional[float], stash: Optional[int], agreed: Optional[float], stash_newer: bool) -> Pull:
    """The rating part of one pull: Plex's rating comes to Stash unless it is the agreed one (PlexSync's own
    write, say), Stash already has it, or Stash changed too and later (``stash_newer``). A rating removed in
    Plex clears Stash's only while Stash still holds the agreed one."""
    keep = Pull(False, stash, agreed)
    if same(plex, agreed):
        return keep
    want = to_stash(plex)
    if want == stash:
        return Pull(False, stash, plex)
    stash_changed = not same(to_plex(stash), agreed)
    if plex is None:
        return keep if stash_changed else Pull(True, None, None)
    if stash_changed and stash_newer:
        return keep
    return Pull(True, want, plex)
