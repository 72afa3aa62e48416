"""Unknown query parameters are refused on every route, so that a typo never silently widens a filter."""

from __future__ import annotations

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


def declared_query_parameters(app: Litestar) -> dict[int, frozenset[str]]:
    """The query parameters each route handler takes (by public name, dependencies' included), by handler id."""
    return {
        id(handler): frozenset(parameter.field_alias for parameter in kwargs_model.expected_query_params)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler, kwargs_model in route.route_handler_map.values()
    }


class UnknownQueryParameters:
    """Pure ASGI middleware after routing: 400 naming every query parameter the matched handler does not take.

    The handlers' parameters are read once, from the app, on the first request that has a query string.
    ``OPTIONS`` is left alone: its handler is Litestar's own, and a browser's preflight carries the query string
    of the request it asks about.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._declared: dict[int, frozenset[str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the query string's names, then pass the request on."""
        query = scope.get("query_string", b"")
        if query and scope["type"] == ScopeType.HTTP and scope["method"] != "OPTIONS":
            self._check(scope, query)
        await self.app(scope, receive, send)

    def _check(self, scope: Scope, query: bytes) -> None:
        if self._declared is None:
            self._declared = declared_query_parameters(scope["litestar_app"])
        declared = self._declared.get(id(scope["route_handler"]), frozenset())
        names = dict.fromkeys(name for name, _ in query_pairs(query))
        unknown = [name for name in names if name not in declared]
        if unknown:
            raise ClientException(_message(unknown, declared, scope))


def _message(unknown: list[str], declared: frozenset[str], scope: Any) -> str:
    listed = ", ".join(repr(name) for name in unknown)
    noun = "parameter" if len(unknown) == 1 else "parameters"
    takes = ", ".join(sorted(declared)) if declared else "no query parameters"
    return f"unknown query {noun} {listed}: {scope['method']} {scope['path']} takes {takes}"
