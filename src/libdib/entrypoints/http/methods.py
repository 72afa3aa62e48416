"""HEAD on every GET route, and an ``Allow`` header that lists what a path really answers to."""

from __future__ import annotations

from litestar import Litestar
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils import normalize_path

NO_METHOD = "LIBDIB-NO-METHOD"
"""A method no route has: asking the router for it makes it name the methods the path does have."""


class MethodsMiddleware:
    """Pure ASGI middleware in front of Litestar's router.

    ``HEAD`` runs the ``GET`` handler (auth and all) and sends its status and headers without the body
    (RFC 9110 §9.3.2); Litestar answers it with 405 otherwise. Litestar's automatic ``OPTIONS`` handler
    names the methods of the first handler registered on a path, not all of them, so its ``Allow`` is
    replaced by the router's own list.
    """

    def __init__(self, app: ASGIApp, litestar: Litestar) -> None:
        self.app = app
        self.litestar = litestar

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite HEAD into GET, and fix the ``Allow`` of OPTIONS answers; pass everything else through."""
        method = scope.get("method")
        if method == "HEAD":
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))  # type: ignore[arg-type]
        elif method == "OPTIONS":
            await self.app(scope, receive, self._with_allow(scope, send))
        else:
            await self.app(scope, receive, send)

    def allowed(self, path: str) -> str | None:
        """The methods ``path`` answers to (with HEAD where it has GET), or None for no such path."""
        try:
            self.litestar.asgi_router.handle_routing(path=normalize_path(path), method=NO_METHOD)
        except MethodNotAllowedException as error:
            methods = {method.strip() for method in (error.headers or {}).get("allow", "").split(",") if method}
        except NotFoundException:
            return None
        else:
            return None
        if "GET" in methods:
            methods.add("HEAD")
        return ", ".join(sorted(methods | {"OPTIONS"}))

    def _with_allow(self, scope: Scope, send: Send) -> Send:
        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if any(name.lower() == b"allow" for name, _ in headers) and (allow := self.allowed(scope["path"])):
                    headers = [(name, value) for name, value in headers if name.lower() != b"allow"]
                    headers.append((b"allow", allow.encode()))
                    message["headers"] = headers
            await send(message)

        return send_with_allow


def _without_body(send: Send) -> Send:
    async def send_headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    return send_headers_only
