"""Throwaway databases for tests: PostgreSQL ones created with a unique name and dropped after; SQLite files.

Migrating costs far more than copying: each run migrates one PostgreSQL template database and one SQLite file,
and every test gets a copy of them (``CREATE DATABASE ... TEMPLATE``, a file copy).
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from libdib.adapters.sql.migrate import upgrade

T = TypeVar("T")
SERVER_URL = os.environ.get("LIBDIB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
"""The server tests create their databases on (a maintenance database URL, plain ``postgresql://``)."""
REQUIRED = os.environ.get("LIBDIB_REQUIRE_POSTGRES", "") == "1" or os.environ.get("CI", "") == "true"
"""Set in CI: a missing server fails the run instead of skipping the PostgreSQL tests."""


def outside_loop(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a fresh loop in another thread (safe while a test loop exists)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(SERVER_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def server_problem() -> str | None:
    """Why the test server cannot be used, or None when it answers."""
    try:
        outside_loop(lambda: _admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL at {SERVER_URL} is not reachable: {exc}"
    return None


def async_url(database: str) -> str:
    """The SQLAlchemy asyncpg URL of ``database`` on the test server."""
    base = SERVER_URL.replace("postgresql://", "postgresql+asyncpg://", 1)
    return base.rsplit("/", 1)[0] + "/" + database


def migrate(url: str) -> None:
    """Apply every migration to ``url`` (Alembic runs its own loop, so in another thread)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(upgrade, url).result()


def _unique_name() -> str:
    return f"libdib_test_{uuid.uuid4().hex[:12]}"


@functools.cache
def migrated_template() -> str:
    """A PostgreSQL database migrated once per test run, which migrated test databases are copied from."""
    name = _unique_name()
    outside_loop(lambda: _admin(f'CREATE DATABASE "{name}"'))
    migrate(async_url(name))
    return name


def create_database(*, migrated: bool = True) -> str:
    """Create a uniquely named PostgreSQL database (a copy of the migrated template, or empty); returns its name."""
    name = _unique_name()
    template = f' TEMPLATE "{migrated_template()}"' if migrated else ""
    outside_loop(lambda: _admin(f'CREATE DATABASE "{name}"{template}'))
    return name


def drop_template() -> None:
    """Drop the migrated template, if this run made one."""
    if migrated_template.cache_info().currsize:
        drop_database(migrated_template())
        migrated_template.cache_clear()


def migrated_sqlite(path: Path, cache_dir: Path) -> str:
    """A migrated SQLite database at ``path``: a copy of one migrated once per run under ``cache_dir``."""
    template = cache_dir / "template.sqlite3"
    if not template.exists():
        migrate(f"sqlite+aiosqlite:///{template}")
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}"


def drop_database(name: str) -> None:
    """Drop a test database, closing whatever connections are left."""
    outside_loop(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
