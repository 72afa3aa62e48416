"""Throwaway databases for tests: PostgreSQL ones created with a unique name and dropped after; SQLite files."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
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


def create_database(*, migrated: bool = True) -> str:
    """Create (and migrate) a uniquely named PostgreSQL database; returns its name."""
    name = f"libdib_test_{uuid.uuid4().hex[:12]}"
    outside_loop(lambda: _admin(f'CREATE DATABASE "{name}"'))
    if migrated:
        migrate(async_url(name))
    return name


def drop_database(name: str) -> None:
    """Drop a test database, closing whatever connections are left."""
    outside_loop(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
