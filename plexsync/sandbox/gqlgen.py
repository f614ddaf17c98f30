"""GraphQL requests answered the way Stash's server (gqlgen) answers them; graphql-core does the GraphQL.

graphql-core parses, validates, coerces and executes. This module only maps its results onto
gqlgen's HTTP answers (docs/stash-plugin-protocol.md §4.2, §5):

* a document that does not parse: 422, ``extensions.code`` ``GRAPHQL_PARSE_FAILED``;
* one that does not validate, an operation name that is not in the document, or variables that do
  not fit their types: 422, ``GRAPHQL_VALIDATION_FAILED`` (gqlgen's executor gives all three that
  code, and its transport answers 422 for it);
* an error inside a resolver: 200, ``errors`` (message and path, as gqlgen's default error presenter
  writes them) next to whatever ``data`` survived null propagation.

A request error has no path and a resolver error always has one (GraphQL spec §7.1.2), which is how
the two are told apart. Validation depends only on the schema and the document, so parsed and
validated documents are cached by schema and text, for every endpoint of the process.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

from graphql import DocumentNode, GraphQLError, GraphQLSchema, execute, parse, validate

__all__ = ["Endpoint"]

PARSE_FAILED, VALIDATION_FAILED = "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED"


class Endpoint:
    """One schema and one field resolver, answering requests."""

    def __init__(self, schema: GraphQLSchema, field_resolver: Callable) -> None:
        self.schema = schema
        self.field_resolver = field_resolver

    def answer(self, query: str, variables: Optional[dict], operation_name: Optional[str],
               context: Any = None) -> tuple:
        """Run one request; return ``(http_status, response_dict)`` as gqlgen would."""
        document, errors, code = _prepared(self.schema, query)
        if errors:
            return 422, {"errors": [_request_error(e, code) for e in errors], "data": None}
        result = execute(self.schema, document, context_value=context, variable_values=variables or {},
                         operation_name=operation_name, field_resolver=self.field_resolver,
                         is_awaitable=_never_awaitable)
        failed = [e for e in result.errors or () if e.path is None]
        if failed:
            return 422, {"errors": [_request_error(e, VALIDATION_FAILED) for e in failed], "data": None}
        if result.errors:
            return 200, {"errors": [{"message": e.message, "path": e.path} for e in result.errors],
                         "data": result.data}
        return 200, {"data": result.data}


@functools.lru_cache(maxsize=512)
def _prepared(schema: GraphQLSchema, query: str) -> tuple:
    """``(document, errors, error code)``: the document parsed and validated, or why it is not."""
    try:
        document: Optional[DocumentNode] = parse(query)
    except GraphQLError as exc:
        return None, [exc], PARSE_FAILED
    return document, validate(schema, document), VALIDATION_FAILED


def _never_awaitable(_value: Any) -> bool:
    """Every resolver of the fake is synchronous; saying so spares graphql-core a check per field."""
    return False


def _request_error(error: GraphQLError, code: str) -> dict:
    out: dict = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    out["extensions"] = {"code": code}
    return out
