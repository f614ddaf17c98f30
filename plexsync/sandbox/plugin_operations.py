"""``runPluginOperation`` for the fake Stash: the plugin runs through the Stash host, as Stash runs it.

Stash's resolver (pkg/plugin/plugins.go ``RunPlugin``) starts the plugin with the given args and no
task (no defaultArgs, no execArgs), waits for it inside the GraphQL request, and answers the plugin's
``output``; a non-empty ``error`` (or ``exit status N``) becomes a GraphQL error. Hand an instance to
``FakeStash.add_resolver("Mutation", "runPluginOperation", operations.resolve)``; ``runs`` keeps every result, so tests can see what reached the plugin.
"""

import json
from typing import Any, Optional

from graphql import GraphQLError

from plexsync.sandbox.stash_host import HostError, StashHost


class PluginOperations:
    """Runs ``runPluginOperation`` requests through a Stash host, one plugin process each."""

    def __init__(self, host: StashHost, timeout: Optional[float] = None) -> None:
        self.host, self.timeout = host, timeout
        self.runs: list = []

    def __call__(self, plugin_id: str, args: dict) -> tuple:
        """(output, error) of one operation, as Stash's resolver would answer it."""
        try:
            result = self.host.run_operation(plugin_id, dict(args), self.timeout)
        except HostError as exc:
            return None, str(exc)
        self.runs.append(result)
        return result.output, result.error

    def resolve(self, parent: None, args: dict, request: Any) -> Any:
        """The fake Stash's resolver for ``runPluginOperation``: the plugin's error becomes a GraphQL error."""
        output, error = self(args["plugin_id"], args.get("args") or {})
        if error:
            raise GraphQLError(error)
        return output

    def modes(self) -> list:
        """The ``args.mode`` of every run so far, in order."""
        return [_mode(result.stdin) for result in self.runs]


def _mode(stdin: bytes) -> Any:
    return (json.loads(stdin).get("args") or {}).get("mode")
