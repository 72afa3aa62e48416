"""Unknown and repeated query parameters are refused on every route, so that a filter never silently changes.

A typo would widen it; a repeated name would narrow it to its last value (Litestar keeps only that one).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any
from urllib.parse import parse_qsl

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.exceptions import ClientException
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Receive, Scope, Send

QueryPairs = tuple[tuple[str, str], ...]
REMEMBERED_QUERIES = 4096
"""Query strings whose parse a worker remembers: the same few are asked again and again."""
LONGEST_REMEMBERED = 1024
"""A longer query string is parsed each time, so that the memo stays small whatever clients send."""


def query_pairs(query: bytes) -> QueryPairs:
    """The name and value pairs of a query string, in order; blank values kept."""
    if len(query) > LONGEST_REMEMBERED:
        return _parsed(query)
    return _remembered(query)


def canonical_query(query: bytes) -> QueryPairs:
    """The pairs sorted by name (repeated names keep their order): one key for the same question however asked."""
    if len(query) > LONGEST_REMEMBERED:
        return _sorted(_parsed(query))
    return _remembered_canonical(query)


def _parsed(query: bytes) -> QueryPairs:
    return tuple(parse_qsl(query.decode("latin-1"), keep_blank_values=True))


def _sorted(pairs: QueryPairs) -> QueryPairs:
    return tuple(sorted(pairs, key=itemgetter(0)))


@lru_cache(maxsize=REMEMBERED_QUERIES)
def _remembered(query: bytes) -> QueryPairs:
    return _parsed(query)


@lru_cache(maxsize=REMEMBERED_QUERIES)
def _remembered_canonical(query: bytes) -> QueryPairs:
    return _sorted(_remembered(query))


class CommaSeparated:
    """Annotation of a query parameter that takes several values in one, comma-separated (``race=asian,white``)."""


COMMA_SEPARATED = CommaSeparated()


@dataclass(frozen=True)
class DeclaredQuery:
    """The query parameters of one route handler, by public name (its dependencies' included)."""

    names: frozenset[str]
    repeatable: frozenset[str]
    """Parameters typed as a list: each repetition is one more value."""
    comma_separated: frozenset[str]
    """Parameters annotated ``COMMA_SEPARATED``: several values go into one, separated by commas."""


NO_QUERY = DeclaredQuery(frozenset(), frozenset(), frozenset())


def declared_query_parameters(app: Litestar) -> dict[int, DeclaredQuery]:
    """The query parameters each route handler takes, by handler id."""
    declared: dict[int, DeclaredQuery] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler, kwargs_model in route.route_handler_map.values():
            parameters = kwargs_model.expected_query_params
            signature = handler.parsed_fn_signature.parameters
            declared[id(handler)] = DeclaredQuery(
                names=frozenset(parameter.field_alias for parameter in parameters),
                repeatable=frozenset(parameter.field_alias for parameter in parameters if parameter.is_sequence),
                comma_separated=frozenset(
                    parameter.field_alias
                    for parameter in parameters
                    if parameter.field_name in signature
                    and any(isinstance(extra, CommaSeparated) for extra in signature[parameter.field_name].metadata)
                ),
            )
    return declared


class UnknownQueryParameters:
    """Pure ASGI middleware after routing: 400 naming every query parameter the matched handler does not take.

    A parameter given more than once is a 400 too, unless it is a list: Litestar would keep only its last value.

    The handlers' parameters are read once, from the app, on the first request that has a query string.
    ``OPTIONS`` is left alone: its handler is Litestar's own, and a browser's preflight carries the query string
    of the request it asks about.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._declared: dict[int, DeclaredQuery] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the query string's names, then pass the request on."""
        query = scope.get("query_string", b"")
        if query and scope["type"] == ScopeType.HTTP and scope["method"] != "OPTIONS":
            self._check(scope, query)
        await self.app(scope, receive, send)

    def _check(self, scope: Scope, query: bytes) -> None:
        if self._declared is None:
            self._declared = declared_query_parameters(scope["litestar_app"])
        declared = self._declared.get(id(scope["route_handler"]), NO_QUERY)
        pairs = query_pairs(query)
        names = dict.fromkeys(name for name, _ in pairs)
        unknown = [name for name in names if name not in declared.names]
        if unknown:
            raise ClientException(_unknown_message(unknown, declared.names, scope))
        if len(names) == len(pairs):
            return
        counts = Counter(name for name, _ in pairs)
        repeated = [name for name in names if counts[name] > 1 and name not in declared.repeatable]
        if repeated:
            raise ClientException(_repeated_message(repeated, declared.comma_separated))


def _unknown_message(unknown: list[str], declared: frozenset[str], scope: Any) -> str:
    listed = ", ".join(repr(name) for name in unknown)
    noun = "parameter" if len(unknown) == 1 else "parameters"
    takes = ", ".join(sorted(declared)) if declared else "no query parameters"
    return f"unknown query {noun} {listed}: {scope['method']} {scope['path']} takes {takes}"


def _repeated_message(repeated: list[str], comma_separated: frozenset[str]) -> str:
    advice = [
        f"{name!r} takes several values in one, comma-separated ({name}=a,b)"
        if name in comma_separated
        else f"{name!r} takes one value"
        for name in repeated
    ]
    noun = "parameter" if len(repeated) == 1 else "parameters"
    listed = ", ".join(repr(name) for name in repeated)
    return f"query {noun} {listed} given more than once: {'; '.join(advice)}"
