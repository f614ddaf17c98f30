"""A fake Stash server that speaks real HTTP and a small but real GraphQL, for tests and the demo.

The GraphQL part parses the query document, validates it against a subset of Stash v0.30.1's schema
(so a misspelt field fails here the way it fails against Stash) and resolves only the selected
fields. Status codes follow gqlgen: parse, validation and variable errors answer 422, resolver
errors answer 200 with ``errors`` (docs/stash-plugin-protocol.md §4.2, §5).

Behaviour copied from Stash on purpose, with where it comes from:

* ``updated_at``/``created_at`` are RFC3339 strings in the server's offset without fractional
  seconds, and timestamp filters compare them AS TEXT (``pkg/sqlite/timestamp.go``, §5.3);
* ``findScenes`` with no ``sort`` has no ORDER BY (insertion order here), every sort ends with a
  ``COALESCE(title, id)`` natural, case-insensitive ascending tiebreak, and an unknown sort is an
  error (``pkg/sqlite/scene.go`` ``sceneSortOptions``);
* ``findScenes(ids:)`` ignores the filter and fails if an id is missing;
* plugin settings never saved are absent from ``configuration.plugins`` (§4.1);
* renaming a performer, studio or tag does not touch the scenes' ``updated_at`` (§3.3);
* auth: a non-matching ``ApiKey`` is always 401; otherwise a valid ``session`` cookie or no
  credentials configured (§4.2).
"""

from __future__ import annotations

import base64
import datetime as dt
import difflib
import hashlib
import hmac
import http.server
import json
import os
import random
import re
import shutil
import socket
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

__all__ = ["FakeStash", "RequestRecord", "GraphQLError"]


# --------------------------------------------------------------------------------------------
# GraphQL: lexer and parser
# --------------------------------------------------------------------------------------------

