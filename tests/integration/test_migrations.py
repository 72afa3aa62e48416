"""Migrations: every revision applies, reverts and re-applies, and the result matches the models."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from libdib.adapters.sql.engine import create_engine
from libdib.adapters.sql.migrate import alembic_config, downgrade, upgrade
from libdib.adapters.sql.tables import Base
from tests.databases import outside_loop

REVISIONS = [script.revision for script in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()]


def schema_drift(url: str) -> list[Any]:
    """What autogenerate would still want to change after the migrations ran (should be nothing)."""

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async def run() -> list[Any]:
        engine = create_engine(url, pooled=False)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return outside_loop(run)


def tables(url: str) -> set[str]:
    async def run() -> set[str]:
        engine = create_engine(url, pooled=False)
        try:
            async with engine.connect() as connection:
                return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    return outside_loop(run)


def stairway(url: str) -> None:
    """Each revision up, down one step, and up again, from the oldest to the newest."""
    for revision in reversed(REVISIONS):
        upgrade(url, revision)
        downgrade(url, "-1")
        upgrade(url, revision)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_every_migration_applies_reverts_and_reapplies(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_empty_url" if backend == "postgres" else "sqlite_empty_url")
    stairway(url)
    assert {"users", "auth_sessions", "datasets", "income_records"} <= tables(url)
    downgrade(url, "base")
    assert tables(url) <= {"alembic_version"}


@pytest.mark.postgres
def test_the_migrated_schema_matches_the_models(pg_empty_url: str) -> None:
    # Compared on PostgreSQL only: SQLite cannot reflect the expression indexes (lower(username), the natural key).
    upgrade(pg_empty_url)
    upgrade(pg_empty_url)
    assert schema_drift(pg_empty_url) == []
