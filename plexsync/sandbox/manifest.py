"""Strict plugin manifest loading, as Stash does it (``pkg/plugin/config.go``, go-yaml v2 ``UnmarshalStrict``).

PyYAML parses and composes (``yaml.compose``: nodes that keep each scalar's literal text and line);
this module decodes the nodes the way go-yaml v2 decodes them into Stash's ``plugin.Config`` struct:

* a scalar decoded into a Go ``string`` keeps its literal text: ``1.10`` stays ``"1.10"``, ``yes``
  stays ``"yes"``; a plain null (``~``, ``null``, empty) gives the zero value;
* plain scalars resolve as go-yaml v2 resolves them (``resolve.go``, YAML 1.1): ``y``/``n``/``yes``/
  ``no``/``on``/``off`` are booleans, ``017`` is an int, ``2024-01-02`` a timestamp. The tag only
  shows in errors such as ``cannot unmarshal !!bool `yes` into []string``;
* unknown keys (``field x not found in type plugin.Config``), keys given twice (``field x already
  set in type ...``, ``key "x" already set in map``) and wrong kinds are errors, all collected and
  reported together with their lines, like go-yaml's ``TypeError``; merge keys (``<<``) merge;
* only the first YAML document is read, like ``yaml.Unmarshal``.

Then config.go's own checks: ``interface`` defaults to ``raw`` and must be raw, rpc or js; a setting's
``type`` defaults to ``STRING`` and must be STRING, NUMBER or BOOLEAN.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any, Optional

import yaml

__all__ = ["ManifestError", "load_manifest"]


class ManifestError(ValueError):
    """A plugin YAML that Stash would refuse to load (the message names the file)."""


@dataclass(frozen=True)
class _Struct:
    name: str
    fields: dict


@dataclass(frozen=True)
class _ListOf:
    item: Any


@dataclass(frozen=True)
class _MapOf:
    item: Any


_STR, _PSTR, _STRS, _STRMAP = "string", "*string", "[]string", "map[string]string"
_OPERATION = {"name": _STR, "description": _STR, "execArgs": _STRS, "defaultArgs": _STRMAP}
_HOOK = _Struct("plugin.HookConfig", {**_OPERATION, "triggeredBy": _STRS})
_TASK = _Struct("plugin.OperationConfig", _OPERATION)
_SETTING = _Struct("plugin.SettingConfig", {"displayName": _STR, "description": _STR, "type": _STR})
_CSP = _Struct("plugin.PluginCSP", {"script-src": _STRS, "style-src": _STRS, "connect-src": _STRS})
_UI = _Struct("plugin.UIConfig", {"requires": _STRS, "javascript": _STRS, "css": _STRS,
                                  "assets": _STRMAP, "csp": _CSP})
_CONFIG = _Struct("plugin.Config", {
    "name": _STR, "description": _PSTR, "url": _PSTR, "version": _PSTR, "exec": _STRS, "interface": _STR,
    "errLog": _STR, "tasks": _ListOf(_TASK), "hooks": _ListOf(_HOOK), "settings": _MapOf(_SETTING), "ui": _UI,
})
_INTERFACES = {"raw", "rpc", "js"}
_SETTING_TYPES = {"STRING", "NUMBER", "BOOLEAN"}


# --------------------------------------------------------------------------------------------
# go-yaml v2's resolution of plain scalars (resolve.go)
# --------------------------------------------------------------------------------------------

_YAML_TAG = "tag:yaml.org,2002:"
_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
          "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_SPECIAL_FLOATS = {sign + text for sign in ("", "+", "-") for text in (".inf", ".Inf", ".INF")} | {".nan", ".NaN", ".NAN"}
_TIMESTAMP_RE = re.compile(r"\d{4}-\d\d?-\d\d?(?:[Tt]\d\d?:\d\d?:\d\d?(?:\.\d+)?(?:Z|[-+]\d\d:\d\d)"
                           r"| \d\d?:\d\d?:\d\d?(?:\.\d+)?)?")
_INT_RE = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO]?[0-7]+|0[bB][01]+|[1-9][0-9]*|0)")  # strconv.ParseInt base 0
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")


def go_yaml_tag(text: str) -> str:
    """The short tag go-yaml v2 resolves a plain scalar to: ``!!null``, ``!!bool``, ``!!int``, ..."""
    if text in _NULLS:
        return "!!null"
    if text in _BOOLS:
        return "!!bool"
    if text in _SPECIAL_FLOATS:
        return "!!float"
    if text == "<<":
        return "!!merge"
    if not text or text[0] not in "0123456789+-.":
        return "!!str"
    if text[0].isdigit() and _TIMESTAMP_RE.fullmatch(text):
        return "!!timestamp"
    plain = text if text[0] == "." else text.replace("_", "")
    if _INT_RE.fullmatch(plain):
        return "!!int"
    return "!!float" if _FLOAT_RE.fullmatch(plain) else "!!str"


class _GoYamlLoader(yaml.SafeLoader):
    """PyYAML's parser and composer, resolving plain scalars as go-yaml v2 does."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        """The tag of a node without an explicit one; quoted scalars stay strings."""
        if kind is yaml.ScalarNode and implicit[0]:
            return _YAML_TAG + go_yaml_tag(value)[2:]
        return super().resolve(kind, value, implicit)


