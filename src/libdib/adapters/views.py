"""The read-only views: answers a worker keeps while its lease on the store's epochs says they still hold.

Both views read through the store's own units of work, so one implementation serves the memory store and SQL
alike, and both forget what they hold when the epoch of their kind of change moves (see ``adapters.lease``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, TypeVar

from cachetools import LRUCache

from libdib.adapters.lease import DATA, REVOCATION, EpochLease, ReadEpochs
from libdib.domain.census import Dataset, IncomeRecord, LoadedTable
from libdib.domain.identity import Claims, User
from libdib.domain.ports import CensusView, HonouredTokens, Page, RecordFilter, UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")

HONOURED_CAPACITY = 10_000
"""Access tokens remembered as honoured at most; past it the least recently used is forgotten."""
CACHED_RECORDS = 100_000
"""The records a worker keeps in census answers at most, counted once per answer they appear in. Answers are
kept, never whole tables, so a table of any size costs a worker no more than this."""


class MemoizedHonouredTokens(HonouredTokens):
    """Access tokens (by ``jti``) whose session was live when checked, with the user they speak for."""

    def __init__(self, uow: UnitOfWorkFactory, lease: EpochLease, capacity: int = HONOURED_CAPACITY) -> None:
        self._uow = uow
        self._lease = lease
        self._users: LRUCache[str, User] = LRUCache(capacity)
        lease.on_move(REVOCATION, self._users.clear)

    async def user_of(self, claims: Claims) -> User | None:
        """The remembered user while the lease holds; otherwise one query, whose answer is remembered."""
        lease = self._lease
        if lease.trusted():
            user = self._users.get(claims.jti)
            if user is not None and user.id == claims.user_id:
                return user
        ticket = lease.ticket(REVOCATION)
        async with self._uow(read_only=True) as uow:
            user = await uow.sessions.active_user(claims)
        if user is not None and lease.still(REVOCATION, ticket):
            self._users[claims.jti] = user
        return user


def _size(answer: object) -> int:
    """What an answer counts against ``CACHED_RECORDS``: its records, and one for the answer itself."""
    if isinstance(answer, Page):
        return len(answer.items) + 1
    if isinstance(answer, list):
        return sum(len(item.observations) if isinstance(item, LoadedTable) else 1 for item in answer) + 1
    return 1


class CachedCensusView(CensusView):
    """Census answers by question, forgotten together when the data epoch moves; the least used go first."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        lease: EpochLease,
        read_epochs: ReadEpochs,
        capacity: int = CACHED_RECORDS,
    ) -> None:
        self._uow = uow
        self._lease = lease
        self._read_epochs = read_epochs
        self._answers: LRUCache[Hashable, Any] = LRUCache(capacity, getsizeof=_size)
        lease.on_move(DATA, self._answers.clear)

    async def version(self) -> str:
        """The data epoch: the lease's while it holds (no query), else read from the store into the lease.

        Read into the lease, not around it: a version newer than the lease's would tag what this view still holds
        of the older data, and the answer kept under that tag would outlive the change.
        """
        lease = self._lease
        if not (lease.trusted() and DATA in lease.epochs):
            await lease.sync(self._read_epochs)
        return str(lease.epochs[DATA])

    async def datasets(self) -> list[Dataset]:
        """Every dataset, by race."""
        return await self._answer(("datasets",), lambda uow: uow.datasets.list())

    async def record(self, record_id: int) -> IncomeRecord | None:
        """The record with this id, if any."""
        return await self._answer(("record", record_id), lambda uow: uow.records.get(record_id))

    async def page(self, where: RecordFilter, limit: int, offset: int) -> Page[IncomeRecord]:
        """Matching records in table order, and how many match."""
        return await self._answer(("page", where, limit, offset), lambda uow: uow.records.page(where, limit, offset))

    async def for_comparison(self, races: Sequence[str], age_range: str, years: Sequence[int]) -> list[IncomeRecord]:
        """The records of these races, age bracket and years, in table order."""
        key = ("comparison", tuple(races), age_range, tuple(years))
        return await self._answer(key, lambda uow: uow.records.for_comparison(races, age_range, years))

    async def tables(
        self, races: Sequence[str] | None = None, age_ranges: Sequence[str] | None = None, year: int | None = None
    ) -> list[LoadedTable]:
        """The loaded tables of these races, brackets and re-basing year, each in table order."""
        asked = (races, age_ranges)
        key = ("tables", *(None if names is None else tuple(names) for names in asked), year)
        return await self._answer(key, lambda uow: uow.records.tables(races, age_ranges, year))

    async def _answer(self, key: Hashable, ask: Callable[[UnitOfWork], Awaitable[T]], *, read_only: bool = True) -> T:
        """The kept answer to ``key`` while the lease holds; otherwise ``ask`` the store, and keep its answer."""
        lease = self._lease
        if lease.trusted():
            with contextlib.suppress(KeyError):
                answer: T = self._answers[key]
                return answer
        ticket = lease.ticket(DATA)
        async with self._uow(read_only=read_only) as uow:
            answer = await ask(uow)
        if lease.still(DATA, ticket):
            # An answer larger than the whole capacity is not kept: the next request asks the store again.
            with contextlib.suppress(ValueError):
                self._answers[key] = answer
        return answer
