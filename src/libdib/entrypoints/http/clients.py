"""Who the client is: the peer, or the address a trusted proxy forwarded (``LIBDIB_FORWARDED_ALLOW_IPS``).

``libdib serve`` runs uvicorn with its proxy headers off, so the app sees the real peer and decides here,
once per request, whose ``X-Forwarded-For`` to believe: only a peer's that the setting lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from litestar.connection import ASGIConnection
from litestar.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

UNKNOWN_CLIENT = "unknown"
"""The address of a client the server cannot name (e.g. over a Unix socket)."""


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The client's address, as ``trusting_proxies`` left it in the scope."""
    return connection.client.host if connection.client else UNKNOWN_CLIENT


def trusting_proxies(app: ASGIApp, proxies: Sequence[str]) -> ASGIApp:
    """``app`` behind uvicorn's proxy-header middleware when proxies are listed, else ``app`` itself.

    The middleware takes the client from ``X-Forwarded-For`` only when the peer is one of ``proxies`` (addresses
    or networks), and then the right-most address not itself a listed proxy, so a client cannot choose its own.
    """
    if not proxies:
        return app
    return cast("ASGIApp", ProxyHeadersMiddleware(cast("Any", app), list(proxies)))
