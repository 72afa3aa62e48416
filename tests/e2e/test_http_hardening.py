"""Issue 14, items 12, 15 and 17: hostile JSON bodies, media types, HEAD and OPTIONS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from libdib.bootstrap import Services
from libdib.config import MIB, Settings
from libdib.domain.census import Dataset
from libdib.entrypoints.http.schemas.census import DatasetResponse
from tests.e2e.test_census_api import PASSWORD, log_in

pytestmark = pytest.mark.anyio

Client = AsyncTestClient[Any]
PUBLIC_JSON_ROUTES = ["/auth/login", "/users"]


@pytest.fixture
async def reader(client: Client) -> dict[str, str]:
    response = await client.post("/users", json={"username": "reader", "password": PASSWORD})
    assert response.status_code == 201, response.text
    return await log_in(client, "reader")


@pytest.mark.parametrize("path", PUBLIC_JSON_ROUTES)
async def test_json_nested_a_thousand_deep_is_a_400_naming_the_nesting(client: Client, path: str) -> None:
    body = b"[" * 1000 + b"]" * 1000
    response = await client.post(path, content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.parametrize("path", PUBLIC_JSON_ROUTES)
async def test_invalid_utf8_inside_a_json_string_is_a_400(client: Client, path: str) -> None:
    body = b'{"username": "ab\xff\xfecd", "password": "quartz-lantern-migrates-slowly"}'
    response = await client.post(path, content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    assert "UTF-8" in response.json()["detail"]


@pytest.fixture
async def admin(client: Client, memory_services: Services) -> dict[str, str]:
    await memory_services.users.sign_up("root", PASSWORD, is_admin=True)
    return await log_in(client, "root")


@pytest.mark.parametrize(("method", "path"), [("POST", "/users"), ("POST", "/records"), ("POST", "/auth/login")])
async def test_an_empty_json_body_is_a_400_saying_so(
    client: Client, admin: dict[str, str], method: str, path: str
) -> None:
    response = await client.request(method, path, headers={**admin, "Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "the request body is empty; send a JSON object"
    assert all("key" not in error for error in response.json().get("errors", [])), "no field is to blame"


async def test_an_empty_password_change_is_a_400_saying_the_body_is_empty(
    client: Client, reader: dict[str, str]
) -> None:
    response = await client.put("/users/me/password", headers={**reader, "Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "the request body is empty; send a JSON object"


@pytest.mark.parametrize("path", PUBLIC_JSON_ROUTES)
async def test_json_that_is_not_an_object_is_a_400_saying_a_json_object_is_needed(client: Client, path: str) -> None:
    response = await client.post(path, content=b"[]", headers={"Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "the request body must be a JSON object, not `array`"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/records", b'{"race": "asian", "year": 1e400}', "year"),
        ("/auth/login", b'{"username": "ada", "password": -1e400}', "password"),
    ],
)
async def test_a_json_number_out_of_range_is_a_400_naming_its_field(
    client: Client, admin: dict[str, str], path: str, body: bytes, field: str
) -> None:
    response = await client.post(path, content=body, headers={**admin, "Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(f"{field}: a number out of range")
    assert response.json()["errors"][0]["key"] == field


async def test_a_number_out_of_range_deep_in_nested_json_is_a_400(client: Client) -> None:
    body = b"[" * 900 + b"1e400" + b"]" * 900
    response = await client.post("/users", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    assert "a number out of range" in response.json()["detail"]


async def test_a_body_over_the_size_limit_is_a_413_naming_the_limit(client: Client, settings: Settings) -> None:
    limit = settings.max_upload_bytes + MIB
    body = b"x" * (limit + 1)
    response = await client.post("/users", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 413, response.text
    assert f"limit of {limit:,} bytes" in response.json()["detail"]
    assert "LIBDIB_MAX_UPLOAD_BYTES" in response.json()["detail"]


@pytest.mark.parametrize("media_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_signing_up_with_json_of_another_media_type_is_a_415_and_creates_no_account(
    client: Client, media_type: str | None
) -> None:
    body = b'{"username": "mallory", "password": "quartz-lantern-migrates-slowly"}'
    headers = {"Content-Type": media_type} if media_type else {}
    response = await client.post("/users", content=body, headers=headers)

    assert response.status_code == 415, response.text
    assert "application/json" in response.json()["detail"]
    login = await client.post("/auth/login", json={"username": "mallory", "password": PASSWORD})
    assert login.status_code == 401


async def test_logging_in_with_json_as_text_plain_is_a_415(client: Client) -> None:
    body = b'{"username": "mallory", "password": "quartz-lantern-migrates-slowly"}'
    response = await client.post("/auth/login", content=body, headers={"Content-Type": "text/plain"})

    assert response.status_code == 415, response.text


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/records", "GET, HEAD, OPTIONS, POST"),
        ("/records/1", "DELETE, GET, HEAD, OPTIONS"),
        ("/users", "OPTIONS, POST"),
        ("/health", "GET, HEAD, OPTIONS"),
        ("/datasets", "GET, HEAD, OPTIONS, POST"),
    ],
)
async def test_options_lists_every_method_the_path_answers_to(client: Client, path: str, allow: str) -> None:
    response = await client.options(path)

    assert response.status_code == 204
    assert response.headers["allow"] == allow


async def test_head_on_a_get_route_answers_its_status_and_headers_without_a_body(
    client: Client, reader: dict[str, str]
) -> None:
    got = await client.get("/users/me", headers=reader)
    head = await client.head("/users/me", headers=reader)

    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))


async def test_head_needs_the_same_token_as_get(client: Client) -> None:
    response = await client.head("/records")

    assert (response.status_code, response.content) == (401, b"")


def test_a_stored_source_with_credentials_is_shown_without_them() -> None:
    source = "https://user:secret@example.org/p08a.xlsx?X-Amz-Signature=abc"
    dataset = Dataset(1, "asian", "Table P-8", source, "0" * 64, 1, (2019, 2019), datetime.now(UTC))

    assert DatasetResponse.from_domain(dataset).source == "https://example.org/p08a.xlsx"
