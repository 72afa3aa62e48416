"""Migrations: every revision applies, reverts and re-applies, and the result matches the models."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

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


NO_ROW = [
    "DELETE FROM users WHERE false",
    "DELETE FROM auth_sessions WHERE false",
    "INSERT INTO datasets SELECT * FROM datasets WHERE false",
    "UPDATE datasets SET id = id WHERE false",
    "DELETE FROM datasets WHERE false",
    "DELETE FROM income_records WHERE false",
]
"""A statement of every event the triggers 0008 changed watch, changing no row. (Inserts and updates of records
keep 0004's triggers, so that a load's bulk statements copy no transition table.)"""
A_ROW = (
    "INSERT INTO datasets (race, title, source, sha256, rows, first_year, last_year, constant_dollar_year, loaded_at)"
    " VALUES ('asian', 'P-8', 'p08a.xlsx', '', 0, 2002, 2019, 2019, CURRENT_TIMESTAMP)"
)


def epochs_moved_by(url: str, statements: list[str]) -> list[bool]:
    """Whether each statement, run alone in a transaction that is then rolled back, moved an epoch."""

    async def run() -> list[bool]:
        engine = create_engine(url, pooled=False)
        moved = []
        try:
            async with engine.connect() as connection:
                for statement in statements:
                    async with connection.begin() as transaction:
                        epochs = text("SELECT name, value FROM epochs ORDER BY name")
                        before = (await connection.execute(epochs)).all()
                        await connection.execute(text(statement))
                        moved.append((await connection.execute(epochs)).all() != before)
                        await transaction.rollback()
        finally:
            await engine.dispose()
        return moved

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


@pytest.mark.postgres
def test_from_0008_a_statement_changing_no_row_moves_no_epoch_and_reverting_it_restores_the_triggers(
    pg_empty_url: str,
) -> None:
    upgrade(pg_empty_url)
    at_head = epochs_moved_by(pg_empty_url, [*NO_ROW, A_ROW])
    downgrade(pg_empty_url, "0007")
    reverted = epochs_moved_by(pg_empty_url, [*NO_ROW, A_ROW])
    upgrade(pg_empty_url)

    assert at_head == [*(False for _ in NO_ROW), True]
    assert reverted == [*(True for _ in NO_ROW), True]
