"""A small YAML loader for the subset that Stash plugin manifests use, with no dependency on PyYAML.

Supported: block mappings and sequences (including a sequence at the same indentation as its key),
flow sequences and mappings (also spread over several lines), plain, single- and double-quoted
scalars, plain scalars continued on more-indented lines, ``|`` and ``>`` block scalars, and ``#``
comments. Scalars resolve as go-yaml v2 (YAML 1.1) does: ``yes``/``no``/``on``/``off``/``y``/``n``
are booleans, ``~``/``null``/empty are null, ``0x1f``/``017``/``1_000`` are ints.

Anything else (anchors, aliases, tags, complex keys, several documents) raises :class:`YAMLError`
with the line number, rather than being guessed at.

Two entry points: :func:`safe_load` returns plain Python values (like ``yaml.safe_load``), and
:func:`compose` returns nodes that keep each scalar's source text, which the strict manifest
loader needs because go-yaml stores a scalar's literal text in a Go ``string`` (``1.10`` stays
``"1.10"``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = ["YAMLError", "Scalar", "Seq", "Map", "Node", "compose", "safe_load"]


class YAMLError(ValueError):
    """The text is not YAML, or uses a feature this loader does not support."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


@dataclass
class Scalar:
    """A scalar node: ``text`` is its content (unquoted), ``value`` the resolved Python value."""

    text: str
    value: Any
    line: int
    quoted: bool = False

    @property
    def tag(self) -> str:
        """The YAML tag go-yaml names in its errors (``!!str``, ``!!int``, ...)."""
        return _tag_of(self.value)


@dataclass
class Seq:
    """A sequence node."""

    items: list = field(default_factory=list)
    line: int = 0
    tag: str = "!!seq"


@dataclass
class Map:
    """A mapping node; ``pairs`` keeps the source order (duplicates are rejected when composing)."""

    pairs: list = field(default_factory=list)
    line: int = 0
    tag: str = "!!map"


Node = Union[Scalar, Seq, Map]

_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_FALSE = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INF = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"}
_NAN = {".nan", ".NaN", ".NAN"}
_UNSUPPORTED_START = set("&*!%@`?|>")
_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f",
            "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85",
            "_": "\xa0", "L": "\u2028", "P": "\u2029"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


def _tag_of(value: Any) -> str:
    if value is None:
        return "!!null"
    if isinstance(value, bool):
        return "!!bool"
    if isinstance(value, int):
        return "!!int"
    if isinstance(value, float):
        return "!!float"
    return "!!str"


def resolve_plain(text: str) -> Any:
    """Resolve an unquoted scalar the way go-yaml v2 does (YAML 1.1 booleans, octal ints, ...)."""
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text and text[0] in "+-.0123456789":
        return _resolve_number(text)
    return text


def _resolve_number(text: str) -> Any:
    if text in _INF:
        return math.inf
    if text in {"-.inf", "-.Inf", "-.INF"}:
        return -math.inf
    if text in _NAN:
        return math.nan
    plain = text.replace("_", "")
    if re.fullmatch(r"[-+]?0[0-7]+", plain):
        return int(plain, 8)
    if re.fullmatch(r"[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+)", plain):
        return int(plain, 0)
    if re.fullmatch(r"[-+]?(0|[1-9][0-9]*)", plain):
        return int(plain, 10)
    if _FLOAT_RE.match(plain):
        return float(plain)
    return text


def strip_comment(line: str) -> str:
    """Remove a trailing ``# comment`` (a ``#`` at the start or after whitespace, outside quotes)."""
    quote = None
    prev_sig = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                quote = None
                prev_sig = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
        elif ch in "'\"" and prev_sig in (None, ":", "-", "[", "{", ",") and (i == 0 or line[i - 1] in " \t[{,"):
            quote = ch
        elif ch not in " \t":
            prev_sig = ch
        i += 1
    return line.rstrip()


