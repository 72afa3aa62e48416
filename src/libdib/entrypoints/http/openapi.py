"""The OpenAPI document and the Scalar docs page, with bearer and OAuth2-password security schemes."""

from __future__ import annotations

from http import HTTPStatus

from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    OAuthFlow,
    OAuthFlows,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
    SecurityScheme,
    Tag,
)

import libdib
from libdib.config import Settings
from libdib.entrypoints.http.docs_page import DocsPage, scalar_source

DOCS_PATH = "/schema"
LOGIN_PATH = "/auth/login"
BEARER = "BearerToken"
OAUTH2 = "OAuth2Password"
PUBLIC: list[dict[str, list[str]]] = [{}]
"""``security=PUBLIC`` on a handler documents it as open to anyone."""
THROTTLED = ResponseSpec(None, description="Too many failed logins for this username or address; see Retry-After")
"""The 429 of every route that checks a password."""

DESCRIPTION = """
libdib serves the US Census Bureau's historical income table P-8 ("Age--People, by Median Income and Sex"):
records by race group, population, age bracket and year; CSV export; comparisons of two race groups in one year;
and series across every year (levels, changes and gaps between races, in any year's dollars) as JSON, CSV and charts.

Sign up with `POST /users`, then log in: in these docs, with the username and password form of
**Authentication** (OAuth2 password flow) and its **Authorize** button, after which every request sent from the
docs carries the token; elsewhere, with `POST /auth/login`, then send `Authorization: Bearer <access_token>`.

No script? [The docs as plain HTML](/schema/offline) and [the OpenAPI document](/schema/openapi.json).
""".strip()


def openapi_config(settings: Settings) -> OpenAPIConfig:
    """OpenAPI 3.1 at ``/schema/openapi.json`` and Scalar at ``/schema``, with pinned assets and a fallback."""
    return OpenAPIConfig(
        title="libdib",
        version=libdib.__version__,
        description=DESCRIPTION,
        path=DOCS_PATH,
        render_plugins=[DocsPage(scalar_source(settings), preferred_scheme=OAUTH2)],
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                OAUTH2: SecurityScheme(
                    type="oauth2",
                    description="Log in with a username and password; the docs then send the access token.",
                    flows=OAuthFlows(password=OAuthFlow(token_url=LOGIN_PATH, scopes={})),
                ),
            },
        ),
        # The password flow first: Scalar offers the first requirement, and its form logs in.
        security=[{OAUTH2: []}, {BEARER: []}],
        tags=[
            Tag(name="auth", description="Log in, refresh, log out and revoke tokens"),
            Tag(name="users", description="Accounts"),
            Tag(name="datasets", description="Loaded P-8 tables, one per race group"),
            Tag(name="records", description="The rows of the loaded tables"),
            Tag(name="comparisons", description="Two race groups side by side"),
            Tag(name="system", description="Health and docs"),
        ],
        use_handler_docstrings=True,
    )


PROBLEM = "Problem"
PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    description="An RFC 9457 problem: `detail` says what is wrong; a validation error names the field.",
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING, min_length=1),
        "errors": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.OBJECT)),
    },
)
METHODS = ("get", "put", "post", "delete", "patch")
PROBLEM_MEDIA_TYPE = "application/problem+json"


def document_errors(openapi: OpenAPI, admin_operations: set[str]) -> None:
    """Describe every error response as the problem document it is, and add the statuses any operation can give.

    Litestar documents its own error shape; libdib answers RFC 9457 problems (see ``problems.py``), so the
    document is corrected here once instead of in every handler.
    """
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    openapi.components.schemas[PROBLEM] = PROBLEM_SCHEMA
    problem = {PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref=f"#/components/schemas/{PROBLEM}"))}
    for path_item in (openapi.paths or {}).values():
        for method in METHODS:
            operation: Operation | None = getattr(path_item, method)
            if operation is None:
                continue
            statuses = {HTTPStatus.BAD_REQUEST, HTTPStatus.SERVICE_UNAVAILABLE}
            if operation.security != PUBLIC:
                statuses.add(HTTPStatus.UNAUTHORIZED)
            if operation.operation_id in admin_operations:
                statuses.add(HTTPStatus.FORBIDDEN)
            responses = operation.responses if operation.responses is not None else {}
            for status in statuses:
                responses.setdefault(str(int(status)), OpenAPIResponse(description=status.phrase))
            for code, response in responses.items():
                if code[0] in "45" and isinstance(response, OpenAPIResponse):
                    response.content = dict(problem)
            operation.responses = responses
