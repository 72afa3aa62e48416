"""After ``kill -9`` of the server and a restart, every write that was acknowledged is still there."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.served import Server
from tests.faults.conftest import PASSWORD, Deployment

pytestmark = [pytest.mark.long, pytest.mark.postgres]

NEW_RECORD = {
    "race": "asian",
    "population": "Crash Test Population",
    "age_range": "25-34",
    "year": 2031,
    "footnote": None,
    "male_number_with_income": 1234,
    "male_median_income_current": 56789,
    "male_median_income_constant": 60001,
    "female_number_with_income": 1111,
    "female_median_income_current": 45678,
    "female_median_income_constant": 50002,
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call(server: Server, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = bearer(token) if token else {}
    return httpx.request(method, f"{server.url}{path}", headers=headers, timeout=30, **kwargs)


def acknowledged(response: httpx.Response, status: int) -> Any:
    """The body of a write the server acknowledged with ``status``."""
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


def test_acknowledged_users_revocations_and_records_survive_a_kill_9_of_the_server(deployment: Deployment) -> None:
    server = deployment.serve()
    admin = deployment.log_in(server)["access_token"]
    acknowledged(call(server, "POST", "/datasets/load", admin), 200)
    for name in ("alice", "bob", "carol"):
        acknowledged(call(server, "POST", "/users", json={"username": name, "password": PASSWORD}), 201)
    carol = deployment.log_in(server, "carol")["access_token"]
    carol_id = call(server, "GET", "/users/me", carol).json()["id"]
    acknowledged(call(server, "DELETE", f"/users/{carol_id}", carol), 204)
    alice_revoked, alice_kept, bob = (deployment.log_in(server, name) for name in ("alice", "alice", "bob"))
    acknowledged(call(server, "POST", "/auth/revoke", alice_revoked["access_token"]), 204)
    acknowledged(call(server, "POST", "/auth/logout", bob["access_token"]), 204)
    rotated = acknowledged(call(server, "POST", "/auth/refresh", alice_kept["refresh_token"]), 200)
    created = acknowledged(call(server, "POST", "/records", admin, json=NEW_RECORD), 201)
    victim = call(server, "GET", "/records?limit=1", admin).json()["items"][0]
    acknowledged(call(server, "DELETE", f"/records/{victim['id']}", admin), 204)
    datasets = call(server, "GET", "/datasets", admin).json()
    server.kill()  # at once after the last acknowledgement: no graceful shutdown, no chance to flush anything

    restarted = deployment.serve()
    assert deployment.log_in(restarted, "alice")
    assert deployment.log_in(restarted, "bob")
    carol_login = call(restarted, "POST", "/auth/login", json={"username": "carol", "password": PASSWORD})
    assert carol_login.status_code == 401, "the deleted user stays deleted"
    assert call(restarted, "GET", "/users/me", alice_revoked["access_token"]).status_code == 401
    assert call(restarted, "GET", "/users/me", bob["access_token"]).status_code == 401, "bob logged out"
    assert call(restarted, "POST", "/auth/refresh", bob["refresh_token"]).status_code == 401
    assert call(restarted, "GET", "/users/me", rotated["access_token"]).status_code == 200
    assert call(restarted, "GET", f"/records/{created['id']}", admin).json() == created
    assert call(restarted, "GET", f"/records/{victim['id']}", admin).status_code == 404
    assert call(restarted, "GET", "/datasets", admin).json() == datasets
    # Last, as a replay revokes the whole session: the refresh token spent before the crash stays spent.
    assert call(restarted, "POST", "/auth/refresh", alice_kept["refresh_token"]).status_code == 401
    assert call(restarted, "GET", "/users/me", rotated["access_token"]).status_code == 401
