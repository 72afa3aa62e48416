"""The unit of work: commit makes work visible, leaving without commit discards it, on every backend."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from libdib.adapters.lease import EpochLease
from libdib.adapters.sql.engine import create_engine, read_only_engine
from libdib.adapters.sql.unit_of_work import SqlUnitOfWork
from libdib.domain.identity import NewUser
from libdib.domain.ports import UnitOfWorkFactory

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def new_user(name: str) -> NewUser:
    return NewUser(username=name, password_hash="$fast$x", is_admin=False, created_at=NOW)


async def test_committed_work_is_seen_by_the_next_unit_and_by_read_only_units(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        user = await uow.users.add(new_user("ada"))
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.get(user.id) == user
    async with uow_factory(read_only=True) as uow:
        assert await uow.users.get_by_username("ADA") == user


async def test_work_left_uncommitted_is_discarded(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.users.add(new_user("grace"))

    async with uow_factory(read_only=True) as uow:
        assert await uow.users.get_by_username("grace") is None


async def test_an_error_inside_a_unit_discards_its_work(uow_factory: UnitOfWorkFactory) -> None:
    async def add_then_fail() -> None:
        async with uow_factory() as uow:
            await uow.users.add(new_user("linus"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await add_then_fail()

    async with uow_factory(read_only=True) as uow:
        assert await uow.users.get_by_username("linus") is None


async def test_the_store_answers_a_ping(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory(read_only=True) as uow:
        await uow.ping()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of each SQL kind."""
    return str(request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url"))


async def test_a_commit_that_moved_an_epoch_waits_a_lease_though_this_worker_read_the_moved_epoch_first(
    sql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other workers have not read it yet: the writer must wait for their leases whatever its own has seen."""
    engine = create_engine(sql_url, pool_size=2, transaction_pooler=False)
    reader = read_only_engine(engine, transaction_pooler=False)
    lease = EpochLease(lease=0.3)

    async def read() -> dict[str, int]:
        async with SqlUnitOfWork(engine, reader, lease, read_only=True) as uow:
            return await uow.epochs()

    committing = AsyncConnection.commit

    async def commit_then_the_keeping_loop_reads(connection: AsyncConnection) -> None:
        await committing(connection)
        await lease.sync(read)  # lands after the server committed, before the writer looks at the epochs

    try:
        await lease.sync(read)
        async with SqlUnitOfWork(engine, reader, lease, read_only=False) as uow:
            await uow.sessions.revoke_token("a-token-id", NOW + timedelta(hours=1))
            monkeypatch.setattr(AsyncConnection, "commit", commit_then_the_keeping_loop_reads)
            await uow.commit()
            monkeypatch.undo()
            left_at = time.monotonic()
        assert time.monotonic() - left_at >= lease.lease
    finally:
        await engine.dispose()
