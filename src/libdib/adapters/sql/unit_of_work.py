"""One database transaction over every repository."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine

from libdib.adapters.sql.census import SqlDatasetRepository, SqlRecordRepository
from libdib.adapters.sql.connection import UnitConnection
from libdib.adapters.sql.hot import unavailable
from libdib.adapters.sql.identity import SqlLoginFailureRepository, SqlSessionRepository, SqlUserRepository
from libdib.domain.errors import InvalidInput, StoreUnavailable
from libdib.domain.ports import UnitOfWork

UNREACHABLE = (OperationalError, InterfaceError, PoolTimeoutError, OSError, TimeoutError)
"""What a database that is down, restarting or out of connections raises."""
BAD_DATA_SQLSTATE_CLASS = "22"


def _driver_error(exc: BaseException) -> BaseException:
    """The asyncpg error itself: wrapped by SQLAlchemy, or raw from a ``HotQuery``."""
    return exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc


def _sqlstate(exc: BaseException) -> str:
    return str(getattr(_driver_error(exc), "sqlstate", "") or "")


def _unreachable(exc: BaseException | None) -> bool:
    if isinstance(exc, DBAPIError) and (exc.connection_invalidated or unavailable(_sqlstate(exc))):
        return True
    return isinstance(exc, UNREACHABLE)


class SqlUnitOfWork(UnitOfWork):
    """A connection and its transaction; repositories share it. Unreachable databases become ``Unavailable``.

    Repositories speak SQLAlchemy Core, so a plain connection serves them: no ORM session to build per unit.
    A ``read_only`` unit runs each statement on its own, without a transaction (see ``UnitConnection``).
    """

    def __init__(self, engine: AsyncEngine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._read_only = read_only

    async def __aenter__(self) -> Self:
        # The connection is checked out by the first statement; a failure to get one surfaces in ``__aexit__``.
        self._connection = UnitConnection(self._engine, read_only=self._read_only)
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
        if _unreachable(exc):
            raise StoreUnavailable() from exc
        if isinstance(exc, DBAPIError | asyncpg.PostgresError) and _sqlstate(exc).startswith(BAD_DATA_SQLSTATE_CLASS):
            # A safety net: the domain validates input, but a value the database cannot store is the caller's, not ours.
            reason = str(_driver_error(exc)).splitlines()[0] or "invalid value"
            raise InvalidInput(f"a value in the request cannot be stored: {reason}") from exc

    async def commit(self) -> None:
        """Commit the transaction."""
        await self._connection.commit()

    async def ping(self) -> None:
        """Run ``SELECT 1``."""
        await self._connection.execute(text("SELECT 1"))
