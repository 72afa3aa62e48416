"""Per-request plumbing: a request id, one structured log line, and security headers on every response."""

from __future__ import annotations

import itertools
import os
import re
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from libdib.entrypoints.http.openapi import DOCS_PATH
from libdib.entrypoints.logs import AccessLog

REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_RAW = REQUEST_ID_HEADER.encode()
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
"""A caller's request id is kept only if it is this plain; anything else is replaced (log injection)."""
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'"
"""JSON and CSV responses load nothing and are never framed."""
DOCS_CSP = "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'"
"""The docs page runs Scalar (a script from the configured URL, with inline configuration), so only framing,
base URL, forms and plugins are restricted there."""
RawHeaders = list[tuple[bytes, bytes]]
PROCESS_PREFIX = os.urandom(8).hex()
"""Request ids are this worker's random prefix and a counter: unique without a system call per request."""
_sequence = itertools.count()


def _encoded(csp: str) -> RawHeaders:
    headers = {**SECURITY_HEADERS, "content-security-policy": csp}
    return [(name.encode(), value.encode()) for name, value in headers.items()]


API_HEADERS, DOCS_HEADERS = _encoded(API_CSP), _encoded(DOCS_CSP)
"""Added to a response unless its handler set them; raw ASGI pairs, cheaper than a header view per response."""


class RequestContextMiddleware:
    """Pure ASGI middleware (cheaper than Litestar's abstract one on the hot path).

    Logs method, path, status, duration and request id; never bodies, headers or tokens.
    """

    def __init__(self, app: ASGIApp, access_log: AccessLog) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one HTTP exchange; other scopes (websockets) pass straight through."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        docs = scope["path"].startswith(DOCS_PATH) and not scope["path"].endswith(".json")
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = _with_headers(message.get("headers", ()), request_id, docs)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if self.access_log.enabled():
                self.access_log.log(scope, request_id, status=status, started=started, ended=time.perf_counter())


def _with_headers(headers: Any, request_id: str, docs: bool) -> RawHeaders:
    """The response's headers with the request id, and each security header its handler did not set."""
    kept: RawHeaders = [(name, value) for name, value in headers if name.lower() != REQUEST_ID_RAW]
    present = {name.lower() for name, _ in kept}
    kept.append((REQUEST_ID_RAW, request_id.encode()))
    kept.extend(pair for pair in (DOCS_HEADERS if docs else API_HEADERS) if pair[0] not in present)
    return kept


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_RAW and SAFE_REQUEST_ID.fullmatch(value.decode("latin-1")):
            return str(value.decode("latin-1"))
    return f"{PROCESS_PREFIX}{next(_sequence):016x}"
