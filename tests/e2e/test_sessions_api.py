"""Password changes, the last admin, repeated revocations and the client address, through the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from libdib.adapters.passwords import PasslibPasswordHasher
from libdib.bootstrap import Services, build_services
from libdib.domain.ports import PasswordHasher
from libdib.domain.throttle import ADDRESS_THROTTLE_LIMIT, THROTTLE_LIMIT
from libdib.entrypoints.http.app import create_app
from tests.conftest import make_settings
from tests.e2e.served import served
from tests.e2e.test_identity_api import (
    OTHER_PASSWORD,
    PASSWORD,
    Client,
    assert_problem,
    assert_unauthenticated,
    bearer,
    log_in,
    me,
    sign_up,
)
from tests.fakes import FastHasher

pytestmark = pytest.mark.anyio

NEW_PASSWORD = "marble-orchid-collects-thunder"
WRONG = {"username": "ada", "password": "not the password"}


async def change_password(client: Client, token: str, current: str, new: str) -> httpx.Response:
    body = {"current_password": current, "new_password": new}
    return await client.put("/users/me/password", json=body, headers=bearer(token))


# Changing a password


async def test_a_password_change_answers_204_and_ends_every_other_session_at_once(client: Client) -> None:
    await sign_up(client)
    calling, other = await log_in(client), await log_in(client)

    response = await change_password(client, calling["access_token"], PASSWORD, NEW_PASSWORD)

    assert response.status_code == 204, response.text
    assert (await me(client, calling["access_token"])).status_code == 200
    assert_unauthenticated(await me(client, other["access_token"]))
    refreshed = await client.post("/auth/refresh", headers=bearer(other["refresh_token"]))
    assert_unauthenticated(refreshed)
    assert_unauthenticated(await client.post("/auth/login", json={"username": "ada", "password": PASSWORD}))
    assert (await log_in(client, password=NEW_PASSWORD))["access_token"]


async def test_a_wrong_current_password_answers_401_and_counts_toward_the_throttle(client: Client) -> None:
    await sign_up(client)
    tokens = await log_in(client)

    for _ in range(THROTTLE_LIMIT):
        wrong = await change_password(client, tokens["access_token"], "not the password", NEW_PASSWORD)
        assert_problem(wrong, 401, "current_password")

    throttled = await client.post("/auth/login", json={"username": "ada", "password": PASSWORD})
    assert_problem(throttled, 429, "too many failed logins")
    assert int(throttled.headers["retry-after"]) > 0
    assert (await me(client, tokens["access_token"])).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"current_password": PASSWORD, "new_password": "short"}, 422, "new_password: use at least 12 characters"),
        (
            {"current_password": PASSWORD, "new_password": "ada-" + NEW_PASSWORD},
            422,
            "new_password: must not contain your username",
        ),
        ({"current_password": PASSWORD}, 400, "new_password"),
        ({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "admin": True}, 400, "admin"),
    ],
)
async def test_a_password_change_that_breaks_a_rule_answers_4xx_saying_what_and_changes_nothing(
    client: Client, body: dict[str, Any], status: int, detail: str
) -> None:
    await sign_up(client)
    tokens = await log_in(client)

    response = await client.put("/users/me/password", json=body, headers=bearer(tokens["access_token"]))

    assert_problem(response, status, detail)
    assert (await log_in(client))["access_token"]


async def test_a_password_change_needs_an_access_token(client: Client) -> None:
    await sign_up(client)
    tokens = await log_in(client)

    anonymous = await client.put(
        "/users/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    with_refresh = await change_password(client, tokens["refresh_token"], PASSWORD, NEW_PASSWORD)

    assert_unauthenticated(anonymous)
    assert_unauthenticated(with_refresh)


# The last admin


async def test_deleting_the_last_admin_answers_409_and_the_admin_stays(
    client: Client, memory_services: Services
) -> None:
    root = await memory_services.users.sign_up("root", PASSWORD, is_admin=True)
    admin = await log_in(client, "root")

    response = await client.delete(f"/users/{root.id}", headers=bearer(admin["access_token"]))

    assert_problem(response, 409, "last admin")
    assert (await me(client, admin["access_token"])).json()["is_admin"] is True


async def test_an_admin_may_delete_themself_while_another_admin_remains(
    client: Client, memory_services: Services
) -> None:
    root = await memory_services.users.sign_up("root", PASSWORD, is_admin=True)
    await memory_services.users.sign_up("ops", OTHER_PASSWORD, is_admin=True)
    admin = await log_in(client, "root")

    response = await client.delete(f"/users/{root.id}", headers=bearer(admin["access_token"]))

    assert response.status_code == 204


# Revoking twice


async def test_revoking_an_already_revoked_token_answers_204_again(client: Client) -> None:
    await sign_up(client)
    tokens = await log_in(client)

    first = await client.post("/auth/revoke", headers=bearer(tokens["refresh_token"]))
    again = await client.post("/auth/revoke", headers=bearer(tokens["refresh_token"]))

    assert (first.status_code, again.status_code) == (204, 204)
    assert (await me(client, tokens["access_token"])).status_code == 200


# The client address


async def test_x_forwarded_for_from_an_unlisted_peer_does_not_escape_the_throttle(client: Client) -> None:
    await sign_up(client)
    for guess in range(THROTTLE_LIMIT):
        forged = {"X-Forwarded-For": f"198.51.100.{guess}"}
        assert_unauthenticated(await client.post("/auth/login", json=WRONG, headers=forged))

    throttled = await client.post(
        "/auth/login", json={"username": "ada", "password": PASSWORD}, headers={"X-Forwarded-For": "198.51.100.99"}
    )

    assert_problem(throttled, 429)


@contextlib.asynccontextmanager
async def peers(
    tmp_path: Path, hasher: PasswordHasher, *addresses: str, **settings: str
) -> AsyncIterator[tuple[Services, dict[str, httpx.AsyncClient]]]:
    """Clients of one memory-backed app, each connecting from its own peer address."""
    app_settings = make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}", **settings)
    services = build_services(app_settings, backend="memory", hasher=hasher)
    app = create_app(app_settings, services)
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            peer: await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=cast("Any", app), client=(peer, 4321)), base_url="http://api"
                )
            )
            for peer in addresses
        }
        yield services, clients


@pytest.fixture
async def behind_proxy(tmp_path: Path) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Two clients of one app that believes 10.0.0.9: one whose peer is that proxy, one whose peer is not."""
    async with peers(tmp_path, FastHasher(), "10.0.0.9", "10.0.0.8", forwarded_allow_ips="10.0.0.9") as (_, clients):
        yield clients


