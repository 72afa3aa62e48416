"""Census reads go to the replica only while it holds every change the worker knows of; else the primary answers.

Two SQLite files stand for the primary and its replica, so what each holds can be set by hand; the real
streaming replica (``pg_basebackup``, replay delay, a stopped standby) is in ``tests/scale``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from libdib.adapters.lease import DATA, EpochLease
from libdib.adapters.sql.engine import create_engine
from libdib.adapters.sql.replica import BEHIND_RETRY_SECONDS, ReplicaReads, ReplicaState
from libdib.adapters.sql.unit_of_work import SqlUnitOfWork
from libdib.domain.ports import UnitOfWork
from tests.databases import migrated_sqlite

pytestmark = pytest.mark.anyio


@dataclass
class Pair:
    primary_file: Path
    replica_file: Path
    lease: EpochLease
    reads: ReplicaReads

    def set_epoch(self, database: Path, value: int) -> None:
        with sqlite3.connect(database) as connection:
            connection.execute("UPDATE epochs SET value = ? WHERE name = ?", (value, DATA))

    async def sync(self, primary_epoch: int) -> None:
        self.set_epoch(self.primary_file, primary_epoch)
        await self.lease.sync(self._read_primary_epochs)

    async def _read_primary_epochs(self) -> dict[str, int]:
        async with self.reads.primary(read_only=True) as uow:
            assert isinstance(uow, SqlUnitOfWork)
            return await uow.epochs()

    async def races_read(self) -> list[str]:
        async with self.reads.unit_of_work(read_only=True) as uow:
            return [dataset.race for dataset in await uow.datasets.list()]


def only_on(database: Path, race: str) -> None:
    """A dataset row that exists in this file alone, so a read shows which file answered it."""
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO datasets (race, title, source, sha256, rows, first_year, last_year, constant_dollar_year,"
            " loaded_at) VALUES (?, 't', 's', ?, 1, 2000, 2001, 2019, '2026-01-01 00:00:00.000000')",
            (race, "0" * 64),
        )


@pytest.fixture
async def pair(tmp_path: Path, sqlite_template_dir: Path) -> AsyncIterator[Pair]:
    primary_url = migrated_sqlite(tmp_path / "primary.sqlite3", sqlite_template_dir)
    replica_url = migrated_sqlite(tmp_path / "replica.sqlite3", sqlite_template_dir)
    only_on(tmp_path / "primary.sqlite3", "on-primary")
    only_on(tmp_path / "replica.sqlite3", "on-replica")
    lease = EpochLease(60)
    engine = create_engine(primary_url)
    reader = engine.execution_options(isolation_level="AUTOCOMMIT")

    def primary(*, read_only: bool = False) -> UnitOfWork:
        return SqlUnitOfWork(engine, reader, lease, read_only=read_only)

    reads = ReplicaReads(replica_url, 2, lease, primary)
    async with reads.running():
        yield Pair(tmp_path / "primary.sqlite3", tmp_path / "replica.sqlite3", lease, reads)
    await engine.dispose()


async def test_a_replica_holding_every_known_change_answers_the_census_reads(pair: Pair) -> None:
    pair.set_epoch(pair.replica_file, 7)
    await pair.sync(primary_epoch=7)
    assert await pair.races_read() == ["on-replica"]
    assert pair.reads.state is ReplicaState.READING


async def test_a_replica_behind_the_primary_leaves_the_read_to_the_primary(pair: Pair) -> None:
    pair.set_epoch(pair.replica_file, 6)
    await pair.sync(primary_epoch=7)
    assert await pair.races_read() == ["on-primary"]
    assert pair.reads.state is ReplicaState.BEHIND


async def test_a_replica_that_caught_up_is_read_again_after_the_back_off(pair: Pair) -> None:
    pair.set_epoch(pair.replica_file, 6)
    await pair.sync(primary_epoch=7)
    assert await pair.races_read() == ["on-primary"]
    pair.set_epoch(pair.replica_file, 7)
    await asyncio.sleep(BEHIND_RETRY_SECONDS + 0.1)  # past the back-off after finding it behind
    assert await pair.races_read() == ["on-replica"]


async def test_a_replica_that_does_not_answer_leaves_the_read_to_the_primary(pair: Pair) -> None:
    await pair.sync(primary_epoch=7)
    pair.replica_file.unlink()
    pair.replica_file.mkdir()  # SQLite cannot open a directory: the replica is unreachable
    assert await pair.races_read() == ["on-primary"]
    assert await pair.reads.probe() is ReplicaState.DOWN


async def test_writes_and_units_that_are_not_read_only_go_to_the_primary(pair: Pair) -> None:
    pair.set_epoch(pair.replica_file, 7)
    await pair.sync(primary_epoch=7)
    async with pair.reads.unit_of_work() as uow:
        assert [dataset.race for dataset in await uow.datasets.list()] == ["on-primary"]


async def test_a_replica_of_another_database_is_not_read(pair: Pair) -> None:
    await pair.sync(primary_epoch=7)
    with sqlite3.connect(pair.replica_file) as connection:
        connection.execute("DROP TABLE epochs")
    assert await pair.races_read() == ["on-primary"]
    assert pair.reads.state is ReplicaState.DOWN
