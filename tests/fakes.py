"""Test doubles for ports that are slow or non-deterministic in real life (hashing, time)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from libdib.adapters.lease import EpochLease
from libdib.adapters.memory.store import InMemoryStore
from libdib.adapters.views import CachedCensusView, MemoizedHonouredTokens
from libdib.domain.ports import Clock, PasswordHasher

TEST_LEASE_SECONDS = 0.05
"""A shorter epoch lease than the default: each write that moves an epoch waits it, and the tests write a lot.
Still several epoch reads long, so the lease protocol runs as it does when served."""


class FastHasher(PasswordHasher):
    """A hasher that costs nothing (SHA-256, no salt): for tests only, where argon2 would dominate."""

    PREFIX = "$fast$"

    async def hash(self, password: str) -> str:
        return self.PREFIX + hashlib.sha256(password.encode()).hexdigest()

    async def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        return password_hash == await self.hash(password), None

    async def dummy_verify(self) -> None:
        return None


class FixedClock(Clock):
    """A clock that stands still until a test moves it; starts at the real time so JWTs stay valid."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class MemoryWorker:
    """What one worker holds over a memory store: its lease on the epochs and the views that depend on it.

    Until ``sync`` (or a running ``lease.keep``) reads the epochs, the views trust nothing and ask the store.
    """

    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        self.lease = EpochLease(store.lease)
        self.honoured = MemoizedHonouredTokens(store.unit_of_work, self.lease)
        self.census = CachedCensusView(store.unit_of_work, self.lease, store.read_epochs)

    async def sync(self) -> None:
        await self.lease.sync(self.store.read_epochs)
