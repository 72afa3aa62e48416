"""libdib served as a real process, as a new user starts it: docs, schema, health, logs, migrations."""

from __future__ import annotations

import json
import os
import signal
import time
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


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its new parent to reap it has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.long
@pytest.mark.parametrize("ending", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_a_server_that_ends_leaves_no_child_process_running(tmp_path: Path, ending: signal.Signals) -> None:
    with served(tmp_path, env={"LIBDIB_DATABASE_URL": ""}) as server:
        signed_up = httpx.post(
            f"{server.url}/users", json={"username": "ada", "password": "correct horse battery staple"}, timeout=30
        )
        children = _children(server.process.pid)  # the chart child, started with the server; the hashing ones
        # A supervisor (systemd, a container runtime) signals the server's own process, not its group; a crash
        # or the out-of-memory killer ends it without any shutdown.
        os.kill(server.process.pid, ending)
        server.process.wait(timeout=15)
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [pid for pid in children if _running(pid)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert signed_up.status_code == 201
    assert len(children) >= 2, "the chart child and a hashing process should have been running"
    assert left == [], f"child processes outlived the server: {left}"