class GraphQLError(Exception):
    """A GraphQL error; ``kind`` is ``parse``/``validation``/``input`` (answer 422) or ``exec`` (200)."""

    def __init__(self, message: str, kind: str = "exec", pos: Optional[int] = None,
                 path: Optional[list] = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.pos = pos
        self.path = path

    def to_json(self, source: str) -> dict:
        """The error as gqlgen writes it (message, locations, path, extensions.code)."""
        out: dict = {"message": self.message}
        if self.pos is not None:
            out["locations"] = [_location(source, self.pos)]
        if self.path is not None:
            out["path"] = self.path
        code = {"parse": "GRAPHQL_PARSE_FAILED", "validation": "GRAPHQL_VALIDATION_FAILED"}.get(self.kind)
        if code:
            out["extensions"] = {"code": code}
        return out


def _location(source: str, pos: int) -> dict:
    line = source.count("\n", 0, pos) + 1
    return {"line": line, "column": pos - (source.rfind("\n", 0, pos) + 1) + 1}


_TOKEN_RE = re.compile(r'''
    (?P<skip>[\s,\ufeff]+|\#[^\n\r]*)
  | (?P<spread>\.\.\.)
  | (?P<punct>[!$&():=@\[\]{}|])
  | (?P<block>"""(?:\\"""|[^"]|"(?!""))*""")
  | (?P<string>"(?:\\.|[^"\\\n\r])*")
  | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
''', re.X)


@dataclass
class _Tok:
    kind: str
    value: str
    pos: int


class _Var(str):
    """A ``$variable`` reference inside a value."""


class _Enum(str):
    """An enum literal (a bare name), as opposed to a quoted string."""


@dataclass
class _Field:
    name: str
    alias: Optional[str]
    args: dict
    directives: list
    selections: Optional[list]
    pos: int


@dataclass
class _Spread:
    name: str
    directives: list
    pos: int


@dataclass
class _Inline:
    type_cond: Optional[str]
    directives: list
    selections: list
    pos: int


@dataclass
class _VarDef:
    name: str
    type: str
    default: Any
    has_default: bool
    pos: int


@dataclass
class _Operation:
    kind: str
    name: Optional[str]
    var_defs: list
    selections: list
    pos: int


@dataclass
class _Fragment:
    name: str
    type_cond: str
    selections: list
    pos: int


@dataclass
class _Document:
    operations: list
    fragments: dict


def _tokenize(source: str) -> list:
    out, pos = [], 0
    while pos < len(source):
        match = _TOKEN_RE.match(source, pos)
        if match is None:
            raise GraphQLError(f'Unexpected character "{source[pos]}"', "parse", pos)
        if match.lastgroup != "skip":
            out.append(_Tok(match.lastgroup, match.group(), pos))
        pos = match.end()
    out.append(_Tok("eof", "", pos))
    return out


def _block_string(raw: str) -> str:
    lines = raw[3:-3].replace('\\"""', '"""').splitlines()
    indents = [len(ln) - len(ln.lstrip()) for ln in lines[1:] if ln.strip()]
    common = min(indents) if indents else 0
    lines = lines[:1] + [ln[common:] for ln in lines[1:]]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


class _Parser:
    """Recursive-descent parser for executable GraphQL documents."""

    def __init__(self, source: str):
        self.toks = _tokenize(source)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def at(self, value: str) -> bool:
        tok = self.peek()
        return tok.kind in ("punct", "spread", "name") and tok.value == value

    def fail(self, expected: str) -> GraphQLError:
        tok = self.peek()
        found = "<EOF>" if tok.kind == "eof" else (f'Name "{tok.value}"' if tok.kind == "name" else tok.value)
        return GraphQLError(f"Expected {expected}, found {found}", "parse", tok.pos)

    def expect(self, value: str) -> _Tok:
        if not self.at(value):
            raise self.fail(value)
        return self.take()

    def name(self) -> str:
        if self.peek().kind != "name":
            raise self.fail("Name")
        return self.take().value

    def document(self) -> _Document:
        ops, frags = [], {}
        while self.peek().kind != "eof":
            if self.at("fragment"):
                frag = self.fragment()
                if frag.name in frags:
                    raise GraphQLError(f'There can be only one fragment named "{frag.name}".', "validation", frag.pos)
                frags[frag.name] = frag
            else:
                ops.append(self.operation())
        if not ops:
            raise GraphQLError("no operation provided", "parse", 0)
        return _Document(ops, frags)

    def fragment(self) -> _Fragment:
        pos = self.expect("fragment").pos
        name = self.name()
        self.expect("on")
        type_cond = self.name()
        self.directives()
        return _Fragment(name, type_cond, self.selection_set(), pos)

    def operation(self) -> _Operation:
        pos = self.peek().pos
        if self.at("{"):
            return _Operation("query", None, [], self.selection_set(), pos)
        kind = self.name()
        if kind not in ("query", "mutation", "subscription"):
            raise GraphQLError(f'Unexpected Name "{kind}"', "parse", pos)
        name = self.name() if self.peek().kind == "name" else None
        var_defs = self.variable_definitions() if self.at("(") else []
        self.directives()
        return _Operation(kind, name, var_defs, self.selection_set(), pos)

    def variable_definitions(self) -> list:
        self.expect("(")
        defs = []
        while not self.at(")"):
            pos = self.expect("$").pos
            name = self.name()
            self.expect(":")
            type_ref = self.type_ref()
            has_default = self.at("=")
            default = None
            if has_default:
                self.take()
                default = self.value(const=True)
            self.directives()
            defs.append(_VarDef(name, type_ref, default, has_default, pos))
        self.expect(")")
        return defs

    def type_ref(self) -> str:
        if self.at("["):
            self.take()
            inner = self.type_ref()
            self.expect("]")
            ref = f"[{inner}]"
        else:
            ref = self.name()
        if self.at("!"):
            self.take()
            ref += "!"
        return ref

    def selection_set(self) -> list:
        self.expect("{")
        selections = []
        while not self.at("}"):
            if self.peek().kind == "eof":
                raise self.fail("}")
            selections.append(self.selection())
        if not selections:
            raise self.fail("Name")
        self.take()
        return selections

    def selection(self):
        pos = self.peek().pos
        if self.at("..."):
            self.take()
            return self.fragment_selection(pos)
        name = self.name()
        alias = None
        if self.at(":"):
            self.take()
            alias, name = name, self.name()
        args = self.arguments() if self.at("(") else {}
        directives = self.directives()
        selections = self.selection_set() if self.at("{") else None
        return _Field(name, alias, args, directives, selections, pos)

    def fragment_selection(self, pos: int):
        if self.at("on"):
            self.take()
            type_cond = self.name()
            return _Inline(type_cond, self.directives(), self.selection_set(), pos)
        if self.at("{") or self.at("@"):
            return _Inline(None, self.directives(), self.selection_set(), pos)
        name = self.name()
        return _Spread(name, self.directives(), pos)

    def arguments(self) -> dict:
        self.expect("(")
        args: dict = {}
        while not self.at(")"):
            pos = self.peek().pos
            name = self.name()
            self.expect(":")
            if name in args:
                raise GraphQLError(f'There can be only one argument named "{name}".', "validation", pos)
            args[name] = self.value()
        self.take()
        return args

    def directives(self) -> list:
        out = []
        while self.at("@"):
            self.take()
            name = self.name()
            out.append((name, self.arguments() if self.at("(") else {}))
        return out

    def value(self, const: bool = False) -> Any:
        tok = self.peek()
        if self.at("$") and not const:
            self.take()
            return _Var(self.name())
        if self.at("["):
            self.take()
            items = []
            while not self.at("]"):
                if self.peek().kind == "eof":
                    raise self.fail("]")
                items.append(self.value(const))
            self.take()
            return items
        if self.at("{"):
            return self.object_value(const)
        return self.scalar_value(tok)

    def object_value(self, const: bool) -> dict:
        self.take()
        obj: dict = {}
        while not self.at("}"):
            name = self.name()
            self.expect(":")
            obj[name] = self.value(const)
        self.take()
        return obj

    def scalar_value(self, tok: _Tok) -> Any:
        self.take()
        if tok.kind == "string":
            return json.loads(tok.value)
        if tok.kind == "block":
            return _block_string(tok.value)
        if tok.kind == "number":
            return float(tok.value) if re.search(r"[.eE]", tok.value) else int(tok.value)
        if tok.kind == "name":
            return {"true": True, "false": False, "null": None}.get(tok.value, _Enum(tok.value))
        self.i -= 1
        raise self.fail("value")


# --------------------------------------------------------------------------------------------
# Schema: the subset of Stash v0.30.1 a sync plugin touches (graphql/schema/**)
# --------------------------------------------------------------------------------------------

_SCALARS = {"ID", "String", "Int", "Float", "Boolean", "Time", "Map", "Any", "Int64", "PluginConfigMap"}

_ENUMS = {
    "SortDirectionEnum": {"ASC", "DESC"},
    "CriterionModifier": {"EQUALS", "NOT_EQUALS", "GREATER_THAN", "LESS_THAN", "IS_NULL", "NOT_NULL",
                          "INCLUDES_ALL", "INCLUDES", "EXCLUDES", "MATCHES_REGEX", "NOT_MATCHES_REGEX",
                          "BETWEEN", "NOT_BETWEEN"},
    "GenderEnum": {"MALE", "FEMALE", "TRANSGENDER_MALE", "TRANSGENDER_FEMALE", "INTERSEX", "NON_BINARY"},
}

_OBJECTS = {
    "Query": {"findScene": "Scene", "findScenes": "FindScenesResultType!", "findPerformer": "Performer",
              "findStudio": "Studio", "findTag": "Tag", "version": "Version!",
              "configuration": "ConfigResult!"},
    "Mutation": {"sceneUpdate": "Scene", "configurePlugin": "Map!", "runPluginOperation": "Any"},
    "Scene": {"id": "ID!", "title": "String", "code": "String", "details": "String", "director": "String",
              "url": "String", "urls": "[String!]!", "date": "String", "rating100": "Int",
              "organized": "Boolean!", "o_counter": "Int", "interactive": "Boolean!", "play_count": "Int",
              "created_at": "Time!", "updated_at": "Time!", "studio": "Studio",
              "performers": "[Performer!]!", "tags": "[Tag!]!", "groups": "[SceneGroup!]!",
              "movies": "[SceneMovie!]!", "files": "[VideoFile!]!", "paths": "ScenePathsType!",
              "stash_ids": "[StashID!]!"},
    "Studio": {"id": "ID!", "name": "String!", "parent_studio": "Studio", "child_studios": "[Studio!]!",
               "image_path": "String", "details": "String"},
    "Performer": {"id": "ID!", "name": "String!", "disambiguation": "String", "gender": "GenderEnum",
                  "image_path": "String", "alias_list": "[String!]!"},
    "Tag": {"id": "ID!", "name": "String!", "description": "String", "aliases": "[String!]!"},
    "Group": {"id": "ID!", "name": "String!"},
    "Movie": {"id": "ID!", "name": "String!"},
    "SceneGroup": {"group": "Group!", "scene_index": "Int"},
    "SceneMovie": {"movie": "Movie!", "scene_index": "Int"},
    "VideoFile": {"id": "ID!", "path": "String!", "basename": "String!", "size": "Int64!",
                  "duration": "Float!", "width": "Int!", "height": "Int!", "video_codec": "String!",
                  "audio_codec": "String!", "frame_rate": "Float!", "bit_rate": "Int!", "format": "String!"},
    "ScenePathsType": {"screenshot": "String", "preview": "String", "stream": "String", "webp": "String",
                       "vtt": "String", "sprite": "String", "funscript": "String",
                       "interactive_heatmap": "String", "caption": "String"},
    "StashID": {"endpoint": "String!", "stash_id": "String!", "updated_at": "Time!"},
    "FindScenesResultType": {"count": "Int!", "duration": "Float!", "filesize": "Float!",
                             "scenes": "[Scene!]!"},
    "Version": {"version": "String", "hash": "String!", "build_time": "String!"},
    "ConfigResult": {"general": "ConfigGeneralResult!", "plugins": "PluginConfigMap!"},
    "ConfigGeneralResult": {"apiKey": "String!"},
}

_ARGS = {
    ("Query", "findScene"): {"id": "ID", "checksum": "String"},
    ("Query", "findScenes"): {"scene_filter": "SceneFilterType", "scene_ids": "[Int!]", "ids": "[ID!]",
                              "filter": "FindFilterType"},
    ("Query", "findPerformer"): {"id": "ID!"},
    ("Query", "findStudio"): {"id": "ID!"},
    ("Query", "findTag"): {"id": "ID!"},
    ("ConfigResult", "plugins"): {"include": "[ID!]"},
    ("Mutation", "sceneUpdate"): {"input": "SceneUpdateInput!"},
    ("Mutation", "configurePlugin"): {"plugin_id": "ID!", "input": "Map!"},
    ("Mutation", "runPluginOperation"): {"plugin_id": "ID!", "args": "Map"},
}

_DIRECTIVE_ARGS = {"skip": {"if": "Boolean!"}, "include": {"if": "Boolean!"}}

_INPUTS = {
    "FindFilterType": {"q": "String", "page": "Int", "per_page": "Int", "sort": "String",
                       "direction": "SortDirectionEnum"},
    "SceneFilterType": {"id": "IntCriterionInput", "title": "StringCriterionInput",
                        "organized": "Boolean", "rating100": "IntCriterionInput",
                        "performers": "MultiCriterionInput", "studios": "HierarchicalMultiCriterionInput",
                        "tags": "HierarchicalMultiCriterionInput", "updated_at": "TimestampCriterionInput",
                        "created_at": "TimestampCriterionInput"},
    "IntCriterionInput": {"value": "Int!", "value2": "Int", "modifier": "CriterionModifier!"},
    "StringCriterionInput": {"value": "String!", "modifier": "CriterionModifier!"},
    "TimestampCriterionInput": {"value": "String!", "value2": "String", "modifier": "CriterionModifier!"},
    "MultiCriterionInput": {"value": "[ID!]", "modifier": "CriterionModifier!", "excludes": "[ID!]"},
    "HierarchicalMultiCriterionInput": {"value": "[ID!]", "modifier": "CriterionModifier!", "depth": "Int",
                                        "excludes": "[ID!]"},
    "SceneUpdateInput": {"clientMutationId": "String", "id": "ID!", "title": "String", "code": "String",
                         "details": "String", "director": "String", "url": "String", "urls": "[String!]",
                         "date": "String", "rating100": "Int", "o_counter": "Int", "organized": "Boolean",
                         "studio_id": "ID", "gallery_ids": "[ID!]", "performer_ids": "[ID!]",
                         "movies": "[SceneMovieInput!]", "groups": "[SceneGroupInput!]", "tag_ids": "[ID!]",
                         "cover_image": "String", "stash_ids": "[StashIDInput!]", "resume_time": "Float",
                         "play_duration": "Float", "play_count": "Int", "primary_file_id": "ID"},
    "SceneMovieInput": {"movie_id": "ID!", "scene_index": "Int"},
    "SceneGroupInput": {"group_id": "ID!", "scene_index": "Int"},
    "StashIDInput": {"endpoint": "String!", "stash_id": "String!", "updated_at": "Time"},
}

# pkg/sqlite/scene.go sceneSortOptions (CVE-2024-32231 whitelist); "random_<seed>" is accepted too.
_SORTS = {"bitrate", "created_at", "code", "date", "file_count", "filesize", "duration", "file_mod_time",
          "framerate", "group_scene_number", "id", "interactive", "interactive_speed", "last_o_at",
          "last_played_at", "movie_scene_number", "o_counter", "organized", "performer_count",
          "play_count", "play_duration", "resume_time", "path", "perceptual_similarity", "random",
          "rating", "resolution", "studio", "tag_count", "title", "updated_at", "performer_age"}


def _schema(supports_groups: bool) -> dict:
    objects = {name: dict(fields) for name, fields in _OBJECTS.items()}
    if not supports_groups:  # Scene.groups and the Group type arrived in v0.27 (protocol §6.4)
        del objects["Scene"]["groups"], objects["Group"], objects["SceneGroup"]
    return objects


def _named(type_ref: str) -> str:
    return type_ref.strip("[]!")


def _suggest(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.6)
    if not close:
        return ""
    quoted = [f'"{c}"' for c in close]
    return " Did you mean " + (quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]) + "?"


