"""The open routes and the per-response plumbing, through the test client."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

pytestmark = pytest.mark.anyio

Client = AsyncTestClient[Litestar]


async def test_the_root_redirects_to_the_scalar_docs(client: Client) -> None:
    response = await client.get("/", follow_redirects=False)
    docs = await client.get("/schema")

    assert response.status_code == 302
    assert response.headers["location"] == "/schema"
    assert "api-reference-1.72.1.js" in docs.text or "api-reference@1.72.1/" in docs.text, "the version is pinned"


async def test_the_openapi_document_offers_bearer_and_password_login(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()

    schemes = schema["components"]["securitySchemes"]
    assert schema["openapi"].startswith("3.1")
    assert schemes["BearerToken"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["OAuth2Password"]["flows"]["password"]["tokenUrl"] == "/auth/login"
    assert schema["paths"]["/health"]["get"]["security"] == [{}]


async def test_health_answers_200_when_the_store_answers(client: Client) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_an_unknown_route_is_a_problem_document_with_a_request_id(client: Client) -> None:
    response = await client.get("/nowhere")
    again = await client.get("/nowhere")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
    assert response.json()["detail"]
    assert len(response.headers["x-request-id"]) == 32
    assert again.headers["x-request-id"] != response.headers["x-request-id"]


async def test_a_plain_request_id_from_the_caller_is_kept_and_a_hostile_one_replaced(client: Client) -> None:
    kept = await client.get("/health", headers={"x-request-id": "abc-12345678"})
    replaced = await client.get("/health", headers={"x-request-id": "x\r\nSet-Cookie: a=b"})

    assert kept.headers["x-request-id"] == "abc-12345678"
    assert replaced.headers["x-request-id"] != "x\r\nSet-Cookie: a=b"


async def test_api_responses_forbid_framing_and_loading_anything(client: Client) -> None:
    api = await client.get("/health")
    docs = await client.get("/schema")

    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    assert api.headers["x-content-type-options"] == "nosniff"
    assert docs.headers["x-frame-options"] == "DENY"
