"""The first hour of a new user, as the README tells it: real numbers at once, and one clear line when it fails."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from libdib.config import DEVELOPMENT_JWT_SECRET
from tests import databases
from tests.e2e.served import served

# Each case starts libdib as a separate process (and most of them migrate a new database): the long tier.
pytestmark = pytest.mark.long

PASSWORD = "correct horse battery staple"


def libdib(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "LIBDIB_JWT_SECRET": DEVELOPMENT_JWT_SECRET, "COLUMNS": "80", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "libdib", *args],
        input=stdin,
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_readme_session_answers_real_numbers_from_a_fresh_start(tmp_path: Path) -> None:
    with served(tmp_path, env={"LIBDIB_DATABASE_URL": ""}) as server:
        signup = httpx.post(f"{server.url}/users", json={"username": "ada", "password": PASSWORD})
        login = httpx.post(f"{server.url}/auth/login", data={"username": "ada", "password": PASSWORD})
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        records = httpx.get(f"{server.url}/records", params={"race": "asian", "age_range": "25-34"}, headers=bearer)
        comparison = httpx.get(
            f"{server.url}/comparisons",
            params={"year": 2019, "age": 30, "race": "asian", "base_year": 2010},
            headers=bearer,
        )
        server.stop()
        log = server.output()
    assert signup.status_code == 201, signup.text
    assert records.status_code == 200
    assert records.json()["total"] > 0
    assert {item["race"] for item in records.json()["items"]} == {"asian"}
    assert comparison.status_code == 200, comparison.text
    assert comparison.json()["comparison"]["female"]["income_difference"] is not None
    assert "loaded the sample tables" in log
    assert "using database" in log
    assert str(tmp_path / "var" / "libdib.sqlite3") in log, "the log names the database file, as an absolute path"


def test_serve_on_a_taken_port_exits_at_once_with_an_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = libdib(tmp_path, "serve", "--port", str(port), env={"LIBDIB_DATABASE_URL": ""}, timeout=30)
        elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert f"127.0.0.1:{port}" in result.stderr
    assert elapsed < 15, f"took {elapsed:.1f} s"
    assert not (tmp_path / "var").exists(), "nothing is migrated or created before the port is known to be free"


@pytest.mark.parametrize(
    ("admin", "named"),
    [(("root2", "short"), "LIBDIB_ADMIN_PASSWORD: use at least 12"), (("bad name", PASSWORD), "LIBDIB_ADMIN_USERNAME")],
)
def test_an_admin_account_sign_up_would_refuse_stops_serve_naming_the_setting_before_anything_starts(
    tmp_path: Path, admin: tuple[str, str], named: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    username, password = admin
    env = {"LIBDIB_DATABASE_URL": "", "LIBDIB_ADMIN_USERNAME": username, "LIBDIB_ADMIN_PASSWORD": password}
    result = libdib(tmp_path, "serve", "--port", str(port), env=env, timeout=30)
    assert result.returncode == 1
    assert named in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var").exists(), "nothing is migrated or created first"


@pytest.mark.postgres
def test_a_missing_database_is_one_line_naming_the_url_and_createdb(tmp_path: Path, postgres_server: None) -> None:
    url = databases.async_url("libdib_no_such_database").replace("postgres@", "postgres:hunter2-secret@")
    result = libdib(tmp_path, "migrate", env={"LIBDIB_DATABASE_URL": url})
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert result.returncode == 1
    assert len(errors) == 1, result.stderr
    assert "createdb" in errors[0]
    assert "libdib_no_such_database" in errors[0]
    assert "hunter2-secret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_gives_up_after_the_configured_wait(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/libdib"
    started = time.monotonic()
    result = libdib(tmp_path, "migrate", env={"LIBDIB_DATABASE_URL": url, "LIBDIB_DATABASE_WAIT": "1"})
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "not reachable" in result.stderr
    assert "LIBDIB_DATABASE_WAIT" in result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 20, f"took {elapsed:.1f} s"


def test_the_sample_load_and_the_dataset_list_name_each_file_at_80_columns(tmp_path: Path) -> None:
    env = {"LIBDIB_DATABASE_URL": ""}
    loaded = libdib(tmp_path, "load", "--sample", env=env)
    listed = libdib(tmp_path, "datasets", "list", env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert listed.returncode == 0, listed.stderr
    for output in (loaded.stdout, listed.stdout):
        assert "p08a.xlsx" in output
        assert "p08w.xlsx" in output
        assert max(len(line) for line in output.splitlines()) <= 80


def test_a_missing_key_says_where_settings_come_from(tmp_path: Path) -> None:
    result = libdib(tmp_path, "migrate", env={"LIBDIB_JWT_SECRET": ""})
    assert result.returncode == 1
    assert "LIBDIB_JWT_SECRET" in result.stderr
    assert f"no .env in {tmp_path}" in result.stderr


def test_an_operator_lists_resets_and_deletes_accounts_from_the_command_line(tmp_path: Path) -> None:
    env = {"LIBDIB_DATABASE_URL": ""}
    for name, flags in (("root", ["--admin"]), ("ada", [])):
        created = libdib(tmp_path, "users", "create", name, *flags, "--password-stdin", env=env, stdin=PASSWORD + "\n")
        assert created.returncode == 0, created.stderr
    reset = libdib(
        tmp_path, "users", "passwd", "ada", "--password-stdin", env=env, stdin="velvet-harbor-sings-quietly\n"
    )
    deleted = libdib(tmp_path, "users", "delete", "ada", env=env)
    last_admin = libdib(tmp_path, "users", "delete", "root", env=env)
    listed = libdib(tmp_path, "users", "list", env=env)
    assert reset.returncode == 0, reset.stderr
    assert "sessions have ended" in reset.stdout
    assert deleted.returncode == 0, deleted.stderr
    assert last_admin.returncode == 1
    assert "admin" in last_admin.stderr
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[1:3] for line in listed.stdout.splitlines()] == [["root", "admin"]]