def _compose_first_document(text: str) -> Optional[yaml.Node]:
    loader = _GoYamlLoader(text)
    try:
        return loader.get_node() if loader.check_node() else None
    finally:
        loader.dispose()


def _short(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG):] if tag.startswith(_YAML_TAG) else tag


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _describe(node: yaml.Node) -> str:
    """go-yaml's ``terror``: the tag, and a scalar's text cut to 7 characters when longer than 10."""
    if not isinstance(node, yaml.ScalarNode):
        return _short(node.tag)
    text = node.value if len(node.value) <= 10 else node.value[:7] + "..."
    return f"{_short(node.tag)} `{text}`"


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and _short(node.tag) == "!!null"


def _is_merge(key: yaml.Node) -> bool:
    return isinstance(key, yaml.ScalarNode) and _short(key.tag) == "!!merge"


# --------------------------------------------------------------------------------------------
# Decoding into plugin.Config (decode.go, strict)
# --------------------------------------------------------------------------------------------

def _zero(spec: Any) -> Any:
    if spec == _STR:
        return ""
    if spec in (_STRS,) or isinstance(spec, _ListOf):
        return []
    if spec == _STRMAP or isinstance(spec, _MapOf):
        return {}
    if isinstance(spec, _Struct):
        return {key: _zero(sub) for key, sub in spec.fields.items()}
    return None


def _go_type(spec: Any) -> str:
    if isinstance(spec, _ListOf):
        return f"[]{spec.item.name}"
    if isinstance(spec, _MapOf):
        return f"map[string]{spec.item.name}"
    return spec.name if isinstance(spec, _Struct) else spec


