"""libdib served as a real process, as a new user starts it: docs, schema, health, logs, migrations."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.served import served


def test_a_fresh_checkout_serves_docs_schema_and_health_on_embedded_sqlite(tmp_path: Path) -> None:
    with served(tmp_path, env={"LIBDIB_DATABASE_URL": ""}) as server:
        root = httpx.get(f"{server.url}/", follow_redirects=False)
        docs = httpx.get(f"{server.url}/schema")
        schema = httpx.get(f"{server.url}/schema/openapi.json").json()
        health = httpx.get(f"{server.url}/health")
    assert root.status_code in (301, 302, 307, 308)
    assert root.headers["location"] == "/schema"
    assert docs.status_code == 200
    assert "api-reference" in docs.text
    assert schema["openapi"].startswith("3.1")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "database": "ok"}
    assert (tmp_path / "var" / "libdib.sqlite3").is_file(), "the embedded database lives under the working directory"


@pytest.mark.long  # each served case starts a process; the fresh-checkout case above stays in the fast tier
def test_every_request_gets_one_structured_log_line_with_its_request_id(tmp_path: Path) -> None:
    with served(tmp_path, env={"LIBDIB_DATABASE_URL": ""}) as server:
        response = httpx.get(f"{server.url}/no/such/route", headers={"x-request-id": "trace-12345678"})
        server.stop()
        lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "trace-12345678"
    assert "server" not in response.headers, "the server does not announce its software"
    access = [line for line in lines if line.get("request_id") == "trace-12345678"]
    assert len(access) == 1
    assert access[0] | {"method": "GET", "path": "/no/such/route", "status": 404} == access[0]
    assert access[0]["duration_ms"] >= 0


@pytest.mark.long
@pytest.mark.postgres
def test_two_workers_on_postgresql_serve_after_migrating(tmp_path: Path, pg_empty_url: str) -> None:
    with served(tmp_path, env={"LIBDIB_DATABASE_URL": pg_empty_url}, workers=2) as server:
        statuses = {httpx.get(f"{server.url}/health").status_code for _ in range(20)}
    assert statuses == {200}
