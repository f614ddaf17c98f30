"""Logging in Stash's plugin log protocol: ``\\x01<level>\\x02message`` lines on stderr.

Stash reads stderr line by line, treats a line that lacks the prefix as an error, and stops reading
stderr altogether after a line longer than 64 KiB (stash-plugin-protocol.md §3.6). So every line of
every record is prefixed, control characters are made visible, lines are cut below the limit, and
secrets are masked before anything is written.
"""

import logging
import re
import sys

MAX_LINE_BYTES = 60_000
LEVEL_CHARS = {logging.DEBUG: "d", logging.INFO: "i", logging.WARNING: "w", logging.ERROR: "e"}
_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f]"  # compiled on first use (re caches it): hooks rarely log
# One pattern for secret-looking parameters in URLs, headers and cookies; compiled on first use so
# a hook that logs nothing does not pay for it.
_SECRET_PARAMS = r"(?i)(x-plex-token=|apikey[\"']?\s*[:=]\s*[\"']?|session=)[^;&\s\"',}]+"


def mask(secret: str) -> str:
    """Show only the last 4 characters of a secret (and nothing of a short one)."""
    if not secret:
        return ""
    return "****" + secret[-4:] if len(secret) > 8 else "****"


class SecretFilter(logging.Filter):
    """Replaces known secrets and secret-looking URL parameters in every record's final message."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, *secrets: str) -> None:
        """Register secrets (token, API key, cookie) to be masked from now on."""
        self.secrets.update(s for s in secrets if s and len(s) >= 4)

    def scrub(self, text: str) -> str:
        """Return ``text`` with every known secret and secret-looking parameter masked."""
        for secret in self.secrets:
            text = text.replace(secret, mask(secret))
        lowered = text.lower()
        if "token" not in lowered and "apikey" not in lowered and "session" not in lowered:
            return text  # nothing the pattern could match: skip compiling it (a hook's answer)
        return re.sub(_SECRET_PARAMS, r"\1****", text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        return True


SECRETS = SecretFilter()

class PathPrivacy:
    """``obfuscate_paths``: file paths in log lines and messages become deterministic stand-ins.

    Paths reach messages only through ``shown()``, at the few places that name a file (matching,
    scans, previews), so a path with spaces is replaced whole and URLs are left alone.
    """

    def __init__(self) -> None:
        self.enabled = False

    def shown(self, path: str) -> str:
        """The path, or with ``obfuscate_paths`` on, ``<path:1a2b3c4d.ext>`` (same path, same stand-in)."""
        if not self.enabled or not path:
            return path
        import hashlib  # only when obfuscating

        name = re.split(r"[\\/]", path)[-1]
        extension = name.rsplit(".", 1)[1] if "." in name else ""
        digest = hashlib.sha256(path.encode("utf-8", "replace")).hexdigest()[:8]
        return f"<path:{digest}{'.' + extension if extension else ''}>"


PATHS = PathPrivacy()


def stash_lines(level: int, message: str) -> list[str]:
    """Encode one message as Stash log lines: one prefixed line per text line, each cut to size."""
    char = LEVEL_CHARS.get(level) or ("e" if level > logging.ERROR else "d")
    lines = []
    for text in message.splitlines() or [""]:
        text = re.sub(_CONTROL, "?", text).strip()
        if not text:
            continue
        encoded = text.encode("utf-8")
        if len(encoded) > MAX_LINE_BYTES:
            text = encoded[:MAX_LINE_BYTES].decode("utf-8", "ignore") + " [truncated]"
        lines.append(f"\x01{char}\x02{text}\n")
    return lines


class StashHandler(logging.Handler):
    """Writes records to a stream (stderr) in Stash's line protocol."""

    def __init__(self, stream=None) -> None:
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            stream = self.stream or sys.stderr
            stream.write("".join(stash_lines(record.levelno, message)))
            stream.flush()
        except Exception:  # a broken stderr must never break the plugin's answer on stdout
            pass


class OneLineFormatter(logging.Formatter):
    """Message only; an attached traceback is folded into a single line (full trace at DEBUG)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            message = f"{message}: {type(exc).__name__}: {exc}"
        return message


def configure(debug: bool = False, stream=None) -> logging.Logger:
    """Route every logger (ours and the libraries') to Stash's stderr protocol, secrets masked."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = StashHandler(stream)
    handler.setFormatter(OneLineFormatter())
    handler.addFilter(SECRETS)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    return root


def set_debug(debug: bool) -> None:
    """Change the level once settings are known."""
    logging.getLogger().setLevel(logging.DEBUG if debug else logging.INFO)


def apply_cached(log_settings: dict) -> None:
    """Apply the log settings the last process that read them from Stash cached (hooks never ask Stash)."""
    set_debug(bool(log_settings.get("debug_logging")))
    PATHS.enabled = bool(log_settings.get("obfuscate_paths"))


def progress(fraction: float, stream=None) -> None:
    """Report task progress (0..1) as Stash's ``\\x01p\\x02`` line (only when talking to Stash)."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, StashHandler)]
    if not handlers and stream is None:
        return  # the command line or a test: no progress bar to feed
    value = min(1.0, max(0.0, fraction))
    stream = stream or handlers[0].stream or sys.stderr
    try:
        stream.write(f"\x01p\x02{value:.4f}\n")
        stream.flush()
    except Exception:
        pass