# --------------------------------------------------------------------------------------------
# GraphQL: validation
# --------------------------------------------------------------------------------------------

class _Validator:
    """The gqlparser rules a plugin is likely to trip over, with gqlparser's messages."""

    def __init__(self, schema: dict, doc: _Document):
        self.schema = schema
        self.doc = doc
        self.errors: list = []

    def error(self, message: str, pos: int) -> None:
        self.errors.append(GraphQLError(message, "validation", pos))

    def run(self) -> list:
        self.check_operation_names()
        for op in self.doc.operations:
            root = {"query": "Query", "mutation": "Mutation"}.get(op.kind)
            if root is None:
                self.error(f"Schema is not configured for {op.kind}s.", op.pos)
                continue
            self.selections(root, op.selections)
            self.check_variables(op)
        for frag in self.doc.fragments.values():
            if frag.type_cond not in self.schema:
                self.error(f'Unknown type "{frag.type_cond}".', frag.pos)
            else:
                self.selections(frag.type_cond, frag.selections)
        self.check_fragment_usage()
        return self.errors

    def check_operation_names(self) -> None:
        ops = self.doc.operations
        if len(ops) > 1 and any(op.name is None for op in ops):
            self.error("This anonymous operation must be the only defined operation.", ops[0].pos)
        seen = set()
        for op in ops:
            if op.name in seen:
                self.error(f'There can be only one operation named "{op.name}".', op.pos)
            seen.add(op.name)

    def selections(self, type_name: str, selections: list) -> None:
        for sel in selections:
            if isinstance(sel, _Field):
                self.field(type_name, sel)
            elif isinstance(sel, _Spread):
                self.spread(type_name, sel)
            else:
                cond = sel.type_cond or type_name
                if cond not in self.schema:
                    self.error(f'Unknown type "{cond}".', sel.pos)
                elif cond != type_name:
                    self.error(f'Fragment cannot be spread here as objects of type "{type_name}" can never be of type "{cond}".', sel.pos)
                else:
                    self.selections(cond, sel.selections)

    def spread(self, type_name: str, sel: _Spread) -> None:
        frag = self.doc.fragments.get(sel.name)
        if frag is None:
            self.error(f'Unknown fragment "{sel.name}".', sel.pos)
        elif frag.type_cond != type_name and frag.type_cond in self.schema:
            self.error(f'Fragment "{sel.name}" cannot be spread here as objects of type "{type_name}" can never be of type "{frag.type_cond}".', sel.pos)

    def field(self, type_name: str, fld: _Field) -> None:
        if fld.name == "__typename":
            if fld.selections is not None:
                self.error('Field "__typename" must not have a selection since type "String!" has no subfields.', fld.pos)
            return
        fields = self.schema[type_name]
        type_ref = fields.get(fld.name)
        if type_ref is None:
            self.error(f'Cannot query field "{fld.name}" on type "{type_name}".' + _suggest(fld.name, fields), fld.pos)
            return
        self.arguments(type_name, fld)
        named = _named(type_ref)
        if named in self.schema:
            if fld.selections is None:
                self.error(f'Field "{fld.name}" of type "{type_ref}" must have a selection of subfields. Did you mean "{fld.name} {{ ... }}"?', fld.pos)
            else:
                self.selections(named, fld.selections)
        elif fld.selections is not None:
            self.error(f'Field "{fld.name}" must not have a selection since type "{type_ref}" has no subfields.', fld.pos)

    def arguments(self, type_name: str, fld: _Field) -> None:
        spec = _ARGS.get((type_name, fld.name), {})
        for name in fld.args:
            if name not in spec:
                self.error(f'Unknown argument "{name}" on field "{type_name}.{fld.name}".', fld.pos)
        for name, type_ref in spec.items():
            if type_ref.endswith("!") and name not in fld.args:
                self.error(f'Field "{fld.name}" argument "{name}" of type "{type_ref}" is required, but it was not provided.', fld.pos)

    def check_variables(self, op: _Operation) -> None:
        used = _variables_used(op.selections, self.doc.fragments, set())
        defined = {d.name for d in op.var_defs}
        where = f' by operation "{op.name}"' if op.name else ""
        for name in sorted(used - defined):
            self.error(f'Variable "${name}" is not defined{where}.', op.pos)
        where = f' in operation "{op.name}"' if op.name else ""
        for d in op.var_defs:
            if d.name not in used:
                self.error(f'Variable "${d.name}" is never used{where}.', d.pos)

    def check_fragment_usage(self) -> None:
        used: set = set()
        for op in self.doc.operations:
            _fragments_used(op.selections, self.doc.fragments, used)
        for frag in self.doc.fragments.values():
            if frag.name not in used:
                self.error(f'Fragment "{frag.name}" is never used.', frag.pos)
            elif _spreads_itself(frag, self.doc.fragments):
                self.error(f'Cannot spread fragment "{frag.name}" within itself.', frag.pos)


def _fragments_used(selections: list, fragments: dict, used: set) -> None:
    for sel in selections:
        if isinstance(sel, _Spread):
            if sel.name in fragments and sel.name not in used:
                used.add(sel.name)
                _fragments_used(fragments[sel.name].selections, fragments, used)
        elif sel.selections:
            _fragments_used(sel.selections, fragments, used)


def _spreads_itself(frag: _Fragment, fragments: dict) -> bool:
    reached: set = set()
    _fragments_used(frag.selections, fragments, reached)
    return frag.name in reached


def _vars_in(value: Any, out: set) -> None:
    if isinstance(value, _Var):
        out.add(str(value))
    elif isinstance(value, list):
        for item in value:
            _vars_in(item, out)
    elif isinstance(value, dict):
        for item in value.values():
            _vars_in(item, out)


def _variables_used(selections: list, fragments: dict, seen: set) -> set:
    out: set = set()
    for sel in selections:
        for _, args in sel.directives:
            _vars_in(args, out)
        if isinstance(sel, _Field):
            _vars_in(sel.args, out)
        if isinstance(sel, _Spread):
            if sel.name in fragments and sel.name not in seen:
                seen.add(sel.name)
                out |= _variables_used(fragments[sel.name].selections, fragments, seen)
        elif sel.selections:
            out |= _variables_used(sel.selections, fragments, seen)
    return out


# --------------------------------------------------------------------------------------------
# GraphQL: input coercion and execution
# --------------------------------------------------------------------------------------------

def _input_error(message: str) -> GraphQLError:
    return GraphQLError(message, "input")


class _Coercer:
    """Coerces literal and variable values to schema input types (enums, ids, input objects)."""

    def __init__(self, variables: dict):
        self.variables = variables

    def coerce(self, value: Any, type_ref: str, where: str, literal: bool = True) -> Any:
        if isinstance(value, _Var):
            return self.coerce(self.variables.get(str(value)), type_ref, where, literal=False)
        if type_ref.endswith("!"):
            if value is None:
                raise _input_error(f"{where}: must not be null")
            type_ref = type_ref[:-1]
        if value is None:
            return None
        if type_ref.startswith("["):
            items = value if isinstance(value, list) else [value]
            return [self.coerce(v, type_ref[1:-1], f"{where}[{i}]", literal) for i, v in enumerate(items)]
        if type_ref in _INPUTS:
            return self.coerce_object(value, type_ref, where, literal)
        if type_ref in _ENUMS:
            return _coerce_enum(value, type_ref, where, literal)
        return self.coerce_scalar(value, type_ref, where, literal)

    def coerce_object(self, value: Any, type_ref: str, where: str, literal: bool) -> dict:
        if not isinstance(value, dict):
            raise _input_error(f'{where}: Expected type "{type_ref}", found {_show(value)}.')
        fields = _INPUTS[type_ref]
        out = {}
        for key, item in value.items():
            if key not in fields:
                raise _input_error(f'{where}: Field "{key}" is not defined by type "{type_ref}".' + _suggest(key, fields))
            out[key] = self.coerce(item, fields[key], f"{where}.{key}", literal)
        for key, ref in fields.items():
            if ref.endswith("!") and out.get(key) is None:
                raise _input_error(f'{where}: Field "{type_ref}.{key}" of required type "{ref}" was not provided.')
        return out

    def coerce_scalar(self, value: Any, type_ref: str, where: str, literal: bool) -> Any:
        if type_ref in ("Map", "Any", "PluginConfigMap"):
            return self.resolve_vars(value)
        if isinstance(value, _Enum):
            raise _input_error(f'{where}: Expected type "{type_ref}", found {value}.')
        ok = {
            "ID": isinstance(value, (str, int)) and not isinstance(value, bool),
            "String": isinstance(value, str), "Time": isinstance(value, str),
            "Int": _is_int(value, literal), "Int64": _is_int(value, literal),
            "Float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "Boolean": isinstance(value, bool),
        }.get(type_ref, True)
        if not ok:
            raise _input_error(f'{where}: Expected type "{type_ref}", found {_show(value)}.')
        if type_ref == "ID":
            return str(value)
        return int(value) if type_ref in ("Int", "Int64") else value

    def resolve_vars(self, value: Any) -> Any:
        if isinstance(value, _Var):
            return self.variables.get(str(value))
        if isinstance(value, list):
            return [self.resolve_vars(v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve_vars(v) for k, v in value.items()}
        return str(value) if isinstance(value, _Enum) else value


def _is_int(value: Any, literal: bool) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return not literal and isinstance(value, float) and value.is_integer()


def _coerce_enum(value: Any, type_ref: str, where: str, literal: bool) -> str:
    if literal and not isinstance(value, _Enum):
        raise _input_error(f'{where}: Enum "{type_ref}" cannot represent non-enum value: {_show(value)}.')
    if not isinstance(value, str) or value not in _ENUMS[type_ref]:
        raise _input_error(f'{where}: Value {_show(value)} does not exist in "{type_ref}" enum.')
    return str(value)


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, _Enum) else str(value)


