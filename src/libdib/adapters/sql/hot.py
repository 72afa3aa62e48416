"""Statements on every request's path, compiled once and run on the asyncpg connection itself.

SQLAlchemy's ``execute`` looks the compiled form up, builds an execution context, adapts the cursor and
wraps each row; for the token check and a record by id that costs more than the query (``bench.profile``:
SQLAlchemy was 31% of the event loop's own time). On PostgreSQL these statements skip all of that and
call ``fetch``/``fetchrow`` on the unit's pooled connection (``UnitConnection.driver``): inside the unit's
transaction once SQLAlchemy has begun it, and before it otherwise, which under READ COMMITTED sees the same
rows. Every other dialect runs them through SQLAlchemy as before, so the repositories behave alike everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import Select
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from libdib.adapters.sql.connection import UnitConnection
from libdib.domain.errors import StoreUnavailable

UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")
"""Connection exception, insufficient resources, operator intervention (e.g. 57P03 while the server starts)."""


def unavailable(sqlstate: str | None) -> bool:
    """Whether a SQLSTATE says the database is down, restarting, or out of connections (not the caller's fault)."""
    return (sqlstate or "")[:2] in UNAVAILABLE_SQLSTATE_CLASSES


def _unreachable(error: BaseException) -> bool:
    """Whether an asyncpg error means the database is down, restarting, or out of connections."""
    if isinstance(error, asyncpg.PostgresError):
        return unavailable(error.sqlstate)
    return isinstance(error, OSError | TimeoutError | asyncpg.InternalClientError)


class HotQuery:
    """A Core ``SELECT`` with named bind parameters, compiled once to asyncpg's ``$n`` form."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        compiled = statement.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
        self.sql = str(compiled)
        """The statement as asyncpg runs it, with ``$1``, ``$2``... in the order of ``names``."""
        self.names = tuple(compiled.positiontup or ())

    async def fetch(self, connection: UnitConnection, parameters: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        """Every row, as sequences in the statement's column order."""
        if connection.dialect.name != "postgresql":
            portable: Sequence[Sequence[Any]] = (await connection.execute(self.statement, parameters)).all()
            return portable
        rows: list[asyncpg.Record] = await self._run(connection, parameters, one=False)
        return rows

    async def fetch_one(self, connection: UnitConnection, parameters: Mapping[str, Any]) -> Sequence[Any] | None:
        """The first row, or None."""
        if connection.dialect.name != "postgresql":
            first: Sequence[Any] | None = (await connection.execute(self.statement, parameters)).first()
            return first
        row: asyncpg.Record | None = await self._run(connection, parameters, one=True)
        return row

    async def _run(self, connection: UnitConnection, parameters: Mapping[str, Any], *, one: bool) -> Any:
        driver = await connection.driver()
        arguments = [parameters[name] for name in self.names]
        try:
            return await (driver.fetchrow if one else driver.fetch)(self.sql, *arguments)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError) as error:
            # A connection the server dropped shows up as any of these (and as a protocol in a broken state).
            if not (_unreachable(error) or driver.is_closed()):
                raise
            # SQLAlchemy did not see this error, so tell its pool not to hand the connection out again.
            await connection.invalidate(error)
            raise StoreUnavailable() from error
