"""Identity over real HTTP on PostgreSQL: what one worker does, every other worker honours, across restarts."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.served import Server, start

pytestmark = [pytest.mark.long, pytest.mark.postgres]

PASSWORD = "quartz-lantern-migrates-slowly"


def sign_up_and_log_in(server: Server, username: str) -> dict[str, str]:
    created = httpx.post(f"{server.url}/users", json={"username": username, "password": PASSWORD})
    assert created.status_code == 201, created.text
    login = httpx.post(f"{server.url}/auth/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return dict(login.json())


def me(server: Server, token: str) -> int:
    return httpx.get(f"{server.url}/users/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_logout_through_one_process_is_refused_by_another(tmp_path: Path, pg_url: str) -> None:
    first = start(tmp_path, {"LIBDIB_DATABASE_URL": pg_url})
    second = start(tmp_path, {"LIBDIB_DATABASE_URL": pg_url})
    try:
        tokens = sign_up_and_log_in(first, "ada")
        # Both processes have honoured the token, so each may remember it (HonouredTokenMemo).
        assert {me(server, tokens["access_token"]) for server in (first, second)} == {200}
        logout = httpx.post(f"{second.url}/auth/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert logout.status_code == 204
        assert me(first, tokens["access_token"]) == 401
        refreshed = httpx.post(
            f"{first.url}/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
        )
        assert refreshed.status_code == 401
    finally:
        first.stop()
        second.stop()


def test_every_worker_refuses_a_revoked_token(tmp_path: Path, pg_url: str) -> None:
    server = start(tmp_path, {"LIBDIB_DATABASE_URL": pg_url}, workers=2)
    try:
        tokens = sign_up_and_log_in(server, "grace")
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        # New connections are spread over both workers: each honours, and may remember, the token first.
        assert {me(server, tokens["access_token"]) for _ in range(40)} == {200}
        assert httpx.post(f"{server.url}/auth/revoke", headers=bearer).status_code == 204
        # Answered at once, on every worker.
        statuses = {me(server, tokens["access_token"]) for _ in range(40)}
    finally:
        server.stop()
    assert statuses == {401}


def test_users_and_revocations_survive_a_restart(tmp_path: Path, pg_url: str) -> None:
    server = start(tmp_path, {"LIBDIB_DATABASE_URL": pg_url}, workers=2)
    try:
        kept = sign_up_and_log_in(server, "kept")
        revoked = sign_up_and_log_in(server, "revoked")
        bearer = {"Authorization": f"Bearer {revoked['access_token']}"}
        assert httpx.post(f"{server.url}/auth/logout", headers=bearer).status_code == 204
    finally:
        server.stop()
    restarted = start(tmp_path, {"LIBDIB_DATABASE_URL": pg_url}, workers=2)
    try:
        assert me(restarted, kept["access_token"]) == 200
        assert me(restarted, revoked["access_token"]) == 401
        login = httpx.post(f"{restarted.url}/auth/login", json={"username": "kept", "password": PASSWORD})
        assert login.status_code == 200
    finally:
        restarted.stop()
