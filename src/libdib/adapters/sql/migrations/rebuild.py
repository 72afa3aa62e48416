"""What more than one migration needs: altering ``income_records`` on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

NATURAL_KEY = "ux_income_records_natural_key"


@contextmanager
def records_for_altering(*, autoincrement: bool = False) -> Iterator[BatchOperations]:
    """``income_records`` for altering: in place on PostgreSQL; copied into a new table on SQLite.

    SQLite cannot alter a constraint, so Alembic rebuilds the table from its reflection, which leaves out
    expression indexes and triggers: the natural key is dropped first and made again after (triggers are the
    caller's). ``autoincrement`` makes the rebuilt SQLite table never give a deleted row's id again.
    """
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.drop_index(NATURAL_KEY, table_name="income_records")
    with op.batch_alter_table("income_records", table_kwargs={"sqlite_autoincrement": autoincrement}) as table:
        yield table
    if sqlite:
        op.create_index(
            NATURAL_KEY,
            "income_records",
            ["race", "age_range", "year", "population", sa.literal_column("coalesce(footnote, '')")],
            unique=True,
        )
