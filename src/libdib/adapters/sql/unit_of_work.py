"""One database transaction over every repository, and the epochs its commit may have moved."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import asyncpg
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libdib.adapters.lease import EpochLease, moved
from libdib.adapters.sql.census import SqlDatasetRepository, SqlRecordRepository
from libdib.adapters.sql.identity import SqlLoginFailureRepository, SqlSessionRepository, SqlUserRepository
from libdib.adapters.sql.tables import EpochRow
from libdib.domain.errors import InvalidInput, StoreUnavailable
from libdib.domain.ports import UnitOfWork

UNREACHABLE = (OperationalError, InterfaceError, PoolTimeoutError, OSError, TimeoutError)
"""What a database that is down, restarting or out of connections raises."""
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")
"""Connection exception, insufficient resources, operator intervention (e.g. 57P03 while the server starts)."""
BAD_DATA_SQLSTATE_CLASS = "22"
READ_EPOCHS = select(EpochRow.name, EpochRow.value)


def _sqlstate(exc: BaseException) -> str:
    driver = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return str(getattr(driver, "sqlstate", "") or "")


def _unreachable(exc: BaseException | None) -> bool:
    if isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or _sqlstate(exc)[:2] in UNAVAILABLE_SQLSTATE_CLASSES
    ):
        return True
    return isinstance(exc, UNREACHABLE)


async def read_epochs(connection: AsyncConnection) -> dict[str, int]:
    """Every epoch, by name."""
    return {name: int(value) for name, value in await connection.execute(READ_EPOCHS)}


class SqlUnitOfWork(UnitOfWork):
    """A connection and its transaction; repositories share it. Unreachable databases become ``Unavailable``.

    Repositories speak SQLAlchemy Core, so a plain connection serves them: no ORM session to build per unit.
    A ``read_only`` unit runs on ``reader``, an AUTOCOMMIT view of the same pool: each statement on its own.
    A unit whose commit moved an epoch (past what the worker's ``lease`` held when the unit began) waits for the
    lease before it is left.
    """

    def __init__(self, engine: AsyncEngine, reader: AsyncEngine, lease: EpochLease, *, read_only: bool) -> None:
        self._engine = reader if read_only else engine
        self._lease = lease
        self._read_only = read_only
        self._moved = False
        self._epochs_before = dict(lease.epochs)

    async def __aenter__(self) -> Self:
        try:
            self._connection = await self._engine.connect()
        except (DBAPIError, *UNREACHABLE) as exc:
            if _unreachable(exc):
                raise StoreUnavailable() from exc
            raise
        self.users = SqlUserRepository(self._connection)
        self.sessions = SqlSessionRepository(self._connection)
        self.login_failures = SqlLoginFailureRepository(self._connection)
        self.datasets = SqlDatasetRepository(self._connection)
        self.records = SqlRecordRepository(self._connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._connection.close()
        except (DBAPIError, *UNREACHABLE) as cleanup:
            if not _unreachable(cleanup):
                raise
            # The connection is gone already; the pool replaces it.
        if self._moved:
            # Even when the block failed after its commit (a refresh replay ends the session, then refuses).
            await self._lease.settle()
        if _unreachable(exc):
            raise StoreUnavailable() from exc
        # asyncpg's own errors come from what runs on the driver itself (a load's COPY and long statements).
        if isinstance(exc, DBAPIError | asyncpg.PostgresError) and _sqlstate(exc).startswith(BAD_DATA_SQLSTATE_CLASS):
            # A safety net: the domain validates input, but a value the database cannot store is the caller's, not ours.
            driver = exc.orig if isinstance(exc, DBAPIError) else exc
            reason = next((line for line in str(driver).splitlines() if line.strip()), "invalid value")
            raise InvalidInput(f"a value in the request cannot be stored: {reason}") from exc

    async def commit(self) -> None:
        """Commit the transaction; note whether it moved an epoch (read inside it, so its own changes count)."""
        epochs = await read_epochs(self._connection)
        await self._connection.commit()
        self._moved |= moved(self._epochs_before, epochs)

    async def ping(self) -> None:
        """Read the epochs (a query every store has)."""
        await self.epochs()

    async def epochs(self) -> dict[str, int]:
        """Every epoch, by name."""
        return await read_epochs(self._connection)
