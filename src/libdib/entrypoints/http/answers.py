"""Kept answers: a census GET asked again at the same data version is answered from its encoded bytes.

``KeptAnswers`` sits in the app's middleware after authentication and the query check, so every request is
authenticated (and its unknown parameters refused) exactly as without it. It only keeps answers of the routes
``DataETagMiddleware`` tags (the census reads) whose handlers have no guard, since a guard runs with the handler
that a kept answer skips. An answer is kept by path, canonical query and ``Accept`` (the representation), under
the data version it was asked at; when the version moves every kept answer is forgotten, so once a write has
answered (and the worker's lease has seen its epoch) no worker serves what it replaced.

``KeptAnswersBeforeRouting`` sends what ``KeptAnswers`` kept from in front of Litestar, so that a repeated read
costs a token check and a lookup rather than the router and the route's middleware as well.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from libdib.bootstrap import Services
from libdib.domain.errors import DomainError
from libdib.entrypoints.http.auth import bearer_token
from libdib.entrypoints.http.etags import DataETagMiddleware, matches, send_not_modified
from libdib.entrypoints.http.query_check import canonical_query

KEPT_BYTES = 64 * 1024 * 1024
"""The bodies a worker keeps at most, in bytes; the least recently used answer is forgotten first."""
LARGEST_KEPT = 1024 * 1024
"""A larger answer (a CSV export, say) is sent as it is made and not kept: it would crowd out many small ones."""
RawHeaders = tuple[tuple[bytes, bytes], ...]
Key = tuple[str, tuple[tuple[str, str], ...], bytes]


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful answer as the app sent it: status, headers (a copy, immutable) and the whole body."""

    status: int
    headers: RawHeaders
    body: bytes
    etag: bytes = field(init=False)
    """The entity tag the app gave it, found once when kept rather than on every revalidation."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "etag", next((value for name, value in self.headers if name == b"etag"), b""))


def _size(answer: Answer) -> int:
    return len(answer.body) + 1


def keeps(handler: BaseRouteHandler) -> bool:
    """Whether a handler's answers may be kept: a census read (tagged with the data version) with no guard."""
    return DataETagMiddleware in handler.resolve_middleware() and not handler.resolve_guards()


def key_of(scope: Scope) -> Key:
    """Path, query parameters in a canonical order (by name; repeated names keep their order) and ``Accept``."""
    accept = next((value for name, value in scope["headers"] if name == b"accept"), b"")
    return scope["path"], canonical_query(scope.get("query_string", b"")), accept


async def send_kept(scope: Scope, send: Send, answer: Answer) -> None:
    """Send a kept answer, or 304 when the request's ``If-None-Match`` names its tag."""
    if_none_match = next((value for name, value in scope["headers"] if name == b"if-none-match"), b"")
    if if_none_match and matches(if_none_match, answer.etag):
        await send_not_modified(send, answer.etag)
        return
    # New message dicts and a new header list each time: later middleware may change what it is sent.
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": answer.status,
        "headers": list(answer.headers),
    }
    await send(start)
    await send({"type": "http.response.body", "body": answer.body, "more_body": False})


class KeptAnswerStore:
    """The answers one app keeps, at one data version.

    Litestar builds a middleware per route handler, so every route's ``KeptAnswers`` shares this one store, and
    the bound holds for the app as a whole.
    """

    def __init__(self, capacity: int = KEPT_BYTES) -> None:
        self._answers: LRUCache[Key, Answer] = LRUCache(capacity, getsizeof=_size)
        self.version = ""

    def get(self, key: Key, version: str) -> Answer | None:
        """The answer kept for ``key`` at ``version``; meeting a new version forgets every answer of the old one."""
        if version != self.version:
            self._answers.clear()
            self.version = version
        return self._answers.get(key)

    def keep(self, key: Key, version: str, answer: Answer) -> None:
        """Keep ``answer``, unless the version moved while it was made or it is larger than the whole capacity."""
        if version == self.version:
            with contextlib.suppress(ValueError):
                self._answers[key] = answer