async def test_x_forwarded_for_is_believed_from_a_listed_proxy_only(behind_proxy: dict[str, httpx.AsyncClient]) -> None:
    proxy, stranger = behind_proxy["10.0.0.9"], behind_proxy["10.0.0.8"]
    created = await proxy.post("/users", json={"username": "ada", "password": PASSWORD})
    assert created.status_code == 201
    for guess in range(THROTTLE_LIMIT):
        await proxy.post("/auth/login", json=WRONG, headers={"X-Forwarded-For": "198.51.100.1"})
        await stranger.post("/auth/login", json=WRONG, headers={"X-Forwarded-For": f"198.51.100.{guess + 10}"})
    right = {"username": "ada", "password": PASSWORD}

    from_the_throttled_client = await proxy.post("/auth/login", json=right, headers={"X-Forwarded-For": "198.51.100.1"})
    from_another_client = await proxy.post("/auth/login", json=right, headers={"X-Forwarded-For": "198.51.100.2"})
    from_the_stranger = await stranger.post("/auth/login", json=right, headers={"X-Forwarded-For": "198.51.100.3"})

    assert from_the_throttled_client.status_code == 429
    assert from_another_client.status_code == 200
    assert from_the_stranger.status_code == 429


async def test_a_login_flood_from_one_address_gets_401s_and_429s_while_another_address_logs_in(
    tmp_path: Path,
) -> None:
    hasher = PasslibPasswordHasher(max_concurrency=1, max_waiting=4)
    async with peers(tmp_path, hasher, "198.51.100.66", "192.0.2.10") as (services, clients):
        await services.users.sign_up("root", PASSWORD, is_admin=True)
        flood, admin = clients["198.51.100.66"], clients["192.0.2.10"]

        async def guess(name: int) -> int:
            response = await flood.post("/auth/login", json={"username": f"random-{name}", "password": PASSWORD})
            return response.status_code

        async def log_in_as_admin() -> int:
            await asyncio.sleep(0.05)  # into the thick of the flood
            return (await admin.post("/auth/login", json={"username": "root", "password": PASSWORD})).status_code

        *flooded, admin_status = await asyncio.gather(*(guess(name) for name in range(300)), log_in_as_admin())

    answers = Counter(flooded)
    assert set(answers) <= {401, 429}, answers
    assert answers[429] >= 300 - ADDRESS_THROTTLE_LIMIT
    assert admin_status == 200


@pytest.mark.long  # starts libdib serve; tests/e2e/test_served.py keeps one served case in the fast tier
def test_libdib_serve_does_not_believe_x_forwarded_for_from_localhost_by_default(tmp_path: Path) -> None:
    with served(tmp_path, env={"LIBDIB_DATABASE_URL": ""}) as server:
        httpx.post(f"{server.url}/users", json={"username": "ada", "password": PASSWORD}).raise_for_status()
        guesses = [
            httpx.post(f"{server.url}/auth/login", json=WRONG, headers={"X-Forwarded-For": f"198.51.100.{guess}"})
            for guess in range(THROTTLE_LIMIT + 1)
        ]

    assert [guess.status_code for guess in guesses] == [401] * THROTTLE_LIMIT + [429]


@pytest.mark.long  # starts libdib serve; tests/e2e/test_served.py keeps one served case in the fast tier
def test_restarting_with_another_admin_password_sets_it_and_ends_the_admins_sessions(tmp_path: Path) -> None:
    first = {"LIBDIB_DATABASE_URL": "", "LIBDIB_ADMIN_USERNAME": "root", "LIBDIB_ADMIN_PASSWORD": PASSWORD}
    with served(tmp_path, env=first) as server:
        login = httpx.post(f"{server.url}/auth/login", json={"username": "root", "password": PASSWORD})
        tokens = login.raise_for_status().json()

    with served(tmp_path, env={**first, "LIBDIB_ADMIN_PASSWORD": NEW_PASSWORD}) as server:
        old_token = httpx.get(f"{server.url}/users/me", headers=bearer(tokens["access_token"]))
        old_password = httpx.post(f"{server.url}/auth/login", json={"username": "root", "password": PASSWORD})
        new_password = httpx.post(f"{server.url}/auth/login", json={"username": "root", "password": NEW_PASSWORD})

    assert (old_token.status_code, old_password.status_code, new_password.status_code) == (401, 401, 200)
