"""The connection of one unit of work, checked out of the pool when its first statement needs it.

A read-write unit runs every statement on one SQLAlchemy connection, inside its transaction.

A read-only unit runs each statement on its own (AUTOCOMMIT). Its ``HotQuery`` statements (the token check, a
record by id, a comparison) take the asyncpg connection straight from SQLAlchemy's pool: 14 us of CPU per
checkout and return, against 42 us for a SQLAlchemy connection, most of which goes on switching its isolation
level to AUTOCOMMIT and back (timed over 5,000 of each). Its other statements get a SQLAlchemy connection,
after the raw one has gone back, so that a unit never holds two connections and a full pool cannot deadlock.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy import Executable
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncResult
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn


class UnitConnection:
    """One unit's way to the database: ``execute`` and ``stream`` for SQLAlchemy, ``driver`` for asyncpg."""

    def __init__(self, engine: AsyncEngine, *, read_only: bool) -> None:
        self._engine = engine
        self._read_only = read_only
        self._connection: AsyncConnection | None = None
        self._raw: PoolProxiedConnection | None = None
        """A read-only unit's pooled connection without SQLAlchemy's ``Connection`` around it."""

    @property
    def dialect(self) -> Dialect:
        """The dialect of the engine (known without a connection)."""
        return self._engine.dialect

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[*tuple[Any, ...]]:
        """Run a SQLAlchemy statement; ``parameters`` as ``AsyncConnection.execute`` takes them."""
        return await (await self.sqlalchemy()).execute(statement, parameters)

    async def stream(self, statement: Executable) -> AsyncResult[Any]:
        """Run a SQLAlchemy statement whose rows arrive as they are iterated (a server-side cursor)."""
        return await (await self.sqlalchemy()).stream(statement)

    async def sqlalchemy(self) -> AsyncConnection:
        """The unit's SQLAlchemy connection, opened on first use (AUTOCOMMIT in a read-only unit)."""
        if self._connection is None:
            self._give_back_raw()
            self._connection = await self._engine.connect()
            if self._read_only:
                await self._connection.execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    async def driver(self) -> asyncpg.Connection:
        """The asyncpg connection: the SQLAlchemy connection's when one is open or the unit writes, else a raw one."""
        if self._connection is not None or not self._read_only:
            return (await (await self.sqlalchemy()).get_raw_connection()).driver_connection
        if self._raw is None:
            self._raw = await self._checkout()
        driver: asyncpg.Connection = self._raw.driver_connection
        return driver

    async def _checkout(self) -> PoolProxiedConnection:
        """A raw pooled connection, its driver errors wrapped as ``engine.connect()`` wraps them.

        So callers handle one kind of error either way (e.g. ``OperationalError`` for "the database system is
        starting up", which the unit of work turns into ``StoreUnavailable``).
        """
        dialect = self._engine.dialect
        try:
            return await self._engine.raw_connection()
        except dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(
                None, None, error, dialect.loaded_dbapi.Error, dialect=dialect, connection_invalidated=False
            ) from error

    async def invalidate(self, error: BaseException) -> None:
        """Close the connection the server dropped, so that the pool opens a new one instead of handing it out."""
        if self._raw is not None:
            raw, self._raw = self._raw, None
            # Closing an asyncpg connection awaits, which SQLAlchemy's pool does only inside a greenlet.
            await greenlet_spawn(raw.invalidate, error)
        elif self._connection is not None:
            await self._connection.invalidate(error)

    async def commit(self) -> None:
        """Commit the SQLAlchemy connection's transaction (a unit that ran nothing has nothing to commit)."""
        if self._connection is not None:
            await self._connection.commit()

    async def close(self) -> None:
        """Give every connection back to the pool; an uncommitted transaction is rolled back."""
        self._give_back_raw()
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()

    def _give_back_raw(self) -> None:
        if self._raw is not None:
            raw, self._raw = self._raw, None
            # On its way back the pool rolls back the adapter's transaction, and a raw connection never begins
            # one, so nothing here awaits and no greenlet is needed (7 us saved per request).
            raw.close()
