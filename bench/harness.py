"""Start what the benchmarks measure: a scratch PostgreSQL database, libdib (1 worker) and the ceiling app.

Every server listens on 127.0.0.1 and is stopped, and every scratch database dropped, when its block ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import asyncpg
import httpx

from bench import served
from bench.ceiling import CREATE_TABLE, READY_PATH
from bench.ceiling import TABLE as CEILING_TABLE
from bench.served import Server, free_port
from libdib.samples import sample_dir

REPO = Path(__file__).resolve().parents[1]
CENSUS_DIR = Path(os.environ.get("LIBDIB_BENCH_CENSUS", sample_dir()))
"""The real P-8 workbooks: the samples the package ships, unless told otherwise."""
POSTGRES_URL = os.environ.get("LIBDIB_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
"""The maintenance database of the server the scratch databases are created on."""
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ADMIN_USERNAME = "bench-admin"
LOGIN_PATH = "/auth/login"
COMPARISON_PATH = "/comparisons?year=2019&age_range=25-34&races=white,asian&race=asian&base_year=2002"
"""One year, one age, with percent change; years and ages both real workbooks cover."""
LIST_PATH = "/records?limit=100"


def stop_cleanly_on_sigterm() -> None:
    """Make SIGTERM (``timeout``, ``kill``, a CI job's deadline) end the bench as Ctrl-C does: by unwinding.

    Python's default SIGTERM ends the process on the spot, so no ``finally`` runs: the servers the bench started
    (each in a session of its own, out of reach of a signal to the bench's group) and its scratch databases
    would outlive it. Raising ``SystemExit`` instead lets every block stop what it started.
    """

    def exit_unwinding(signal_number: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signal_number)

    signal.signal(signal.SIGTERM, exit_unwinding)


def run_sql(dsn: str, *statements: str) -> str:
    """Run statements on ``dsn`` on a short-lived connection; returns the first value of the last one."""

    async def execute() -> str:
        connection = await asyncpg.connect(dsn, timeout=10)
        try:
            for statement in statements[:-1]:
                await connection.execute(statement)
            return str(await connection.fetchval(statements[-1]))
        finally:
            await connection.close()

    return asyncio.run(execute())


@contextmanager
def scratch_database(server_url: str = POSTGRES_URL) -> Iterator[str]:
    """A new, empty database ``libdib_bench_<random>``; yields its plain ``postgresql://`` DSN, drops it after."""
    if urlsplit(server_url).hostname not in LOOPBACK:
        raise ValueError(f"scratch databases are made on this machine's PostgreSQL only, not {server_url}")
    name = f"libdib_bench_{secrets.token_hex(6)}"
    run_sql(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        run_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlalchemy_url(dsn: str) -> str:
    """The SQLAlchemy asyncpg URL libdib expects for a plain PostgreSQL DSN."""
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a measured process: ours, with ``bench`` importable and bytecode caching on.

    Deployments run compiled bytecode (the container compiles it); without ``.pyc`` files a Python process
    spends about a second more compiling its imports, which would count against ``libdib load``.
    """
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**environment, "PYTHONPATH": str(REPO), **(extra or {})}


def launch(command: list[str], env: dict[str, str], ready_path: str, port: int, cwd: Path) -> Server:
    """Start ``command`` with the measured-process environment and wait until ``GET ready_path`` answers 200."""
    return served.launch(command, cwd, child_environment(env), port, ready_path)


@dataclass(frozen=True)
class Libdib:
    """A served libdib with the real workbooks loaded and an admin's access token."""

    server: Server
    token: str
    record_ids: tuple[int, ...]
    username: str
    password: str
    jwt_secret: str

    @property
    def url(self) -> str:
        """Where it listens."""
        return self.server.url

    @property
    def pid(self) -> int:
        """The serving process (with one worker, uvicorn serves in the process it was started as)."""
        return self.server.process.pid

    def record_paths(self) -> tuple[str, ...]:
        """``/records/{id}`` for every loaded row."""
        return tuple(f"/records/{record_id}" for record_id in self.record_ids)

    def login_body(self) -> str:
        """The JSON body of a successful login."""
        return json.dumps({"username": self.username, "password": self.password})


@contextmanager
def libdib(dsn: str, password: str, **settings: str) -> Iterator[Libdib]:
    """``python -m libdib serve --workers 1`` on ``dsn`` with default settings, the real workbooks loaded over HTTP.

    Only what a deployment must set is set (database, key, admin, workbooks); ``settings`` adds others by
    variable name without the ``LIBDIB_`` prefix (such as ``LOG_LEVEL="WARNING"``). ``password`` is the
    admin's: keep one per database, since the admin account outlives a restart.
    """
    jwt_secret = secrets.token_urlsafe(36)
    env = {
        "LIBDIB_DATABASE_URL": sqlalchemy_url(dsn),
        "LIBDIB_JWT_SECRET": jwt_secret,
        "LIBDIB_ADMIN_USERNAME": ADMIN_USERNAME,
        "LIBDIB_ADMIN_PASSWORD": password,
        "LIBDIB_CENSUS_SOURCE": str(CENSUS_DIR),
        **{f"LIBDIB_{name}": value for name, value in settings.items()},
    }
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-libdib-") as workdir:
        command = [sys.executable, "-m", "libdib", "serve", "--port", str(port), "--workers", "1"]
        server = launch(command, env, "/health", port, Path(workdir))
        try:
            yield _prepared(server, password, jwt_secret)
        finally:
            server.stop()


@contextmanager
def ceiling(dsn: str, layer: str = "none", jwt_secret: str = "") -> Iterator[Server]:
    """The ceiling app on a copy of ``income_records`` in ``dsn`` (where libdib has loaded the workbooks).

    ``layer`` adds one of libdib's per-request costs in front of the handler (``bench.ceiling.LAYERS``).
    """
    run_sql(dsn, f"DROP TABLE IF EXISTS {CEILING_TABLE}", *CREATE_TABLE)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-ceiling-") as workdir:
        command = [sys.executable, "-m", "bench.ceiling", "--port", str(port), "--layer", layer]
        env = {"BENCH_CEILING_DSN": dsn, "BENCH_CEILING_JWT_SECRET": jwt_secret}
        server = launch(command, env, READY_PATH, port, Path(workdir))
        try:
            yield server
        finally:
            server.stop()


def _prepared(server: Server, password: str, jwt_secret: str) -> Libdib:
    """Log in as the admin, load the real workbooks, and list the ids of their rows."""
    with httpx.Client(base_url=server.url, timeout=120) as client:
        login = client.post(LOGIN_PATH, json={"username": ADMIN_USERNAME, "password": password})
        login.raise_for_status()
        token = login.json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        client.post("/datasets/load").raise_for_status()
        records = client.get("/records", params={"limit": 1000})
        records.raise_for_status()
    ids = tuple(item["id"] for item in records.json()["items"])
    if not ids:
        raise RuntimeError("libdib loaded no records from the census workbooks")
    return Libdib(
        server=server, token=token, record_ids=ids, username=ADMIN_USERNAME, password=password, jwt_secret=jwt_secret
    )


def resident_bytes(pid: int) -> int:
    """The resident memory of a process (``VmRSS`` in ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"process {pid} reports no resident memory")
