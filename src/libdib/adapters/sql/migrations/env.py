"""Alembic environment: runs migrations on the async engine, all of them in one transaction."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from libdib.adapters.sql.engine import create_engine
from libdib.adapters.sql.tables import Base

MIGRATION_LOCK = 7_351_428_914
"""PostgreSQL advisory lock id: two processes migrating at once take turns."""


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK})
        context.run_migrations()


async def _migrate(url: str) -> None:
    # One transaction on one connection: it holds nothing across transactions, so the same engine runs directly
    # against PostgreSQL or through a transaction-mode pooler.
    engine = create_engine(url, pooled=False, transaction_pooler=True)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_migrate(context.config.get_main_option("sqlalchemy.url") or ""))
