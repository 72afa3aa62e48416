"""Strong ``ETag``s for the data GETs, derived from the data version, and 304 for a matching ``If-None-Match``.

Put ``DataETagMiddleware`` in the ``middleware`` of any controller or handler that reads census data (records,
comparisons, datasets, series, dimensions). It runs after authentication, asks the census view for the data
version (the worker's lease answers it without the database), and either answers 304 at once or tags the
handler's successful answer. The version is taken before the handler reads, so an answer is never tagged
newer than the data it holds: at worst a client fetches once more what it had.

A tag names one representation of one URL (its path, its query in a canonical order and ``Accept``) at one data
version, so a tag given for one record never revalidates another, or a URL that answers an error. ``*`` matches
only what has a current representation: the handler answers first, and only its success becomes a 304.
"""

from __future__ import annotations

import zlib

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from libdib.bootstrap import Services
from libdib.entrypoints.http.query_check import canonical_query

CACHE_CONTROL = (b"cache-control", b"private, no-cache")
"""Any cache may keep a copy for this user only, and must revalidate it before every use."""
VARY = (b"vary", b"Accept")


def entity_tag(version: str, path: str, query: bytes, accept: bytes) -> bytes:
    """The strong entity tag of the data at ``version`` as the URL and ``accept`` ask for it (JSON, CSV...)."""
    representation = repr((path, canonical_query(query), accept)).encode()
    return f'"{version}-{zlib.crc32(representation):08x}"'.encode()


def matches(if_none_match: bytes, tag: bytes, *, current: bool = True) -> bool:
    """Whether an ``If-None-Match`` list names ``tag`` (compared weakly, as RFC 9110 says for this header).

    ``*`` names any current representation: pass ``current=False`` while it is not known that there is one.
    """
    if if_none_match == tag:
        # What a client sends back nearly always: the one tag it was given; no list to split.
        return True
    candidates = (candidate.strip().removeprefix(b"W/") for candidate in if_none_match.split(b","))
    named = {tag, b"*"} if current else {tag}
    return any(candidate in named for candidate in candidates)


async def send_not_modified(send: Send, tag: bytes) -> None:
    """Answer 304: the client's copy tagged ``tag`` is current."""
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 304,
        "headers": [(b"etag", tag), CACHE_CONTROL, VARY],
    }
    await send(start)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


class DataETagMiddleware:
    """Answers 304 to a GET whose ``If-None-Match`` names the current data; tags every successful GET otherwise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Revalidate or tag one exchange; anything but a GET passes straight through."""
        if scope["type"] != ScopeType.HTTP or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        services: Services = scope["litestar_app"].state.services
        headers = dict(scope["headers"])
        version = await services.datasets.data_version()
        tag = entity_tag(version, scope["path"], scope.get("query_string", b""), headers.get(b"accept", b""))
        if_none_match = headers.get(b"if-none-match", b"")
        if if_none_match and matches(if_none_match, tag, current=False):
            await send_not_modified(send, tag)
            return
        # Only "*" can still match: then the handler's success, if it succeeds, is a 304 instead.
        star = bool(if_none_match) and matches(if_none_match, tag)
        answered_304 = False

        async def send_tagged(message: Message) -> None:
            nonlocal answered_304
            if answered_304:
                return  # the body of the success a 304 stands for
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                if star:
                    answered_304 = True
                    await send_not_modified(send, tag)
                    return
                message["headers"] = [*message.get("headers", ()), (b"etag", tag), CACHE_CONTROL, VARY]
            await send(message)

        await self.app(scope, receive, send_tagged)
