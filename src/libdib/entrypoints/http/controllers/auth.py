"""Tokens: log in (JSON or OAuth2 password form), refresh, log out, revoke."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, Reference, Schema
from litestar.openapi.spec import RequestBody as RequestBodySpec
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE

from libdib.domain.identity import Claims, User
from libdib.domain.tokens import TokenService
from libdib.entrypoints.http.auth import bearer_token
from libdib.entrypoints.http.clients import client_address
from libdib.entrypoints.http.openapi import PUBLIC, THROTTLED
from libdib.entrypoints.http.schemas.identity import LoginRequest, TokenResponse

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
NO_STORE = CacheControlHeader(no_store=True)
"""Responses carrying tokens must not be cached (RFC 6749 §5.1)."""
EXCLUDED = {"exclude_from_auth": True}
"""Routes that read their token themselves (or need none) skip the access-token middleware."""
FIELD_AT = re.compile(r"`\$\.(?P<field>[^`\[.]+)")
"""The field of msgspec's ``... - at `$.username``` (a form's fields, or a flat JSON object's)."""

_STRING = Schema(type=OpenAPIType.STRING)
_CREDENTIALS: dict[str, Schema | Reference] = {
    "username": _STRING,
    "password": _STRING,
}
LOGIN_BODY = RequestBodySpec(
    required=True,
    description="The credentials as JSON, or as the form of the OAuth2 password grant (RFC 6749 §4.3).",
    content={
        JSON: OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.OBJECT, required=["username", "password"], properties=_CREDENTIALS),
        ),
        FORM: OpenAPIMediaType(
            schema=Schema(
                type=OpenAPIType.OBJECT,
                required=["username", "password"],
                properties={"grant_type": Schema(type=OpenAPIType.STRING, enum=["password"]), **_CREDENTIALS},
            ),
        ),
    },
)


@dataclass
class LoginOperation(Operation):
    """The login operation, documenting both request media types (one handler cannot declare two)."""

    def __post_init__(self) -> None:
        self.request_body = LOGIN_BODY


async def read_credentials(request: Request[Any, Any, Any]) -> LoginRequest:
    """The credentials of a JSON or form body; 415 for other media types, 400 naming a bad field."""
    media_type = request.content_type[0]
    raw: object
    if media_type == JSON:
        raw = await request.json()
    elif media_type == FORM:
        raw = dict((await request.form()).items())
    else:
        raise ClientException(f"send the credentials as {JSON} or {FORM}", status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE)
    try:
        return msgspec.convert(raw, LoginRequest)
    except msgspec.ValidationError as error:
        # Reported as Litestar reports a handler's body, so that the same words describe the same mistake.
        message, _, at = str(error).partition(" - at ")
        found = FIELD_AT.match(at)
        extra = [{"message": message, "key": found["field"] if found else "data", "source": "body"}]
        raise ValidationException(f"Validation failed for POST {request.url.path}", extra=extra) from None


class AuthController(Controller):
    """``/auth``: the token lifecycle."""

    path = "/auth"
    tags = ["auth"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post(
        "/login",
        operation_id="LogIn",
        summary="Log in with a username and password",
        security=PUBLIC,
        opt=EXCLUDED,
        status_code=200,
        cache_control=NO_STORE,
        operation_class=LoginOperation,
        responses={
            401: ResponseSpec(None, description="Wrong username or password (the same answer for both)"),
            415: ResponseSpec(None, description="The body is neither JSON nor a form"),
            429: THROTTLED,
        },
    )
    async def login(
        self, request: Request[Any, Any, Any], token_service: NamedDependency[TokenService]
    ) -> TokenResponse:
        """Starts a session: an access token for `Authorization: Bearer`, and a refresh token to renew it."""
        credentials = await read_credentials(request)
        pair = await token_service.login(credentials.username, credentials.password, client_address(request))
        return TokenResponse.from_domain(pair)

    @post(
        "/refresh",
        operation_id="RefreshTokens",
        summary="Exchange a refresh token (as Bearer) for a new pair",
        opt=EXCLUDED,
        status_code=200,
        cache_control=NO_STORE,
    )
    async def refresh(
        self, request: Request[Any, Any, Any], token_service: NamedDependency[TokenService]
    ) -> TokenResponse:
        """The presented refresh token is spent; presenting it again ends the whole session."""
        pair = await token_service.refresh(bearer_token(request.scope))
        return TokenResponse.from_domain(pair)

    @post("/logout", operation_id="LogOut", summary="End the session of the access token", status_code=204)
    async def logout(self, request: Request[User, Claims, Any], token_service: NamedDependency[TokenService]) -> None:
        """Every token of this session stops working; the user's other sessions go on."""
        await token_service.logout(request.auth)

    @post(
        "/revoke",
        operation_id="RevokeToken",
        summary="Revoke the presented token (access or refresh, as Bearer)",
        opt=EXCLUDED,
        status_code=204,
    )
    async def revoke(self, request: Request[Any, Any, Any], token_service: NamedDependency[TokenService]) -> None:
        """Exactly this token stops working; its session and other tokens go on."""
        await token_service.revoke(bearer_token(request.scope))
