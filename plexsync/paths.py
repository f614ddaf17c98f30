"""Path mapping between how Stash and Plex see the same files (``path_map`` rules).

Longest prefix wins; ``/`` and ``\\`` and Windows drive letters are handled; Windows-style paths
compare case-insensitively (as the file system does). A prefix matches only at a folder boundary.
"""

import re
from dataclasses import dataclass
from typing import Iterable

_WINDOWS = re.compile(r"^(?:[A-Za-z]:[\\/]|[A-Za-z]:$|\\\\)")


def is_windows(path: str) -> bool:
    """True for ``C:\\...``, ``C:/...`` and UNC ``\\\\server\\share`` paths."""
    return bool(_WINDOWS.match(path))


def file_key(path: str) -> str:
    """The form used to compare paths: Windows-style paths get ``/`` and lower case."""
    if is_windows(path):
        return path.replace("\\", "/").lower()
    return path


def _under(path: str, prefix: str) -> bool:
    key, pre = file_key(path), file_key(prefix).rstrip("/")
    return key == pre or key.startswith(pre + "/")


def basename(path: str) -> str:
    """The file name, whichever separator the path uses."""
    return re.split(r"[\\/]", path)[-1]


def dirname(path: str) -> str:
    """The folder of a path, keeping its separator style."""
    cut = max(path.rfind("/"), path.rfind("\\"))
    return path[:cut] if cut > 0 else path


class PathMapper:
    """Applies ``path_map`` rules (already sorted longest-first by Settings.path_rules)."""

    def __init__(self, rules: Iterable) -> None:
        self.rules = sorted(rules, key=lambda rule: len(rule.stash.rstrip("/\\")), reverse=True)
        self._inverse = None

    def to_plex(self, stash_path: str) -> str:
        """The path Plex knows for a Stash path (unchanged when no rule applies)."""
        for rule in self.rules:
            if _under(stash_path, rule.stash):
                rest = stash_path[len(rule.stash.rstrip("/\\")):].lstrip("/\\")
                return _join(rule.plex, rest)
        return stash_path

    def maps(self, stash_path: str) -> bool:
        """True if some rule applies to the path."""
        return any(_under(stash_path, rule.stash) for rule in self.rules)

    def to_stash(self, plex_path: str) -> str:
        """The Stash path for a path Plex knows (the inverse rules; longest Plex prefix wins)."""
        if self._inverse is None:
            self._inverse = PathMapper([_Swapped(stash=rule.plex, plex=rule.stash) for rule in self.rules])
        return self._inverse.to_plex(plex_path)


@dataclass(frozen=True)
class _Swapped:
    stash: str
    plex: str


def _join(prefix: str, rest: str) -> str:
    separator = "\\" if is_windows(prefix) and "/" not in prefix else "/"
    rest = rest.replace("\\", separator).replace("/", separator)
    base = prefix.rstrip("/\\")
    return f"{base}{separator}{rest}" if rest else base


def within(path: str, folders: Iterable[str]) -> bool:
    """True if ``path`` lies in one of ``folders`` (Plex library locations)."""
    return any(_under(path, folder) for folder in folders)