class _Decoder:
    """Decodes composed YAML into the plugin config, collecting go-yaml style errors."""

    def __init__(self) -> None:
        self.errors: list = []
        self._active: set = set()

    def fail(self, node: yaml.Node, message: str) -> None:
        self.errors.append(f"line {_line(node)}: {message}")

    def decode(self, node: yaml.Node, spec: Any) -> Any:
        if _is_null(node):
            return None if spec in (_PSTR, _UI, _CSP) else _zero(spec)
        if spec in (_STR, _PSTR):
            return self.scalar(node, spec)
        with self.entered(node):
            return self.collection(node, spec)

    @contextlib.contextmanager
    def entered(self, node: yaml.Node):
        """Refuse an alias inside its own anchor, as decode.go does ("anchor ... contains itself")."""
        if id(node) in self._active:
            raise ManifestError(f"line {_line(node)}: anchor value contains itself")
        self._active.add(id(node))
        try:
            yield
        finally:
            self._active.discard(id(node))

    def collection(self, node: yaml.Node, spec: Any) -> Any:
        if spec == _STRS or isinstance(spec, _ListOf):
            return self.sequence(node, _STR if spec == _STRS else spec.item, spec)
        if spec == _STRMAP or isinstance(spec, _MapOf):
            return self.mapping(node, _STR if spec == _STRMAP else spec.item, spec, {})
        return self.struct(node, spec, _zero(spec))

    def scalar(self, node: yaml.Node, spec: str) -> Optional[str]:
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, f"cannot unmarshal {_describe(node)} into string")
            return None if spec == _PSTR else ""
        return node.value  # go-yaml keeps the literal text: 1.10 stays "1.10", yes stays "yes"

    def sequence(self, node: yaml.Node, item: Any, spec: Any) -> list:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, f"cannot unmarshal {_describe(node)} into {_go_type(spec)}")
            return []
        return [self.decode(child, item) for child in node.value]

    def mapping(self, node: yaml.Node, item: Any, spec: Any, out: dict) -> dict:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"cannot unmarshal {_describe(node)} into {_go_type(spec)}")
            return out
        for key, value in node.value:
            if _is_merge(key):
                self.merge(value, lambda merged: self.mapping(merged, item, spec, out))
            elif not isinstance(key, yaml.ScalarNode):
                self.fail(key, f"cannot unmarshal {_describe(key)} into string")
            elif key.value in out:
                self.fail(value, f"key {json.dumps(key.value, ensure_ascii=False)} already set in map")
            else:
                out[key.value] = self.decode(value, item)
        return out

    def struct(self, node: yaml.Node, spec: _Struct, out: dict) -> dict:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"cannot unmarshal {_describe(node)} into {spec.name}")
            return out
        done: set = set()
        for key, value in node.value:
            if _is_merge(key):
                self.merge(value, lambda merged: self.struct(merged, spec, out))
            elif not isinstance(key, yaml.ScalarNode):
                self.fail(key, f"cannot unmarshal {_describe(key)} into string")
            elif key.value not in spec.fields:
                self.fail(key, f"field {key.value} not found in type {spec.name}")
            elif key.value in done:
                self.fail(key, f"field {key.value} already set in type {spec.name}")
            else:
                done.add(key.value)
                out[key.value] = self.decode(value, spec.fields[key.value])
        return out

    def merge(self, value: yaml.Node, into: Any) -> None:
        """``<<: *base`` or ``<<: [*a, *b]`` (earlier ones win, so they are applied last)."""
        sources = list(reversed(value.value)) if isinstance(value, yaml.SequenceNode) else [value]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise ManifestError(f"line {_line(source)}: map merge requires map or sequence of maps as the value")
            with self.entered(source):
                into(source)


def load_manifest(path: str) -> dict:
    """Load one plugin YAML strictly; return the full config (every key, zero values filled in)."""
    try:
        with open(path, encoding="utf-8") as handle:
            node = _compose_first_document(handle.read())
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: yaml: {_yaml_problem(exc)}") from exc
    decoder = _Decoder()
    try:
        config = (decoder.decode(node, _CONFIG) if node is not None else None) or _zero(_CONFIG)
    except ManifestError as exc:
        raise ManifestError(f"{path}: yaml: {exc}") from exc
    if decoder.errors:
        raise ManifestError(f"{path}: yaml: unmarshal errors:\n  " + "\n  ".join(decoder.errors))
    _validate(path, config)
    return config


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """``line 3: mapping values are not allowed here``: go-yaml's one-line shape for a syntax error."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).replace("\n", " ")
    return f"line {mark.line + 1}: {problem}" if mark is not None else problem


def _validate(path: str, config: dict) -> None:
    """config.go: interface defaults to raw and must be raw|rpc|js; setting types are uppercase."""
    config["interface"] = config["interface"] or "raw"
    if config["interface"] not in _INTERFACES:
        raise ManifestError(f"{path}: invalid interface type {config['interface']}")
    for key, setting in config["settings"].items():
        setting = setting if setting is not None else _zero(_SETTING)
        setting["type"] = setting["type"] or "STRING"
        config["settings"][key] = setting
        if setting["type"] not in _SETTING_TYPES:
            raise ManifestError(f"{path}: invalid setting type {setting['type']} for setting {key}"
                                " (must be STRING, NUMBER or BOOLEAN)")
    config["tasks"] = [t if t is not None else _zero(_TASK) for t in config["tasks"]]
    config["hooks"] = [h if h is not None else _zero(_HOOK) for h in config["hooks"]]
