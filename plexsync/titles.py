"""Title templates (``title_template``): ``{studio} - {title}`` rendered from a scene's fields.

A field with no value drops out together with the separator that joined it to its neighbour, and a
pair of brackets around it, so ``{title} ({date})`` renders ``Title`` for a scene without a date and
``{studio} - {title}`` renders ``Title`` for one without a studio. ``{title}`` itself falls back to the
file name (callers pass it), so a scene never gets an empty title from a template.
"""

import functools
import re
from typing import Optional

FIELDS = ("title", "studio", "date", "code", "performers")


def placeholder(name: str) -> str:
    """``{name}``: how a template names a field."""
    return "{" + name + "}"


DEFAULT_TEMPLATE = placeholder("title")
_PART = re.compile(r"\{([^{}]*)\}")
_PAIRS = {"(": ")", "[": "]", "{": "}", "<": ">"}


@functools.lru_cache(maxsize=16)
def parse(template: str) -> tuple:
    """The template as alternating literals and field names (``(lit, field, lit, ..., lit)``).

    ValueError with one line naming the problem: an unknown field or a stray brace.
    """
    parts, position = [], 0
    for match in _PART.finditer(template):
        name = match[1].strip()
        if name not in FIELDS:
            raise ValueError(f"unknown field {{{name}}}; use {', '.join('{' + f + '}' for f in FIELDS)}")
        parts += [template[position:match.start()], name]
        position = match.end()
    parts.append(template[position:])
    if any("{" in text or "}" in text for text in parts[::2]):
        raise ValueError("has a '{' or '}' that does not enclose a field name")
    if len(parts) == 1:
        raise ValueError("names no field; use at least one of " + ", ".join("{" + f + "}" for f in FIELDS))
    return tuple(parts)


def render(template: str, values: dict) -> str:
    """The template filled from ``values`` (field -> text); empty fields drop out with their separators."""
    parts = parse(template)
    literals, fields = list(parts[::2]), [values.get(name) or "" for name in parts[1::2]]
    for index, value in enumerate(fields):
        if not value:
            literals[index], literals[index + 1] = _unbracket(literals[index], literals[index + 1])
    return _join(literals, fields).strip()


def _unbracket(before: str, after: str) -> tuple:
    """Remove a bracket pair that would enclose nothing (``" ("`` + ``")"``)."""
    opening = before.rstrip()[-1:]
    if opening in _PAIRS and after.lstrip().startswith(_PAIRS[opening]):
        return before.rstrip()[:-1], after.lstrip()[1:]
    return before, after


def _join(literals: list, fields: list) -> str:
    """Fields with values, each joined to the previous one by the separator nearest to it."""
    text, pending = literals[0] if fields and fields[0] else "", None
    for index, value in enumerate(fields):
        if not value:
            pending = pending if pending is not None else literals[index]
            continue
        if index > 0 and text:
            text += pending if pending is not None else literals[index]
        text += value
        pending = None
        if not any(fields[index + 1:]):
            text += literals[-1] if fields[-1] else ""
    return text


def check(template: Optional[str]) -> str:
    """The template, validated (ValueError naming the problem)."""
    parse(template or "")
    return template or ""