class _Executor:
    """Resolves a validated operation against root values made of dicts and callables."""

    def __init__(self, schema: dict, doc: _Document, variables: dict):
        self.schema = schema
        self.doc = doc
        self.coercer = _Coercer(variables)

    def coerce_variables(self, op: _Operation, given: dict) -> None:
        values = {}
        for d in op.var_defs:
            if d.name in given:
                raw = given[d.name]
            elif d.has_default:
                raw = self.coercer.resolve_vars(d.default)
            elif d.type.endswith("!"):
                raise _input_error(f"input: variable.{d.name} must be defined")
            else:
                continue
            values[d.name] = self.coercer.coerce(raw, d.type, f"variable.{d.name}", literal=False)
        self.coercer.variables = values

    def collect(self, type_name: str, selections: list) -> list:
        out = []
        for sel in selections:
            if not self.included(sel.directives):
                continue
            if isinstance(sel, _Field):
                out.append(sel)
            elif isinstance(sel, _Spread):
                out.extend(self.collect(type_name, self.doc.fragments[sel.name].selections))
            else:
                out.extend(self.collect(type_name, sel.selections))
        return out

    def included(self, directives: list) -> bool:
        for name, args in directives:
            spec = _DIRECTIVE_ARGS.get(name)
            if spec is None:
                continue
            flag = self.coercer.coerce(args.get("if"), "Boolean!", f"@{name}(if:)")
            if flag == (name == "skip"):
                return False
        return True

    def args(self, type_name: str, fld: _Field) -> dict:
        spec = _ARGS.get((type_name, fld.name), {})
        out = {}
        for name, type_ref in spec.items():
            if name in fld.args:
                out[name] = self.coercer.coerce(fld.args[name], type_ref, f"{fld.name}.{name}")
        return out

    def precheck(self, type_name: str, selections: list) -> None:
        """Coerce every argument before resolving anything, so input errors answer 422 like gqlgen."""
        for fld in self.collect(type_name, selections):
            ref = self.schema[type_name].get(fld.name) if fld.name != "__typename" else None
            if ref is None:
                continue
            self.args(type_name, fld)
            if fld.selections and _named(ref) in self.schema:
                self.precheck(_named(ref), fld.selections)

    def run(self, root_type: str, root: dict, selections: list) -> tuple:
        data: Optional[dict] = {}
        errors = []
        for fld in self.collect(root_type, selections):
            key = fld.alias or fld.name
            try:
                data[key] = self.resolve(root_type, root, fld, [key])
            except GraphQLError as exc:
                exc.path = exc.path or [key]
                errors.append(exc)
                if self.schema[root_type][fld.name].endswith("!"):
                    return None, errors
                data[key] = None
        return data, errors

    def resolve(self, type_name: str, obj: dict, fld: _Field, path: list) -> Any:
        if fld.name == "__typename":
            return type_name
        value = obj.get(fld.name)
        if callable(value):
            value = value(self.args(type_name, fld))
        return self.complete(self.schema[type_name][fld.name], value, fld, path)

    def complete(self, type_ref: str, value: Any, fld: _Field, path: list) -> Any:
        if value is None:
            if type_ref.endswith("!"):
                raise GraphQLError("must not be null", path=path)
            return None
        type_ref = type_ref.rstrip("!")
        if type_ref.startswith("["):
            return [self.complete(type_ref[1:-1], v, fld, path + [i]) for i, v in enumerate(value)]
        if type_ref not in self.schema:
            return value
        return {sub.alias or sub.name: self.resolve(type_ref, value, sub, path + [sub.alias or sub.name])
                for sub in self.collect(type_ref, fld.selections)}


def _choose_operation(doc: _Document, name: Optional[str]) -> _Operation:
    if name:
        for op in doc.operations:
            if op.name == name:
                return op
        raise GraphQLError(f'operation {name} not found', "input")
    if len(doc.operations) > 1:
        raise GraphQLError("operation name is required when the document has several operations", "input")
    return doc.operations[0]


def execute_graphql(schema: dict, roots: dict, query: str, variables: Optional[dict],
                    operation_name: Optional[str]) -> tuple:
    """Parse, validate and run ``query``; return ``(http_status, response_dict)`` like gqlgen."""
    try:
        doc = _Parser(query or "").document()
        errors = _Validator(schema, doc).run()
        if errors:
            raise errors[0] if len(errors) == 1 else _Multi(errors)
        op = _choose_operation(doc, operation_name)
        executor = _Executor(schema, doc, {})
        executor.coerce_variables(op, variables or {})
        root_type = "Query" if op.kind == "query" else "Mutation"
        executor.precheck(root_type, op.selections)
    except _Multi as multi:
        return 422, {"errors": [e.to_json(query) for e in multi.errors], "data": None}
    except GraphQLError as exc:
        return 422, {"errors": [exc.to_json(query)], "data": None}
    data, errors = executor.run(root_type, roots[root_type], op.selections)
    if errors:
        return 200, {"errors": [e.to_json(query) for e in errors], "data": data}
    return 200, {"data": data}


class _Multi(Exception):
    def __init__(self, errors: list):
        super().__init__(errors[0].message)
        self.errors = errors


# --------------------------------------------------------------------------------------------
# The data store
# --------------------------------------------------------------------------------------------

_SYNC_SCENE = """
query FakeStashScene($id: ID!) { findScene(id: $id) { ...SyncScene } }
fragment SyncScene on Scene {
  id title code details director urls date rating100 organized created_at updated_at
  studio { id name parent_studio { id name } }
  performers { id name disambiguation gender image_path }
  tags { id name }
  %s
  files { id path basename size duration width height video_codec frame_rate bit_rate }
  paths { screenshot preview stream }
  stash_ids { endpoint stash_id }
}
"""

_SCENE_KEYS = {"title", "details", "date", "studio", "performers", "tags", "files", "code", "urls",
               "rating100", "organized", "groups", "director", "stash_ids", "created_at", "updated_at"}


@dataclass
class _Scene:
    id: int
    created_at: str = ""
    updated_at: str = ""
    updated_dt: Optional[dt.datetime] = None
    title: Optional[str] = None
    code: Optional[str] = None
    details: Optional[str] = None
    director: Optional[str] = None
    date: Optional[str] = None
    rating100: Optional[int] = None
    organized: bool = False
    urls: list = field(default_factory=list)
    studio: Optional[int] = None
    performers: list = field(default_factory=list)
    tags: list = field(default_factory=list)
    groups: list = field(default_factory=list)       # [(group_id, scene_index)]
    files: list = field(default_factory=list)        # VideoFile dicts
    stash_ids: list = field(default_factory=list)
    screenshot: Optional[bytes] = None


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request the fake answered (or dropped: ``status`` None)."""

    method: str
    path: str
    operation_name: Optional[str]
    variables: Optional[dict]
    headers: dict
    status: Optional[int]
    t: float
    query: str = ""          # the URL query string
    document: Optional[str] = None  # the GraphQL query text


@dataclass
class _Fault:
    status: int
    times: int
    operation: Optional[str]
    path: Optional[str]
    drop: bool


def _natural(text: str) -> tuple:
    """Sort key for SQLite's NATURAL_CI collation: case-insensitive, digit runs compared as numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in re.split(r"(\d+)", text) if part)


def _nullable(value: Any) -> tuple:
    return (0,) if value is None else (1, value)


