"""An in-memory store with transactions, and its unit of work.

Every value kept is immutable, so a unit works on shallow copies of the tables and a commit swaps
them in. Units run one at a time (a lock), which gives the serializable behaviour the services expect.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from libdib.adapters.memory.census import InMemoryDatasetRepository, InMemoryRecordRepository
from libdib.adapters.memory.identity import (
    InMemoryLoginFailureRepository,
    InMemorySessionRepository,
    InMemoryUserRepository,
)
from libdib.domain.errors import StoreUnavailable
from libdib.domain.ports import UnitOfWork


@dataclass
class MemoryState:
    """Named tables of immutable rows, and id sequences."""

    tables: dict[str, dict[Any, Any]] = field(default_factory=dict)
    sequences: dict[str, int] = field(default_factory=dict)

    def table(self, name: str) -> dict[Any, Any]:
        """The rows of table ``name``, created empty on first use."""
        return self.tables.setdefault(name, {})

    def next_id(self, name: str) -> int:
        """The next id of sequence ``name``, starting at 1."""
        self.sequences[name] = self.sequences.get(name, 0) + 1
        return self.sequences[name]

    def copy(self) -> MemoryState:
        """A copy whose tables can change without touching this one."""
        return MemoryState({name: dict(rows) for name, rows in self.tables.items()}, dict(self.sequences))


@dataclass
class InMemoryStore:
    """The committed state shared by every unit of work; ``available=False`` simulates an outage."""

    state: MemoryState = field(default_factory=MemoryState)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    available: bool = True

    def unit_of_work(self, *, read_only: bool = False) -> InMemoryUnitOfWork:  # noqa: ARG002 - all units alike
        """A new unit of work over this store (the ``UnitOfWorkFactory`` of the memory backend)."""
        return InMemoryUnitOfWork(self)


class InMemoryUnitOfWork(UnitOfWork):
    """A transaction over an ``InMemoryStore``."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

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

    async def commit(self) -> None:
        """Publish a snapshot of this unit's work; later changes stay uncommitted until the next commit."""
        self._store.state = self._work.copy()

    async def ping(self) -> None:
        """Answer unless the store simulates an outage."""
        if not self._store.available:
            raise StoreUnavailable()
