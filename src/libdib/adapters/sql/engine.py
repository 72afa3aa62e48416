"""Engines for PostgreSQL (asyncpg) and the embedded SQLite (aiosqlite)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

CONNECT_TIMEOUT_SECONDS = 5
"""asyncpg waits 60 s for a connection by default; a request should fail fast instead."""
POOL_WAIT_SECONDS = 10
"""How long a request waits for a free pooled connection before it gets a 503."""


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


def _driver_arguments(transaction_pooler: bool) -> dict[str, Any]:
    """The driver's connection arguments; behind a transaction pooler, nothing that outlives a transaction.

    A transaction pooler hands each transaction whichever server session is free, so a named prepared statement
    kept by one session is missing (or already taken) in the next: no statement cache, and a unique name for the
    statements SQLAlchemy's dialect still prepares. PgBouncer refuses startup parameters it does not know, such
    as ``jit``: set it on the database instead (``ALTER DATABASE ... SET jit = off``).
    """
    arguments: dict[str, Any] = {
        "timeout": CONNECT_TIMEOUT_SECONDS,
        "command_timeout": 60,
        "server_settings": {"application_name": "libdib"},
    }
    if transaction_pooler:
        arguments.update(
            statement_cache_size=0,
            prepared_statement_cache_size=0,
            prepared_statement_name_func=_unique_statement_name,
        )
    else:
        # JIT compilation costs more than it saves on libdib's short indexed queries.
        arguments["server_settings"]["jit"] = "off"
    return arguments


def create_engine(
    url: str,
    pool_size: int = 20,
    *,
    pooled: bool = True,
    transaction_pooler: bool = False,
    pre_ping: bool = False,
) -> AsyncEngine:
    """An async engine for ``url`` with the settings each backend needs; ``pooled=False`` for one-off work.

    ``transaction_pooler`` when ``url`` is a transaction-mode pooler; ``pre_ping`` tests a pooled connection before
    lending it, for a server that may go away while others stand in for it (a replica).
    """
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # No overflow: an overflow connection is closed when it is returned, so a sustained burst would open and
    # close a connection per request; waiting a moment for a pooled one is far cheaper.
    pool: dict[str, Any] = (
        {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": POOL_WAIT_SECONDS}
        if pooled
        else {"poolclass": NullPool}
    )
    return create_async_engine(url, **pool, pool_pre_ping=pre_ping, connect_args=_driver_arguments(transaction_pooler))


def read_only_engine(engine: AsyncEngine, *, transaction_pooler: bool) -> AsyncEngine:
    """The view of ``engine`` read-only units run on: AUTOCOMMIT, each statement on its own, one round trip.

    Not behind a transaction pooler: SQLAlchemy's asyncpg dialect prepares a statement, then executes it in a
    second exchange, and outside a transaction the pooler may send the second to another server session, which
    does not know the statement. Inside a transaction the session is the unit's until it ends.
    """
    return engine if transaction_pooler else engine.execution_options(isolation_level="AUTOCOMMIT")


def _sqlite_engine(url: str) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Enforce foreign keys and let several workers share the file (WAL, wait on locks)."""
    cursor = dbapi_connection.cursor()
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "busy_timeout=5000", "synchronous=NORMAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
