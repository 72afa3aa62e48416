"""An in-memory store with transactions, its unit of work, and the epochs its commits advance.

Every value kept is immutable, so a unit works on shallow copies of the tables and a commit swaps
them in. Units run one at a time (a lock), which gives the serializable behaviour the services expect.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from libdib.adapters.lease import DATA, LEASE_SECONDS, REVOCATION
from libdib.adapters.memory.census import DATASETS, RECORDS, InMemoryDatasetRepository, InMemoryRecordRepository
from libdib.adapters.memory.identity import (
    REVOKED,
    SESSIONS,
    USERS,
    InMemoryLoginFailureRepository,
    InMemorySessionRepository,
    InMemoryUserRepository,
)
from libdib.adapters.memory.state import EPOCH_PREFIX, MemoryState
from libdib.domain.errors import StoreUnavailable
from libdib.domain.ports import UnitOfWork


def _changed(before: dict[Any, Any], after: dict[Any, Any]) -> set[Any]:
    """The keys whose row was added, replaced or deleted (rows are immutable: an unchanged row is the same object)."""
    return {key for key in before.keys() | after.keys() if before.get(key) is not after.get(key)}


def _withdraws_tokens(before: MemoryState, after: MemoryState) -> bool:
    """What the SQL triggers on users, sessions and revoked tokens watch for."""
    users_before, users_after = before.table(USERS), after.table(USERS)
    for key in _changed(users_before, users_after):
        old, new = users_before.get(key), users_after.get(key)
        if old is not None and (new is None or (old.is_admin, old.password_hash) != (new.is_admin, new.password_hash)):
            return True
    sessions_before, sessions_after = before.table(SESSIONS), after.table(SESSIONS)
    for key in _changed(sessions_before, sessions_after):
        old, new = sessions_before.get(key), sessions_after.get(key)
        if old is not None and (new is None or old.revoked != new.revoked):
            return True
    return bool(after.table(REVOKED).keys() - before.table(REVOKED).keys())


def _changes_data(before: MemoryState, after: MemoryState) -> bool:
    """What the SQL triggers on datasets and records watch for: any change at all."""
    return any(_changed(before.table(name), after.table(name)) for name in (DATASETS, RECORDS))


def advance_epochs(before: MemoryState, after: MemoryState) -> bool:
    """The memory store's triggers: advance in ``after`` every epoch its changes from ``before`` move."""
    moved = False
    for name, rule in ((REVOCATION, _withdraws_tokens), (DATA, _changes_data)):
        if rule(before, after):
            after.next_id(EPOCH_PREFIX + name)
            moved = True
    return moved


@dataclass
class InMemoryStore:
    """The committed state shared by every unit of work; ``available=False`` simulates an outage.

    ``lease`` is how long the workers' views may trust what they hold: a unit whose commit moved an epoch
    waits that long before it is left, as the SQL unit of work does.
    """

    lease: float = LEASE_SECONDS
    state: MemoryState = field(default_factory=MemoryState)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    available: bool = True

    def unit_of_work(self, *, read_only: bool = False) -> InMemoryUnitOfWork:  # noqa: ARG002 - all units alike
        """A new unit of work over this store (the ``UnitOfWorkFactory`` of the memory backend)."""
        return InMemoryUnitOfWork(self)

    async def read_epochs(self) -> dict[str, int]:
        """The committed epochs."""
        if not self.available:
            raise StoreUnavailable()
        return self.state.epochs()


class InMemoryUnitOfWork(UnitOfWork):
    """A transaction over an ``InMemoryStore``."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._moved = False

    async def __aenter__(self) -> Self:
        if not self._store.available:
            raise StoreUnavailable()
        await self._store.lock.acquire()
        self._work = self._store.state.copy()
        self.users = InMemoryUserRepository(self._work)
        self.sessions = InMemorySessionRepository(self._work)
        self.login_failures = InMemoryLoginFailureRepository(self._work)
        self.datasets = InMemoryDatasetRepository(self._work)
        self.records = InMemoryRecordRepository(self._work)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._store.lock.release()
        if self._moved:
            await asyncio.sleep(self._store.lease)

    async def commit(self) -> None:
        """Publish a snapshot of this unit's work; later changes stay uncommitted until the next commit."""
        self._moved |= advance_epochs(self._store.state, self._work)
        self._store.state = self._work.copy()

    async def ping(self) -> None:
        """Answer unless the store simulates an outage."""
        if not self._store.available:
            raise StoreUnavailable()