class KeptAnswers:
    """Pure ASGI middleware: keeps the answers of census GETs, and answers a repeated one from what it kept.

    Most repeated reads never reach it: ``KeptAnswersBeforeRouting`` sends them first. It answers the ones that
    door passes on with a kept answer still there (a cross-origin read when CORS is on), 304 when
    ``If-None-Match`` matches.
    """

    def __init__(self, app: ASGIApp, store: KeptAnswerStore) -> None:
        self.app = app
        self._store = store
        self._eligible: bool | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer from a kept answer, or run the handler and keep its answer."""
        if scope["type"] != ScopeType.HTTP or scope["method"] != "GET" or not self._keeps(scope["route_handler"]):
            await self.app(scope, receive, send)
            return
        services: Services = scope["litestar_app"].state.services
        version = await services.datasets.data_version()
        key = key_of(scope)
        answer = self._store.get(key, version)
        if answer is None:
            await self.app(scope, receive, self._keeping(key, version, send))
            return
        await send_kept(scope, send, answer)

    def _keeps(self, handler: BaseRouteHandler) -> bool:
        if self._eligible is None:
            self._eligible = keeps(handler)
        return self._eligible

    def _keeping(self, key: Key, version: str, send: Send) -> Send:
        """``send``, copying a 200 answer as it passes; kept once whole."""
        status = 0
        headers: RawHeaders = ()
        chunks: list[bytes] = []
        size = 0

        async def send_and_keep(message: Message) -> None:
            nonlocal status, headers, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = tuple((bytes(name), bytes(value)) for name, value in message.get("headers", ()))
            elif message["type"] == "http.response.body" and status == 200 and size <= LARGEST_KEPT:
                body: Any = message.get("body", b"")
                chunks.append(bytes(body))
                size += len(body)
                if not message.get("more_body", False) and size <= LARGEST_KEPT:
                    self._store.keep(key, version, Answer(status, headers, b"".join(chunks)))
            await send(message)

        return send_and_keep


def kept_answers(store: KeptAnswerStore) -> DefineMiddleware:
    """The route middleware for one app, every route keeping its answers in ``store``."""
    return DefineMiddleware(KeptAnswers, store=store)


class KeptAnswersBeforeRouting:
    """Pure ASGI middleware in front of Litestar: answers a kept census GET before routing it.

    What the route's middleware would check before ``KeptAnswers`` answered, it checks here: the access token
    (every kept route takes any live token and has no guard), and the query (a kept answer's key holds a query
    that passed the route's check). Whatever it cannot answer so goes on to Litestar, which answers it as
    always: no kept answer, a token that does not check (Litestar says why), and, when CORS is on, a request
    with an ``Origin`` (Litestar's CORS middleware adds headers the kept answer does not have).
    """

    def __init__(
        self,
        app: ASGIApp,
        store: KeptAnswerStore,
        *,
        data_version: Callable[[], Awaitable[str]],
        authenticate: Callable[[str], Awaitable[object]],
        cors: bool,
    ) -> None:
        self.app = app
        self._store = store
        self._data_version = data_version
        self._authenticate = authenticate
        self._cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the kept answer, or pass the exchange on."""
        answer = await self._kept_for(scope) if scope["type"] == ScopeType.HTTP and scope["method"] == "GET" else None
        if answer is None:
            await self.app(scope, receive, send)
        else:
            await send_kept(scope, send, answer)

    async def _kept_for(self, scope: Scope) -> Answer | None:
        """The kept answer for this request if it may be sent without Litestar, else None."""
        if self._cors and any(name == b"origin" for name, _ in scope["headers"]):
            return None
        try:
            answer = self._store.get(key_of(scope), await self._data_version())
            if answer is not None:
                await self._authenticate(bearer_token(scope))
        except DomainError:
            return None
        return answer
