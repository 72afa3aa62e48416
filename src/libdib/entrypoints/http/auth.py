"""Bearer authentication: a middleware that trusts only live access tokens, and the admin guard."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from litestar.types import Scope

from libdib.domain.errors import Forbidden, Unauthenticated
from libdib.domain.identity import User
from libdib.domain.tokens import TokenService
from libdib.entrypoints.http.openapi import DOCS_PATH

OPEN_PATHS = [f"^{DOCS_PATH}(/|$)", "^/static/"]
"""The docs, the OpenAPI document and static assets; handlers open themselves with ``exclude_from_auth``."""


def bearer_token(scope: Scope) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; raises ``Unauthenticated`` otherwise.

    The header is found among the raw ASGI pairs, without building a header view on every request.
    """
    header = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
    scheme, _, token = header.decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send a token as 'Authorization: Bearer <token>' (log in at POST /auth/login)")
    return token.strip()


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Puts the domain ``User`` in ``request.user`` and the token's ``Claims`` in ``request.auth``."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        """Check the bearer token: signature, kind and expiry, then one query for user, session and revocation."""
        tokens: TokenService = connection.app.state.services.tokens
        user, claims = await tokens.authenticate(bearer_token(connection.scope))
        return AuthenticationResult(user=user, auth=claims)


def bearer_auth_middleware() -> DefineMiddleware:
    """The middleware, skipping the docs and every handler with ``opt={"exclude_from_auth": True}``."""
    return DefineMiddleware(BearerAuthMiddleware, exclude=OPEN_PATHS, exclude_from_auth_key="exclude_from_auth")


async def requires_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for data-changing handlers: 403 unless the caller is an admin (async: no thread hop)."""
    user = connection.user
    if not isinstance(user, User) or not user.is_admin:
        raise Forbidden("admin role required")