def unquote_double(body: str, line: int) -> str:
    """Decode the inside of a double-quoted scalar (YAML escapes)."""
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = body[i + 1] if i + 1 < len(body) else ""
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 2
        elif esc in _HEX_ESCAPES:
            width = _HEX_ESCAPES[esc]
            digits = body[i + 2:i + 2 + width]
            if not re.fullmatch(r"[0-9a-fA-F]{%d}" % width, digits):
                raise YAMLError(f"bad escape \\{esc}{digits}", line)
            out.append(chr(int(digits, 16)))
            i += 2 + width
        else:
            raise YAMLError(f"unknown escape character \\{esc}", line)
    return "".join(out)


def _scan_quoted(text: str, start: int, line: int) -> tuple[Scalar, int]:
    """Read a quoted scalar at ``text[start]``; return it and the index just past the closing quote."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        ch = text[i]
        if quote == '"' and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if quote == "'" and text[i + 1:i + 2] == "'":
                i += 2
                continue
            body = text[start + 1:i]
            value = unquote_double(body, line) if quote == '"' else body.replace("''", "'")
            return Scalar(value, value, line, quoted=True), i + 1
        i += 1
    raise YAMLError("unterminated quoted scalar (multi-line quoted scalars are not supported)", line)


class _Flow:
    """Parser for one flow collection (``[...]`` or ``{...}``), already joined onto one line."""

    def __init__(self, text: str, line: int):
        self.text = text
        self.i = 0
        self.line = line

    def skip(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t":
            self.i += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.i] if self.i < len(self.text) else ""

    def node(self) -> Node:
        ch = self.peek()
        if ch == "[":
            return self.seq()
        if ch == "{":
            return self.mapping()
        if ch in "'\"":
            scalar, self.i = _scan_quoted(self.text, self.i, self.line)
            return scalar
        if ch in "&*!|>%@`" or ch == "":
            raise YAMLError(f"unsupported or missing flow value at {self.text[self.i:]!r}", self.line)
        return self.plain()

    def plain(self) -> Scalar:
        start = self.i
        while self.i < len(self.text):
            ch = self.text[self.i]
            if ch in ",[]{}":
                break
            if ch == ":" and self.text[self.i + 1:self.i + 2] in ("", " ", ",", "]", "}"):
                break
            self.i += 1
        text = self.text[start:self.i].strip()
        return Scalar(text, resolve_plain(text), self.line)

    def seq(self) -> Seq:
        self.i += 1
        items = []
        while self.peek() != "]":
            items.append(self.node())
            if self.peek() == ":":
                raise YAMLError("single-pair mappings inside flow sequences are not supported", self.line)
            if not self.separator("]"):
                break
        self.expect("]")
        return Seq(items, self.line)

    def mapping(self) -> Map:
        self.i += 1
        pairs: list = []
        while self.peek() != "}":
            key = self.node()
            if not isinstance(key, Scalar):
                raise YAMLError("flow mapping keys must be scalars", self.line)
            value: Node = Scalar("", None, self.line)
            if self.peek() == ":":
                self.i += 1
                if self.peek() not in (",", "}"):
                    value = self.node()
            _add_pair(pairs, key, value)
            if not self.separator("}"):
                break
        self.expect("}")
        return Map(pairs, self.line)

    def separator(self, close: str) -> bool:
        ch = self.peek()
        if ch == ",":
            self.i += 1
            return True
        if ch != close:
            raise YAMLError(f"expected ',' or '{close}' in flow collection, found {ch!r}", self.line)
        return False

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise YAMLError(f"expected {ch!r} in flow collection", self.line)
        self.i += 1


def _add_pair(pairs: list, key: Scalar, value: Node) -> None:
    marker = (type(key.value).__name__, key.value)
    if any((type(k.value).__name__, k.value) == marker for k, _ in pairs):
        raise YAMLError(f"duplicate key {key.text!r}", key.line)
    pairs.append((key, value))


def _brackets_balanced(text: str) -> bool:
    depth = 0
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and not (quote == '"' and text[i - 1] == "\\"):
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return depth <= 0


@dataclass
class _Line:
    no: int       # 1-based line number
    indent: int
    text: str     # content without indentation and comment


_KEY_RE = re.compile(r"""^(?P<key>"(?:\\.|[^"\\])*"|'(?:''|[^'])*'|[^\s#'"\[\]{},&*!|>%@`?-][^#]*?|-[^\s#][^#]*?)\s*:(?:\s+|$)""")


class _Block:
    """Parser for the block (indentation) structure of a document."""

    def __init__(self, text: str):
        self.raw = text.replace("\r\n", "\n").split("\n")
        self.pos = 0
        self.virtual: _Line | None = None  # the rest of a "- " line, re-read as its own line

    def peek(self) -> _Line | None:
        if self.virtual is not None:
            return self.virtual
        while self.pos < len(self.raw):
            raw = self.raw[self.pos]
            content = strip_comment(raw)
            if content.strip():
                indent = len(content) - len(content.lstrip(" "))
                if content[indent:indent + 1] == "\t":
                    raise YAMLError("tabs are not allowed for indentation", self.pos + 1)
                return _Line(self.pos + 1, indent, content[indent:])
            self.pos += 1
        return None

    def advance(self) -> None:
        if self.virtual is not None:
            self.virtual = None
        self.pos += 1

    def document(self) -> Node:
        first = self.peek()
        if first is not None and first.text.strip() == "---":
            self.advance()
        node = self.block(0)
        rest = self.peek()
        if rest is not None and rest.text.strip() != "...":
            raise YAMLError(f"unexpected content {rest.text!r} (bad indentation?)", rest.no)
        return node

    def block(self, min_indent: int) -> Node:
        line = self.peek()
        if line is None or line.indent < min_indent:
            return Scalar("", None, line.no if line else 0)
        if _is_seq_line(line.text):
            return self.seq(line.indent)
        if _KEY_RE.match(line.text):
            return self.mapping(line.indent)
        self.advance()
        return self.scalar(line.text, min_indent - 1, line.no)

    def mapping(self, indent: int) -> Map:
        pairs: list = []
        first = self.peek()
        while True:
            line = self.peek()
            if line is None or line.indent < indent:
                break
            match = _KEY_RE.match(line.text) if line.indent == indent else None
            if match is None:
                raise YAMLError(f"expected a 'key: value' line, found {line.text!r}", line.no)
            key = self._key(match.group("key"), line.no)
            self.advance()
            _add_pair(pairs, key, self.value(line.text[match.end():], indent, line.no))
        return Map(pairs, first.no if first else 0)

    def seq(self, indent: int) -> Seq:
        items = []
        first = self.peek()
        while True:
            line = self.peek()
            if line is None or line.indent < indent:
                break
            if line.indent > indent:
                raise YAMLError(f"expected a '- item' line, found {line.text!r}", line.no)
            if not _is_seq_line(line.text):
                break
            rest = line.text[1:]
            if not rest.strip():
                self.advance()
                items.append(self.block(indent + 1))
                continue
            # the rest of "- rest" is re-read as a line of its own, indented where "rest" starts
            gap = len(rest) - len(rest.lstrip(" "))
            self.virtual = _Line(line.no, indent + 1 + gap, rest.lstrip(" "))
            items.append(self.block(indent + 1))
        return Seq(items, first.no if first else 0)

    def value(self, rest: str, indent: int, line_no: int) -> Node:
        rest = rest.strip()
        if rest:
            return self.scalar(rest, indent, line_no)
        nxt = self.peek()
        if nxt is not None and nxt.indent > indent:
            return self.block(indent + 1)
        if nxt is not None and nxt.indent == indent and _is_seq_line(nxt.text):
            return self.seq(indent)
        return Scalar("", None, line_no)

    def scalar(self, text: str, parent_indent: int, line_no: int) -> Node:
        if text[0] in "[{":
            return self._flow(text, line_no)
        if text[0] in "|>":
            return self._block_scalar(text, parent_indent, line_no)
        if text[0] in "'\"":
            scalar, end = _scan_quoted(text, 0, line_no)
            if text[end:].strip():
                raise YAMLError(f"unexpected text after quoted scalar: {text[end:]!r}", line_no)
            return scalar
        if text[0] in _UNSUPPORTED_START or text.startswith("- "):
            raise YAMLError(f"unsupported YAML feature at {text!r}", line_no)
        return self._plain(text, parent_indent, line_no)

    def _plain(self, text: str, parent_indent: int, line_no: int) -> Scalar:
        parts = [text.strip()]
        while True:
            nxt = self.peek()
            if nxt is None or nxt.indent <= parent_indent:
                break
            parts.append(nxt.text.strip())
            self.advance()
        joined = " ".join(parts)
        if re.search(r":(\s|$)", joined):
            raise YAMLError(f"mapping values are not allowed here: {joined!r} (quote the value)", line_no)
        return Scalar(joined, resolve_plain(joined), line_no)

    def _flow(self, text: str, line_no: int) -> Node:
        while not _brackets_balanced(text):
            nxt = self.peek()
            if nxt is None:
                raise YAMLError("unterminated flow collection", line_no)
            text += " " + nxt.text
            self.advance()
        parser = _Flow(text, line_no)
        node = parser.node()
        if parser.peek():
            raise YAMLError(f"unexpected text after flow collection: {text[parser.i:]!r}", line_no)
        return node

    def _block_scalar(self, header: str, parent_indent: int, line_no: int) -> Scalar:
        match = re.fullmatch(r"([|>])([-+]?)([1-9]?)([-+]?)", header.strip())
        if match is None:
            raise YAMLError(f"bad block scalar header {header!r}", line_no)
        style, chomp = match.group(1), match.group(2) or match.group(4)
        lines = self._block_lines(parent_indent, int(match.group(3) or 0))
        text = _fold(lines) if style == ">" else "\n".join(lines)
        text = _chomp(text, chomp, bool(lines))
        return Scalar(text, text, line_no, quoted=True)

    def _block_lines(self, parent_indent: int, explicit: int) -> list[str]:
        self.virtual = None
        lines: list[str] = []
        indent = parent_indent + explicit if explicit else None
        while self.pos < len(self.raw):
            raw = self.raw[self.pos].rstrip("\r")
            stripped = raw.lstrip(" ")
            width = len(raw) - len(stripped)
            if not stripped:
                lines.append("")
            elif width <= parent_indent:
                break
            else:
                indent = width if indent is None else indent
                if width < indent:
                    break
                lines.append(raw[indent:])
            self.pos += 1
        while lines and lines[-1] == "" and self.pos < len(self.raw):
            lines.pop()
            self.pos -= 1
        return lines

    @staticmethod
    def _key(text: str, line_no: int) -> Scalar:
        if text[0] in "'\"":
            scalar, _ = _scan_quoted(text, 0, line_no)
            return scalar
        return Scalar(text, resolve_plain(text), line_no)


def _is_seq_line(text: str) -> bool:
    return text == "-" or text.startswith("- ")


def _fold(lines: list[str]) -> str:
    out = lines[0] if lines else ""
    for prev, line in zip(lines, lines[1:]):
        if line == "":
            out += "\n"
        elif prev == "":
            out += line
        elif line.startswith(" ") or prev.startswith(" "):
            out += "\n" + line
        else:
            out += " " + line
    return out


def _chomp(text: str, chomp: str, has_lines: bool) -> str:
    if not has_lines:
        return ""
    body = text.rstrip("\n")
    if chomp == "-":
        return body
    if chomp == "+":
        return text + "\n"
    return body + "\n"


def compose(text: str) -> Node:
    """Parse one YAML document into nodes (scalars keep their source text)."""
    return _Block(text).document()


def to_python(node: Node) -> Any:
    """Convert composed nodes into plain Python values."""
    if isinstance(node, Scalar):
        return node.value
    if isinstance(node, Seq):
        return [to_python(item) for item in node.items]
    return {key.value: to_python(value) for key, value in node.pairs}


def safe_load(text: str) -> Any:
    """Parse one YAML document into plain Python values, like ``yaml.safe_load`` for this subset."""
    return to_python(compose(text))
