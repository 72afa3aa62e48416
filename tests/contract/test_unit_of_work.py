"""The unit of work: commit makes work visible, leaving without commit discards it, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

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
