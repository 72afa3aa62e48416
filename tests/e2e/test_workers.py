"""Over real HTTP on PostgreSQL: what one worker does, every other worker honours at once, across restarts."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.served import Server, start
from tests.support import p8

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
        # Both processes have honoured the token, so each may hold it (MemoizedHonouredTokens).
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


def test_data_written_through_one_process_is_served_with_a_new_etag_by_another_at_once(
    tmp_path: Path, pg_url: str
) -> None:
    env = {"LIBDIB_DATABASE_URL": pg_url, "LIBDIB_ADMIN_USERNAME": "root", "LIBDIB_ADMIN_PASSWORD": PASSWORD}
    first, second = start(tmp_path, env), start(tmp_path, env)
    try:
        login = httpx.post(f"{first.url}/auth/login", json={"username": "root", "password": PASSWORD})
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        before = httpx.get(f"{second.url}/datasets", headers=bearer)  # the second process now holds the answer
        assert httpx.get(f"{second.url}/datasets", headers=bearer).json() == before.json()
        section = p8.AgeSection("25-34", [p8.Population("Black Alone", [("2019", [1, 2, 3, 4, 5, 6])])])
        workbook = p8.p8_workbook(p8.P8Table("Black", 2019, (2019, 2019), [section]))
        uploaded = httpx.post(f"{first.url}/datasets", files={"file": ("p08b.xlsx", workbook)}, headers=bearer)
        assert uploaded.status_code == 201, uploaded.text

        after = httpx.get(f"{second.url}/datasets", headers={**bearer, "If-None-Match": before.headers["etag"]})
    finally:
        first.stop()
        second.stop()
    assert after.status_code == 200
    assert "black" in {dataset["race"] for dataset in after.json()["items"]}
    assert after.headers["etag"] != before.headers["etag"]