def _parse_offset(tz_offset: str) -> tuple:
    if tz_offset in ("Z", "z"):
        return dt.timezone.utc, True
    match = re.fullmatch(r"([+-])(\d\d):?(\d\d)", tz_offset)
    if match is None:
        raise ValueError(f"tz_offset must look like +02:00 or Z, not {tz_offset!r}")
    delta = dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
    return dt.timezone(-delta if match.group(1) == "-" else delta), False


def _parse_stamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


class FakeStash:
    """An in-memory Stash behind a real HTTP server; see the module docstring for what is emulated."""

    def __init__(self, api_key: str = "", require_auth: bool = False, tz_offset: str = "+02:00",
                 version: str = "v0.30.1", supports_groups: bool = True, refresh_cookies: bool = False,
                 config_dir: Optional[str] = None, clock: Callable[[], float] = time.time,
                 plugin_runner: Optional[Callable[[str, dict], tuple]] = None):
        self.api_key = api_key
        self.plugin_runner = plugin_runner  # (plugin_id, args) -> (output, error); sandbox/plugin_operations.py
        self.require_auth = require_auth
        self.version = version
        self.supports_groups = supports_groups
        self.refresh_cookies = refresh_cookies
        self.latency = 0.0
        self._tz, self._zulu = _parse_offset(tz_offset)
        self._clock = clock
        self._lock = threading.RLock()
        self._schema = _schema(supports_groups)
        self._config_dir = config_dir
        self._own_config_dir: Optional[str] = None
        self._reset_data()
        self._cookies = [self._mint_cookie()]
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._conns: set = set()
        self._port = 0

    def _reset_data(self) -> None:
        self._scenes: dict = {}
        self._performers: dict = {}
        self._studios: dict = {}
        self._tags: dict = {}
        self._groups: dict = {}
        self._next_ids: dict = {}
        self._settings: dict = {}
        self._requests: list = []
        self._faults: list = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "FakeStash":
        """Bind 127.0.0.1 on a free port (later starts reuse it) and serve in a background thread."""
        server = http.server.ThreadingHTTPServer(("127.0.0.1", self._port), _Handler)
        self._port = server.server_address[1]
        server.daemon_threads = True
        server.stash = self  # type: ignore[attr-defined]
        server.handle_error = lambda request, address: None  # type: ignore[assignment]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="FakeStash", daemon=True)  # quick stop()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open keep-alive connections and remove the temporary config dir."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            for conn in list(self._conns):
                _close_quietly(conn)
            self._thread.join(timeout=5)
            self._server = None
        if self._own_config_dir:
            shutil.rmtree(self._own_config_dir, ignore_errors=True)
            self._own_config_dir = None

    def restart(self) -> "FakeStash":
        """Serve again on the same port with the same data (Stash restarted)."""
        config_dir, self._own_config_dir = self._own_config_dir, None  # keep the config dir
        self.stop()
        self._own_config_dir = config_dir
        return self.start()

    def __enter__(self) -> "FakeStash":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (kept while stopped for a restart; the server must have been started)."""
        if not self._port:
            raise RuntimeError("FakeStash is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_dir(self) -> str:
        """Stash's config directory (``server_connection.Dir``); a temp dir unless one was given."""
        if self._config_dir:
            return self._config_dir
        if self._own_config_dir is None:
            self._own_config_dir = tempfile.mkdtemp(prefix="fake-stash-config-")
        return self._own_config_dir

    # -- session ---------------------------------------------------------------------------

    def _mint_cookie(self) -> str:
        payload = f"{int(self._clock())}|".encode() + base64.urlsafe_b64encode(os.urandom(60))
        return base64.urlsafe_b64encode(payload).decode()

    @property
    def session_cookie(self) -> str:
        """The newest valid ``session`` cookie value."""
        with self._lock:
            return self._cookies[-1]

    def expire_cookie(self) -> str:
        """Invalidate every session cookie (like max_session_age passing) and mint a new one."""
        with self._lock:
            self._cookies = [self._mint_cookie()]
            return self._cookies[-1]

    def server_connection(self, plugin_dir: str, dir: Optional[str] = None) -> dict:
        """The ``server_connection`` Stash puts on a plugin's stdin (Go field names, §3.2)."""
        return {
            "Scheme": "http", "Host": "0.0.0.0", "Port": self.port,
            "SessionCookie": {
                "Name": "session", "Value": self.session_cookie, "Quoted": False, "Path": "", "Domain": "",
                "Expires": "0001-01-01T00:00:00Z", "RawExpires": "", "MaxAge": 0, "Secure": False,
                "HttpOnly": False, "SameSite": 0, "Partitioned": False, "Raw": "", "Unparsed": None,
            },
            "Dir": dir or self.config_dir,
            "PluginDir": plugin_dir,
        }

    # -- time ------------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(int(self._clock()), self._tz)

    def _format(self, when: dt.datetime) -> str:
        text = when.astimezone(self._tz).replace(microsecond=0).isoformat()
        return text[:-6] + "Z" if self._zulu else text

    def _touch(self, scene: _Scene, explicit: Optional[str] = None) -> None:
        if explicit is not None:
            scene.updated_at, scene.updated_dt = explicit, _parse_stamp(explicit)
            return
        now = self._now()
        if scene.updated_dt is not None and now < scene.updated_dt + dt.timedelta(seconds=1):
            now = scene.updated_dt + dt.timedelta(seconds=1)
        scene.updated_dt, scene.updated_at = now, self._format(now)

    # -- objects ---------------------------------------------------------------------------

    def _new_id(self, kind: str) -> int:
        self._next_ids[kind] = self._next_ids.get(kind, 0) + 1
        return self._next_ids[kind]

    def add_performer(self, name: str, gender: Optional[str] = None,
                      disambiguation: Optional[str] = None) -> int:
        """Create a performer; returns its id."""
        with self._lock:
            pid = self._new_id("performer")
            self._performers[pid] = {"id": pid, "name": name, "gender": gender,
                                     "disambiguation": disambiguation, "t": int(self._clock())}
            return pid

    def add_studio(self, name: str, parent: Optional[Any] = None) -> int:
        """Create a studio (``parent``: a studio id or name); returns its id."""
        with self._lock:
            parent_id = self._ref(self._studios, parent, self.add_studio) if parent is not None else None
            sid = self._new_id("studio")
            self._studios[sid] = {"id": sid, "name": name, "parent": parent_id, "t": int(self._clock())}
            return sid

    def add_tag(self, name: str) -> int:
        """Create a tag; returns its id."""
        with self._lock:
            tid = self._new_id("tag")
            self._tags[tid] = {"id": tid, "name": name}
            return tid

    def add_group(self, name: str) -> int:
        """Create a group (a "movie" before Stash 0.27); returns its id."""
        with self._lock:
            gid = self._new_id("group")
            self._groups[gid] = {"id": gid, "name": name}
            return gid

    def _ref(self, table: dict, value: Any, create: Callable[[str], int]) -> int:
        """An id given as int (must exist) or a name (found, or created)."""
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise TypeError(f"expected an id or a name, got {value!r}")
        if isinstance(value, int):
            if value not in table:
                raise KeyError(f"no object with id {value}")
            return value
        for obj in table.values():
            if obj["name"] == value:
                return obj["id"]
        return create(value)

    def rename_performer(self, pid: int, new: str) -> None:
        """Rename a performer; like Stash, the scenes' ``updated_at`` is untouched."""
        with self._lock:
            self._performers[pid]["name"] = new

    def rename_studio(self, sid: int, new: str) -> None:
        """Rename a studio; scenes are untouched."""
        with self._lock:
            self._studios[sid]["name"] = new

    def rename_tag(self, tid: int, new: str) -> None:
        """Rename a tag; scenes are untouched."""
        with self._lock:
            self._tags[tid]["name"] = new

    def destroy_tag(self, tid: int) -> None:
        """Delete a tag; like Stash (a foreign-key cascade), its scenes lose it without an updated_at bump."""
        with self._lock:
            del self._tags[tid]
            for scene in self._scenes.values():
                scene.tags = [t for t in scene.tags if t != tid]

    def destroy_performer(self, pid: int) -> None:
        """Delete a performer; its scenes lose it without an updated_at bump."""
        with self._lock:
            del self._performers[pid]
            for scene in self._scenes.values():
                scene.performers = [p for p in scene.performers if p != pid]

    # -- scenes ----------------------------------------------------------------------------

    def add_scene(self, title: Optional[str] = "T", **values: Any) -> int:
        """Create a scene from the keyword fields documented on :meth:`update_scene`; returns its id."""
        with self._lock:
            scene = _Scene(id=self._new_id("scene"))
            now = self._format(self._now())
            scene.created_at = values.pop("created_at", None) or now
            values.setdefault("files", [(f"/data/videos/scene{scene.id}.mp4", 1234)])
            self._apply(scene, dict(values, title=title))
            self._touch(scene, values.get("updated_at") or scene.created_at)
            self._scenes[scene.id] = scene
            return scene.id

    def update_scene(self, scene_id: int, **changes: Any) -> None:
        """Change a scene and bump ``updated_at`` (strictly later than before, by at least 1 s).

        Keys: title, details, date, code, director, urls, rating100, organized, studio (id or name),
        performers / tags (ids or names), groups (ids, names or (group, scene_index) pairs),
        files ([(path, size)] or dicts), stash_ids, and updated_at/created_at to set them verbatim.
        """
        with self._lock:
            scene = self._scene_rec(scene_id)
            if "created_at" in changes:
                scene.created_at = changes.pop("created_at")
            self._apply(scene, changes)
            self._touch(scene, changes.get("updated_at"))

    def _scene_rec(self, scene_id: Any) -> _Scene:
        scene = self._scenes.get(int(scene_id))
        if scene is None:
            raise KeyError(f"scene {scene_id} not found")
        return scene

    def _apply(self, scene: _Scene, values: dict) -> None:
        unknown = set(values) - _SCENE_KEYS
        if unknown:
            raise TypeError(f"unknown scene field(s): {', '.join(sorted(unknown))}")
        for key in ("title", "details", "date", "code", "director", "rating100"):
            if key in values:
                setattr(scene, key, values[key])
        if "organized" in values:
            scene.organized = bool(values["organized"])
        if "urls" in values:
            scene.urls = list(values["urls"] or [])
        if "stash_ids" in values:
            scene.stash_ids = [dict(s) for s in values["stash_ids"] or []]
        self._apply_relations(scene, values)

    def _apply_relations(self, scene: _Scene, values: dict) -> None:
        if "studio" in values:
            studio = values["studio"]
            scene.studio = None if studio is None else self._ref(self._studios, studio, self.add_studio)
        if "performers" in values:
            scene.performers = [self._ref(self._performers, p, self.add_performer) for p in values["performers"] or []]
        if "tags" in values:
            scene.tags = [self._ref(self._tags, t, self.add_tag) for t in values["tags"] or []]
        if "groups" in values:
            scene.groups = [self._group_entry(g) for g in values["groups"] or []]
        if "files" in values:
            scene.files = [self._file(f) for f in values["files"] or []]

    def _group_entry(self, entry: Any) -> tuple:
        group, index = entry if isinstance(entry, (tuple, list)) else (entry, None)
        return self._ref(self._groups, group, self.add_group), index

    def _file(self, spec: Any) -> dict:
        if isinstance(spec, (tuple, list)):
            spec = {"path": spec[0], "size": spec[1] if len(spec) > 1 else 0}
        path = spec["path"]
        defaults = {"id": str(self._new_id("file")), "path": path, "basename": path.replace("\\", "/").rsplit("/", 1)[-1],
                    "size": 0, "duration": 600.0, "width": 1920, "height": 1080, "video_codec": "h264",
                    "audio_codec": "aac", "frame_rate": 29.97, "bit_rate": 5_000_000, "format": "mp4"}
        unknown = set(spec) - set(defaults)
        if unknown:
            raise TypeError(f"unknown file field(s): {', '.join(sorted(unknown))}")
        return {**defaults, **spec}

    def destroy_scene(self, scene_id: int, delete_file: Optional[bool] = None,
                      delete_generated: Optional[bool] = None) -> dict:
        """Remove a scene; return the Scene.Destroy.Post hook input Stash would send (§3.3)."""
        with self._lock:
            scene = self._scenes.pop(int(scene_id))
            path = scene.files[0]["path"] if scene.files else ""
            return {"id": str(scene.id), "delete_file": delete_file, "delete_generated": delete_generated,
                    "checksum": "", "oshash": _oshash(path) if path else "", "path": path}

    def scene(self, scene_id: int) -> Optional[dict]:
        """The scene in the SyncScene fragment shape (protocol §5.1), or None."""
        extra = ("groups { group { id name } scene_index }" if self.supports_groups
                 else "movies { movie { id name } scene_index }")
        response = self.graphql(_SYNC_SCENE % extra, {"id": str(scene_id)})
        return response["data"]["findScene"]

    def scene_ids(self) -> list:
        """All scene ids in insertion order."""
        with self._lock:
            return list(self._scenes)

    def screenshot_bytes(self, scene_id: int) -> bytes:
        """The bytes GET /scene/<id>/screenshot serves (deterministic unless set_screenshot was used)."""
        with self._lock:
            scene = self._scene_rec(scene_id)
            if scene.screenshot is not None:
                return scene.screenshot
            return b"\xff\xd8\xff\xe0FAKE-STASH-SCREENSHOT scene=%d\xff\xd9" % scene.id

    def set_screenshot(self, scene_id: int, data: bytes) -> None:
        """Replace a scene's screenshot and bump ``updated_at`` (as a cover change does)."""
        with self._lock:
            scene = self._scene_rec(scene_id)
            scene.screenshot = bytes(data)
            self._touch(scene)

    # -- settings --------------------------------------------------------------------------

    def set_plugin_settings(self, plugin_id: str, values: dict) -> None:
        """Replace a plugin's whole settings map (what configurePlugin does)."""
        with self._lock:
            self._settings[plugin_id] = json.loads(json.dumps(values))

    def plugin_settings(self, plugin_id: str) -> Optional[dict]:
        """A plugin's saved settings, or None if never saved."""
        with self._lock:
            saved = self._settings.get(plugin_id)
            return None if saved is None else dict(saved)

    # -- faults and the request log --------------------------------------------------------

    def add_fault(self, status: int = 502, times: int = 1, operation: Optional[str] = None,
                  drop: bool = False, path: Optional[str] = None) -> None:
        """Make the next ``times`` matching requests answer ``status`` (or, with drop, close the socket)."""
        with self._lock:
            self._faults.append(_Fault(status, times, operation, path, drop))

    def _take_fault(self, operation: Optional[str], path: str) -> Optional[_Fault]:
        with self._lock:
            for fault in self._faults:
                if (fault.operation is None or fault.operation == operation) and \
                        (fault.path is None or fault.path == path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    @property
    def requests(self) -> list:
        """A copy of the request log (:class:`RequestRecord`)."""
        with self._lock:
            return list(self._requests)

    def count(self, operation: Optional[str] = None, path: Optional[str] = None) -> int:
        """How many logged requests match the GraphQL operation name and/or URL path."""
        return sum(1 for r in self.requests
                   if (operation is None or r.operation_name == operation) and (path is None or r.path == path))

    def reset_log(self) -> None:
        """Forget logged requests."""
        with self._lock:
            self._requests.clear()

    # -- GraphQL ---------------------------------------------------------------------------

    def graphql(self, query: str, variables: Optional[dict] = None, operation_name: Optional[str] = None,
                base: Optional[str] = None) -> dict:
        """Run a GraphQL request in-process (no HTTP, no auth); returns the response dict."""
        return self._execute(query, variables, operation_name, base or self._default_base())[1]

    def _default_base(self) -> str:
        return self.url if self._server is not None else "http://127.0.0.1:9999"

    def _execute(self, query: str, variables: Optional[dict], operation_name: Optional[str],
                 base: str) -> tuple:
        roots = {"Query": self._query_root(base), "Mutation": self._mutation_root(base)}
        return execute_graphql(self._schema, roots, query, variables, operation_name)

    def _query_root(self, base: str) -> dict:
        return {
            "findScene": lambda a: self._find_scene(a, base),
            "findScenes": lambda a: self._find_scenes(a, base),
            "findPerformer": lambda a: self._lookup(self._performers, a, lambda p: self._performer_view(p, base)),
            "findStudio": lambda a: self._lookup(self._studios, a, lambda s: self._studio_view(s, base)),
            "findTag": lambda a: self._lookup(self._tags, a, self._tag_view),
            "version": {"version": self.version, "hash": "f4k3574sh", "build_time": "2025-01-01 00:00:00"},
            "configuration": {"general": {"apiKey": self.api_key}, "plugins": self._plugins_config},
        }

    def _mutation_root(self, base: str) -> dict:
        return {"sceneUpdate": lambda a: self._scene_update(a["input"], base),
                "configurePlugin": self._configure_plugin, "runPluginOperation": self._run_plugin_operation}

    def _lookup(self, table: dict, args: dict, view: Callable) -> Optional[dict]:
        with self._lock:
            key = int(args["id"]) if str(args["id"]).isdigit() else None
            return view(key) if key in table else None

    def _plugins_config(self, args: dict) -> dict:
        with self._lock:
            include = args.get("include")
            return {pid: dict(values) for pid, values in self._settings.items()
                    if include is None or pid in include}

    def _configure_plugin(self, args: dict) -> dict:
        self.set_plugin_settings(args["plugin_id"], args["input"])
        return self.plugin_settings(args["plugin_id"]) or {}

    def _run_plugin_operation(self, args: dict) -> Any:
        """runPluginOperation (v0.25+, pkg/plugin/plugins.go ``RunPlugin``): run the plugin with ``args``
        and answer its output; the plugin's error becomes a GraphQL error."""
        if self.plugin_runner is None:
            raise GraphQLError(f"plugin {args['plugin_id']} is not installed in this fake Stash")
        output, error = self.plugin_runner(args["plugin_id"], args.get("args") or {})
        if error:
            raise GraphQLError(error)
        return output

    def _scene_update(self, data: dict, base: str) -> dict:
        with self._lock:
            scene = self._scenes.get(int(data["id"])) if data["id"].isdigit() else None
            if scene is None:
                raise GraphQLError(f"scene with id {data['id']} not found")
            changes = _scene_input_changes(data)
            if "cover_image" in data and data["cover_image"]:
                scene.screenshot = _decode_image(data["cover_image"])
            self.update_scene(scene.id, **changes)
            return self._scene_view(scene, base)

    # -- views -------------------------------------------------------------------------------

    def _find_scene(self, args: dict, base: str) -> Optional[dict]:
        with self._lock:
            sid = args.get("id")
            scene = self._scenes.get(int(sid)) if sid is not None and sid.isdigit() else None
            return self._scene_view(scene, base) if scene else None

    def _scene_view(self, scene: _Scene, base: str) -> dict:
        index = [{"group": self._group_view(g), "scene_index": i} for g, i in scene.groups]
        return {
            "id": str(scene.id), "title": scene.title, "code": scene.code, "details": scene.details,
            "director": scene.director, "urls": list(scene.urls), "url": scene.urls[0] if scene.urls else None,
            "date": scene.date, "rating100": scene.rating100, "organized": scene.organized, "o_counter": 0,
            "interactive": False, "play_count": 0, "created_at": scene.created_at,
            "updated_at": scene.updated_at, "studio": self._studio_view(scene.studio, base),
            "performers": [self._performer_view(p, base) for p in scene.performers],
            "tags": [self._tag_view(t) for t in scene.tags],
            "groups": index, "movies": [{"movie": e["group"], "scene_index": e["scene_index"]} for e in index],
            "files": [dict(f) for f in scene.files], "paths": self._paths(scene, base),
            "stash_ids": [dict({"updated_at": scene.updated_at}, **s) for s in scene.stash_ids],
        }

    def _paths(self, scene: _Scene, base: str) -> dict:
        prefix = f"{base}/scene/{scene.id}"
        stream = f"{prefix}/stream" + (f"?apikey={self.api_key}" if self.api_key else "")
        return {"screenshot": f"{prefix}/screenshot?t={int(scene.updated_dt.timestamp())}",
                "preview": f"{prefix}/preview", "stream": stream, "webp": f"{prefix}/webp",
                "vtt": f"{prefix}/vtt/chapter", "sprite": f"{prefix}_sprite.jpg",
                "funscript": f"{prefix}/funscript", "interactive_heatmap": f"{prefix}/interactive_heatmap",
                "caption": f"{prefix}/caption"}

    def _studio_view(self, sid: Optional[int], base: str) -> Optional[dict]:
        if sid is None:
            return None
        studio = self._studios[sid]
        return {"id": str(sid), "name": studio["name"], "details": None,
                "parent_studio": lambda _args: self._related_studios(studio["parent"], None, base),
                "child_studios": lambda _args: self._related_studios(None, sid, base),
                "image_path": f"{base}/studio/{sid}/image?t={studio['t']}"}

    def _related_studios(self, parent: Optional[int], child_of: Optional[int], base: str) -> Any:
        """Resolved lazily: parent and child links would otherwise recurse forever."""
        with self._lock:
            if child_of is None:
                return self._studio_view(parent, base)
            return [self._studio_view(c, base) for c, s in self._studios.items() if s["parent"] == child_of]

    def _performer_view(self, pid: int, base: str) -> dict:
        p = self._performers[pid]
        return {"id": str(pid), "name": p["name"], "disambiguation": p["disambiguation"], "gender": p["gender"],
                "image_path": f"{base}/performer/{pid}/image?t={p['t']}", "alias_list": []}

    def _tag_view(self, tid: int) -> dict:
        return {"id": str(tid), "name": self._tags[tid]["name"], "description": None, "aliases": []}

    def _group_view(self, gid: int) -> dict:
        return {"id": str(gid), "name": self._groups[gid]["name"]}

    # -- findScenes ------------------------------------------------------------------------

    def _find_scenes(self, args: dict, base: str) -> dict:
        with self._lock:
            if args.get("ids") is not None or args.get("scene_ids") is not None:
                scenes = self._by_ids([int(i) for i in (args.get("ids") or args.get("scene_ids") or [])])
                page = scenes
            else:
                scenes = self._filtered(args.get("scene_filter") or {})
                scenes = _search(scenes, (args.get("filter") or {}).get("q"))
                scenes = self._sorted(scenes, args.get("filter") or {})
                page = _page(scenes, args.get("filter") or {})
            return {"count": len(scenes), "scenes": [self._scene_view(s, base) for s in page],
                    "duration": sum(s.files[0]["duration"] for s in scenes if s.files),
                    "filesize": float(sum(s.files[0]["size"] for s in scenes if s.files))}

    def _by_ids(self, ids: list) -> list:
        for sid in ids:
            if sid not in self._scenes:
                raise GraphQLError(f"scene with id {sid} not found")
        return [self._scenes[sid] for sid in ids]

    def _filtered(self, scene_filter: dict) -> list:
        return [s for s in self._scenes.values()
                if all(self._matches(s, key, crit) for key, crit in scene_filter.items() if crit is not None)]

    def _matches(self, scene: _Scene, key: str, crit: Any) -> bool:
        if key == "organized":
            return scene.organized == crit
        if key in ("updated_at", "created_at"):
            bound = self._format(self._now() + dt.timedelta(days=1))
            return _compare(getattr(scene, key), crit, bound, key)
        if key in ("id", "rating100"):
            return _compare(getattr(scene, key), crit, None, key)
        if key == "title":
            return _string_match(scene.title, crit)
        if key == "studios":
            have = {scene.studio} if scene.studio else set()
            return _multi_match(have, crit, lambda ids: self._studio_tree(ids, crit.get("depth")))
        return _multi_match(set(getattr(scene, key)), crit, None)

    def _studio_tree(self, ids: set, depth: Optional[int]) -> set:
        out, frontier, level = set(ids), set(ids), 0
        while frontier and depth not in (None, 0) and (depth < 0 or level < depth):
            frontier = {sid for sid, s in self._studios.items() if s["parent"] in frontier} - out
            out |= frontier
            level += 1
        return out

    def _sorted(self, scenes: list, find_filter: dict) -> list:
        sort = find_filter.get("sort")
        if not sort:
            return list(scenes)  # no ORDER BY at all in Stash; insertion order here
        if sort not in _SORTS and not re.fullmatch(r"random_\d+", sort):
            if sort.startswith("random_"):
                raise GraphQLError(f"invalid random seed: {sort[len('random_'):]}")
            raise GraphQLError(f"invalid sort: {sort}")
        desc = find_filter.get("direction") == "DESC"
        if sort == "id":  # ids are unique: the title tiebreak can never decide (and costs O(n) regexes per page)
            return sorted(scenes, key=lambda s: s.id, reverse=desc)
        scenes = sorted(scenes, key=lambda s: (_natural(s.title if s.title is not None else str(s.id)), s.id))
        return sorted(scenes, key=lambda s: _nullable(self._sort_value(s, sort)), reverse=desc)

    def _sort_value(self, scene: _Scene, sort: str) -> Any:
        first = scene.files[0] if scene.files else {}
        if sort.startswith("random"):
            return random.Random(f"{sort}:{scene.id}").random()
        values = {
            "id": scene.id, "title": _natural(scene.title or first.get("basename", "")), "date": scene.date,
            "created_at": scene.created_at, "updated_at": scene.updated_at, "code": scene.code,
            "path": _natural(first.get("path", "")), "rating": scene.rating100, "organized": scene.organized,
            "filesize": first.get("size"), "duration": first.get("duration"), "bitrate": first.get("bit_rate"),
            "framerate": first.get("frame_rate"), "tag_count": len(scene.tags),
            "performer_count": len(scene.performers), "file_count": len(scene.files),
            "studio": self._studios[scene.studio]["name"] if scene.studio else None,
        }
        return values.get(sort, 0)  # other whitelisted sorts: all equal, so the tiebreak decides

    # -- HTTP ------------------------------------------------------------------------------

    def _handle(self, handler: "_Handler", method: str) -> None:
        arrived = time.time()
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        url = urllib.parse.urlsplit(handler.path)
        payload = _json_body(body) if url.path == "/graphql" and method == "POST" else None
        op_name = _operation_name(payload)
        if self.latency:
            time.sleep(self.latency)
        fault = self._take_fault(op_name, url.path)
        if fault is not None and fault.drop:
            self._log(handler, method, url, payload, op_name, None, arrived)
            _drop(handler)
            return
        status, ctype, data, headers = (fault.status, "text/plain", b"fake fault\n", {}) if fault \
            else self._route(handler, method, url, body, payload)
        self._log(handler, method, url, payload, op_name, status, arrived)  # before the client can read it
        _send(handler, status, ctype, data, headers)

    def _log(self, handler: "_Handler", method: str, url: urllib.parse.SplitResult, payload: Any,
             op_name: Optional[str], status: Optional[int], arrived: float) -> None:
        payload = payload if isinstance(payload, dict) else {}
        record = RequestRecord(method, url.path, op_name, payload.get("variables"), dict(handler.headers),
                               status, arrived, url.query, payload.get("query"))
        with self._lock:
            self._requests.append(record)

    def _route(self, handler: "_Handler", method: str, url: urllib.parse.SplitResult, body: bytes,
               payload: Any) -> tuple:
        authorized, headers = self._authenticate(handler, url)
        if not authorized:
            return 401, "text/plain", b"Unauthorized\n", {}
        if url.path == "/graphql":
            return self._graphql_http(handler, method, body, payload) + (headers,)
        match = re.fullmatch(r"/(scene|performer|studio)/(\d+)/(screenshot|preview|stream|webp|image)", url.path)
        if method != "GET" or match is None:
            return 404, "text/plain", b"404 page not found\n", headers
        return self._media(*match.groups()) + (headers,)

    def _graphql_http(self, handler: "_Handler", method: str, body: bytes, payload: Any) -> tuple:
        ctype = handler.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if method != "POST" or ctype != "application/json":
            return 400, "application/json", _dumps({"errors": [{"message": "transport not supported"}], "data": None})
        if not isinstance(payload, dict):
            message = "json body could not be decoded: invalid request body"
            return 400, "application/json", _dumps({"errors": [{"message": message}], "data": None})
        base = "http://" + (handler.headers.get("Host") or f"127.0.0.1:{self.port}")
        status, response = self._execute(payload.get("query") or "", payload.get("variables"),
                                         payload.get("operationName") or None, base)
        return status, "application/json", _dumps(response)

    def _media(self, kind: str, object_id: str, what: str) -> tuple:
        oid = int(object_id)
        with self._lock:
            table = {"scene": self._scenes, "performer": self._performers, "studio": self._studios}[kind]
            if oid not in table or (kind == "scene") == (what == "image"):
                return 404, "text/plain", b"404 page not found\n"
        if what in ("screenshot", "webp"):
            return 200, "image/jpeg", self.screenshot_bytes(oid)
        if what == "image":
            return 200, "image/jpeg", b"\xff\xd8\xff\xe0FAKE-STASH-%s-IMAGE %d\xff\xd9" % (kind.upper().encode(), oid)
        return 200, "video/mp4", b"\x00\x00\x00\x18ftypmp42FAKE-STASH-%s scene=%d" % (what.upper().encode(), oid)

    def _authenticate(self, handler: "_Handler", url: urllib.parse.SplitResult) -> tuple:
        """pkg/session/session.go: an ApiKey (header, else ?apikey=) must match; else the cookie decides."""
        key = handler.headers.get("ApiKey") or urllib.parse.parse_qs(url.query).get("apikey", [""])[0]
        if key:
            return bool(self.api_key) and hmac.compare_digest(key, self.api_key), {}
        cookie = _session_cookie(handler.headers.get_all("Cookie") or [])
        with self._lock:
            valid = cookie is not None and cookie in self._cookies
            if valid and self.refresh_cookies:
                self._cookies.append(self._mint_cookie())
                return True, {"Set-Cookie": f"session={self._cookies[-1]}; Path=/"}
        return valid or not self.require_auth, {}


def _scene_input_changes(data: dict) -> dict:
    changes = {k: data[k] for k in ("title", "code", "details", "director", "urls", "date", "rating100",
                                    "organized", "stash_ids") if k in data}
    if "url" in data and "urls" not in data:
        changes["urls"] = [data["url"]] if data["url"] else []
    renames = {"studio_id": "studio", "performer_ids": "performers", "tag_ids": "tags"}
    for key, target in renames.items():
        if key in data:
            value = data[key]
            changes[target] = (int(value) if value else None) if key == "studio_id" else [int(v) for v in value or []]
    if "groups" in data:
        changes["groups"] = [(int(g["group_id"]), g.get("scene_index")) for g in data["groups"] or []]
    return changes


def _decode_image(data: str) -> bytes:
    return base64.b64decode(data.split(",", 1)[1] if data.startswith("data:") else data)


def _oshash(path: str) -> str:
    return hashlib.sha1(path.encode()).hexdigest()[:16]


def _search(scenes: list, q: Optional[str]) -> list:
    """FindFilterType.q, roughly: a case-insensitive substring of title, details, code or a file path."""
    if not q:
        return scenes
    needle = q.lower()
    return [s for s in scenes
            if any(needle in (text or "").lower() for text in [s.title, s.details, s.code] + [f["path"] for f in s.files])]


def _page(scenes: list, find_filter: dict) -> list:
    """models.FindFilterType: page 1-based (<1 means 1), per_page default 25, negative = all."""
    per_page = find_filter.get("per_page")
    per_page = 25 if per_page is None else per_page
    if per_page < 0:
        return scenes
    page = max(find_filter.get("page") or 1, 1)
    return scenes[(page - 1) * per_page:page * per_page]


def _compare(have: Any, crit: dict, default_bound: Any, key: str) -> bool:
    """Int and timestamp criteria; timestamps compare as TEXT, exactly like Stash's SQL."""
    value, value2, mod = crit.get("value"), crit.get("value2"), crit["modifier"]
    if mod in ("BETWEEN", "NOT_BETWEEN"):
        upper = value2 if value2 is not None else default_bound
        inside = have is not None and upper is not None and value <= have <= upper
        return inside if mod == "BETWEEN" else not inside
    checks = {
        "EQUALS": lambda: have == value, "NOT_EQUALS": lambda: have != value,
        "GREATER_THAN": lambda: have is not None and have > value,
        "LESS_THAN": lambda: have is not None and have < value,
        "IS_NULL": lambda: have is None, "NOT_NULL": lambda: have is not None,
    }
    if mod not in checks:
        raise GraphQLError(f"{key}: modifier {mod} is not supported for this criterion")
    return checks[mod]()


def _string_match(have: Optional[str], crit: dict) -> bool:
    value, mod = crit["value"], crit["modifier"]
    text = have or ""
    checks = {
        "EQUALS": lambda: text.lower() == value.lower(), "NOT_EQUALS": lambda: text.lower() != value.lower(),
        "INCLUDES": lambda: value.lower() in text.lower(), "EXCLUDES": lambda: value.lower() not in text.lower(),
        "MATCHES_REGEX": lambda: re.search(value, text) is not None,
        "NOT_MATCHES_REGEX": lambda: re.search(value, text) is None,
        "IS_NULL": lambda: not have, "NOT_NULL": lambda: bool(have),
    }
    if mod not in checks:
        raise GraphQLError(f"title: modifier {mod} is not supported")
    return checks[mod]()


def _multi_match(have: set, crit: dict, expand: Optional[Callable]) -> bool:
    ids = {int(v) for v in crit.get("value") or []}
    excludes = {int(v) for v in crit.get("excludes") or []}
    if expand is not None:
        ids, excludes = expand(ids), expand(excludes)
    if have & excludes:
        return False
    checks = {
        "INCLUDES": lambda: bool(have & ids) or not ids, "INCLUDES_ALL": lambda: ids <= have,
        "EXCLUDES": lambda: not (have & ids), "IS_NULL": lambda: not have, "NOT_NULL": lambda: bool(have),
    }
    mod = crit["modifier"]
    if mod not in checks:
        raise GraphQLError(f"modifier {mod} is not supported for this criterion")
    return checks[mod]()


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _operation_name(payload: Any) -> Optional[str]:
    """The operationName sent, else the name of the document's first operation."""
    if not isinstance(payload, dict):
        return None
    if payload.get("operationName"):
        return payload["operationName"]
    match = re.search(r"\b(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)", payload.get("query") or "")
    return match.group(1) if match else None


def _session_cookie(headers: list) -> Optional[str]:
    for header in headers:
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == "session":
                return value
    return None


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _send(handler: "_Handler", status: int, ctype: str, data: bytes, headers: dict) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(data)))
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def _drop(handler: "_Handler") -> None:
    handler.close_connection = True
    _close_quietly(handler.connection)


def _close_quietly(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Handler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that hands every request to the owning FakeStash."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeStash"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.stash._conns.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.stash._conns.discard(self.connection)  # type: ignore[attr-defined]
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.stash._handle(self, "GET")  # type: ignore[attr-defined]

    def do_POST(self) -> None:  # noqa: N802
        self.server.stash._handle(self, "POST")  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature from http.server)
        """Silenced: tests read ``FakeStash.requests`` instead."""
