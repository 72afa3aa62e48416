"""Census reads from a streaming replica, as long as it holds every change the worker knows of.

A read-only census unit asks the replica first. On the replica's connection it reads the replica's data epoch
and compares it with the one the worker's lease last read from the primary; since a write that moved the data
epoch answers only after every trusting worker has read the moved epoch (see ``adapters.lease``), a replica at
that epoch or later holds every write that has answered, and a user never sees their own write undone. A
standby only replays forward, so what the epoch read saw, the query after it sees too. A replica that is
behind, or that does not answer, leaves the read to the primary, and is asked again after a short back-off.

Only the census reads come here (records, comparisons, datasets); token checks, writes and everything else use
the primary's units.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Self

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from libdib.adapters.lease import DATA, EpochLease
from libdib.adapters.sql.engine import create_engine, read_only_engine
from libdib.adapters.sql.unit_of_work import SqlUnitOfWork
from libdib.domain.errors import StoreUnavailable
from libdib.domain.ports import UnitOfWork, UnitOfWorkFactory

BEHIND_RETRY_SECONDS = 0.5
"""After finding the replica behind, reads go to the primary this long before the replica is asked again."""
DOWN_RETRY_SECONDS = 2.0
"""After the replica did not answer, reads go to the primary this long before it is tried again."""

logger = logging.getLogger("libdib")


class ReplicaState(enum.StrEnum):
    """What the last attempt to read from the replica found."""

    READING = "reading"
    """It held every change this worker knows of: census reads go to it."""
    BEHIND = "behind"
    """It lacked a change this worker knows of: census reads go to the primary until it catches up."""
    DOWN = "down"
    """It did not answer: census reads go to the primary until it does."""


class ReplicaReads:
    """A second engine, on the replica, and the routing of read-only census units between it and the primary."""

    def __init__(
        self,
        url: str,
        pool_size: int,
        lease: EpochLease,
        primary: UnitOfWorkFactory,
        *,
        transaction_pooler: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.pool_size = pool_size
        self.lease = lease
        self.primary = primary
        self.transaction_pooler = transaction_pooler
        self._monotonic = monotonic
        self._engine: AsyncEngine | None = None
        self.state = ReplicaState.BEHIND
        """Until the first attempt, as if behind: nothing is known of it yet."""
        self._retry_at = -float("inf")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Own the replica's engine while the services run."""
        # Pre-ping: a replica that restarted leaves dead pooled connections; testing one before lending it costs
        # a round trip on a cache miss, and turns a dead replica into a fallback instead of a failed request.
        engine = create_engine(self.url, self.pool_size, transaction_pooler=self.transaction_pooler, pre_ping=True)
        self._engine = read_only_engine(engine, transaction_pooler=self.transaction_pooler)
        try:
            yield
        finally:
            self._engine = None
            await engine.dispose()

    def unit_of_work(self, *, read_only: bool = False) -> UnitOfWork:
        """A read-only unit that tries the replica first; any other unit is the primary's."""
        if not read_only:
            return self.primary()
        return _RoutedUnit(self)

    async def probe(self) -> ReplicaState:
        """Try the replica now, whatever the back-off says, and report what was found (for ``/health``)."""
        self._retry_at = -float("inf")
        async with self.unit_of_work(read_only=True):
            pass
        return self.state

    async def enter_replica(self) -> UnitOfWork | None:
        """An entered unit on the replica when it may answer for the worker now; otherwise None."""
        known = self.lease.epochs.get(DATA)
        if self._engine is None or known is None or not self.lease.trusted() or self._monotonic() < self._retry_at:
            return None
        unit = SqlUnitOfWork(self._engine, self._engine, self.lease, read_only=True)
        try:
            await unit.__aenter__()
            try:
                replica_epoch = (await unit.epochs()).get(DATA, -1)
            except Exception as exc:
                await unit.__aexit__(type(exc), exc, exc.__traceback__)
                if isinstance(exc, DBAPIError):
                    # Not a replica of this database (no epochs table, say): unusable, like one that is down.
                    raise StoreUnavailable() from exc
                raise
        except StoreUnavailable as exc:
            if self.state is not ReplicaState.DOWN:
                logger.warning("read replica unusable, reading the primary: %r", exc.__cause__)
            self._found(ReplicaState.DOWN, DOWN_RETRY_SECONDS)
            return None
        if replica_epoch < known:
            await unit.__aexit__(None, None, None)
            self._found(ReplicaState.BEHIND, BEHIND_RETRY_SECONDS)
            return None
        self._found(ReplicaState.READING, 0)
        return unit

    def _found(self, state: ReplicaState, retry_after: float) -> None:
        if state is not self.state:
            logger.info("read replica %s", state, extra={"replica": str(state)})
        self.state = state
        self._retry_at = self._monotonic() + retry_after


class _RoutedUnit(UnitOfWork):
    """A read-only unit on the replica when it may answer, else on the primary; the block sees either alike."""

    def __init__(self, reads: ReplicaReads) -> None:
        self._reads = reads
        self._inner: UnitOfWork | None = None

    async def __aenter__(self) -> Self:
        inner = await self._reads.enter_replica()
        if inner is None:
            inner = self._reads.primary(read_only=True)
            await inner.__aenter__()
        self._inner = inner
        self.users = inner.users
        self.sessions = inner.sessions
        self.login_failures = inner.login_failures
        self.datasets = inner.datasets
        self.records = inner.records
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._inner is not None:
            await self._inner.__aexit__(exc_type, exc, tb)

    async def commit(self) -> None:
        raise RuntimeError("a read-only unit does not commit")

    async def ping(self) -> None:
        if self._inner is not None:
            await self._inner.ping()
