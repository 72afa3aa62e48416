"""The statements every request runs go straight to asyncpg: a connection the server dropped must not leak out.

SQLAlchemy never sees their errors, so ``HotQuery`` itself has to turn a dead connection into ``StoreUnavailable``
(a 503) and keep the pool from handing that connection out again.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from libdib.adapters.sql.engine import create_engine
from libdib.adapters.sql.unit_of_work import SqlUnitOfWork
from libdib.domain.census import CensusTable, Observation
from libdib.domain.errors import StoreUnavailable
from libdib.domain.ports import Provenance
from tests import databases

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    # One pooled connection: every unit reuses it, so a dropped one would be handed out again.
    engine = create_engine(pg_url, pool_size=1)
    yield engine
    await engine.dispose()


async def stored_record_id(engine: AsyncEngine) -> int:
    observation = Observation("All people", "25-34", 2019, None, 1, 2, 3, 4, 5, 6)
    table = CensusTable("asian", "Table P-8. Age--Asian", 2019, [observation])
    async with SqlUnitOfWork(engine) as uow:
        await uow.datasets.replace(table, Provenance("test", "0" * 64), datetime.now(UTC))
        await uow.commit()
    async with SqlUnitOfWork(engine, read_only=True) as uow:
        return (await uow.records.for_comparison(["asian"], "25-34", [2019]))[0].id


async def drop_libdib_connections(pg_url: str) -> int:
    server = await asyncpg.connect(databases.SERVER_URL)
    try:
        database = pg_url.rsplit("/", 1)[1]
        query = (
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2"
        )
        return int(await server.fetchval(query, database, "libdib"))
    finally:
        await server.close()


async def test_a_connection_the_server_dropped_gives_store_unavailable_once_then_reads_resume(
    engine: AsyncEngine, pg_url: str
) -> None:
    record_id = await stored_record_id(engine)
    assert await drop_libdib_connections(pg_url) == 1

    with pytest.raises(StoreUnavailable):
        async with SqlUnitOfWork(engine, read_only=True) as uow:
            await uow.records.get(record_id)

    async with SqlUnitOfWork(engine, read_only=True) as uow:
        record = await uow.records.get(record_id)
    assert record is not None
    assert record.observation.year == 2019


async def test_hot_reads_see_the_units_own_uncommitted_writes(engine: AsyncEngine) -> None:
    record_id = await stored_record_id(engine)
    async with SqlUnitOfWork(engine) as uow:
        await uow.datasets.delete((await uow.datasets.get_by_race("asian")).id)  # type: ignore[union-attr]
        assert await uow.records.get(record_id) is None
    async with SqlUnitOfWork(engine, read_only=True) as uow:
        assert await uow.records.get(record_id) is not None


@pytest.fixture
async def refused_url(pg_url: str) -> AsyncIterator[str]:
    """A URL whose role may open no connection: PostgreSQL refuses it with SQLSTATE 53300, as it refuses every
    connection with 57P03 while it starts up (both mean "not now", neither is the caller's fault)."""
    role = f"libdib_refused_{uuid.uuid4().hex[:12]}"
    server = await asyncpg.connect(databases.SERVER_URL)
    try:
        await server.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
        yield pg_url.replace("postgres@", f"{role}@", 1)
    finally:
        await server.execute(f"DROP ROLE {role}")
        await server.close()


@pytest.mark.parametrize("read_only", [True, False], ids=["read-only unit", "read-write unit"])
async def test_a_refused_connection_gives_store_unavailable_for_hot_and_other_statements(
    refused_url: str, *, read_only: bool
) -> None:
    engine = create_engine(refused_url)
    try:
        with pytest.raises(StoreUnavailable):
            async with SqlUnitOfWork(engine, read_only=read_only) as uow:
                await uow.records.get(1)
        with pytest.raises(StoreUnavailable):
            async with SqlUnitOfWork(engine, read_only=read_only) as uow:
                await uow.datasets.list()
    finally:
        await engine.dispose()
