"""What a pull changes in one scene: plays to add, the resume time, the rating. Pure decisions.

Plays: the new ones (never pulled before), plus those a killed pull sent without seeing Stash's answer
that are not in the scene's ``play_history`` (after setting aside the plays the pull added earlier at
the same second). Resume: Plex's ``viewOffset`` when the owner viewed the item after the pull last acted
on it and after Stash's last play (``last_played_at``, as it was before this pull), and it
differs from Stash's by a second or more; a finished play (no offset) clears a resume time as Stash's
own player does. Rating: ``rating.plan_pull``, when the owner rated (or unrated) the item after the pull
last acted on it; Stash counts as newer when its scene was updated after Plex's rating.
"""

from collections import Counter
from typing import NamedTuple, Optional

from plexsync.pull.activity import WatchState
from plexsync.rating import Pull, plan_pull
from plexsync.stash import parse_time


class SceneChange(NamedTuple):
    """One scene's part of a pull."""

    scene_id: int
    plays: tuple  # Play
    settled: tuple  # history ids a killed pull had sent and Stash has
    resume: Optional[float]  # seconds (0 clears), None = leave
    rating: Optional[Pull]  # a Pull with write=True, or None

    @property
    def changed(self) -> bool:
        """True if Stash must be written."""
        return bool(self.plays) or self.resume is not None or self.rating is not None


def settle(pending: list, history: list, done: list) -> tuple:
    """(history ids already in Stash, plays still to send) for the plays a killed pull had sent to a scene.

    Stash adds one request's plays in one transaction: all of them are in ``history`` or none is.
    """
    have = Counter(int(t) for t in (parse_time(text) for text in history) if t is not None)
    have.subtract(Counter(done))
    wanted = Counter(play.viewed_at for play in pending)
    if all(have[t] >= n for t, n in wanted.items()):
        return tuple(play.history_id for play in pending), ()
    return (), tuple(pending)


def resume_time(state: WatchState, mark: tuple, scene: dict) -> Optional[float]:
    """The resume time to write, or None."""
    if not state.last_viewed_at or state.last_viewed_at <= mark[0]:
        return None
    if state.last_viewed_at <= (parse_time(scene.get("last_played_at")) or 0):
        return None  # Stash's last play is as recent as Plex's last view, or more
    seconds = round(state.view_offset / 1000, 3)
    have = float(scene.get("resume_time") or 0)
    return seconds if abs(seconds - have) >= 1 else None


def rating_pull(state: WatchState, mark: tuple, scene: dict, agreed: Optional[float]) -> Optional[Pull]:
    """The rating to write (a Pull with write=True), or None."""
    if not state.last_rated_at or state.last_rated_at <= mark[1]:
        return None
    stash_newer = (parse_time(scene.get("updated_at")) or 0) > state.last_rated_at
    pull = plan_pull(state.user_rating, scene.get("rating100"), agreed, stash_newer)
    return pull if pull.write else None


def decide(scene: dict, plays: tuple, pending: list, done: list, state: Optional[WatchState], mark: tuple,
           agreed: Optional[float], options) -> SceneChange:
    """The change for one scene; ``options`` are the settings (pull_plays, pull_resume, pull_ratings)."""
    settled, resend = settle(pending, scene.get("play_history") or [], done) if pending else ((), ())
    to_add = (tuple(plays) if options.pull_plays else ()) + resend
    resume = resume_time(state, mark, scene) if state and options.pull_resume else None
    rating = rating_pull(state, mark, scene, agreed) if state and options.pull_ratings else None
    return SceneChange(int(scene["id"]), to_add, settled, resume, rating)
