"""Strong ``ETag``s for the data GETs, derived from the data version, and 304 for a matching ``If-None-Match``.

Put ``DataETagMiddleware`` in the ``middleware`` of any controller or handler that reads census data (records,
comparisons, datasets, series, dimensions). It runs after authentication, asks the census view for the data
version (the worker's lease answers it without the database), and either answers 304 at once or tags the
handler's successful answer. The version is taken before the handler reads, so an answer is never tagged
newer than the data it holds: at worst a client fetches once more what it had.
"""

from __future__ import annotations

import zlib

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from libdib.bootstrap import Services

CACHE_CONTROL = (b"cache-control", b"private, no-cache")
"""Any cache may keep a copy for this user only, and must revalidate it before every use."""
VARY = (b"vary", b"Accept")


def entity_tag(version: str, accept: bytes) -> bytes:
    """The strong entity tag of the data at ``version`` as the representation ``accept`` asks for (JSON, CSV...)."""
    return f'"{version}-{zlib.crc32(accept):08x}"'.encode()


def matches(if_none_match: bytes, tag: bytes) -> bool:
    """Whether an ``If-None-Match`` list names ``tag`` (compared weakly, as RFC 9110 says for this header)."""
    if if_none_match == tag:
        # What a client sends back nearly always: the one tag it was given; no list to split.
        return True
    candidates = (candidate.strip().removeprefix(b"W/") for candidate in if_none_match.split(b","))
    return any(candidate in {tag, b"*"} for candidate in candidates)


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
        tag = entity_tag(await services.datasets.data_version(), headers.get(b"accept", b""))
        if matches(headers.get(b"if-none-match", b""), tag):
            await send_not_modified(send, tag)
            return

        async def send_tagged(message: Message) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                message["headers"] = [*message.get("headers", ()), (b"etag", tag), CACHE_CONTROL, VARY]
            await send(message)

        await self.app(scope, receive, send_tagged)
