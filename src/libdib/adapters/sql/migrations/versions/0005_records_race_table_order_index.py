"""An index on (race, dataset, position): a page of one race group's records in table order, however deep.

``?race=black&limit=1000&offset=300000`` scanned every record in order and filtered by race; with this index
the page's ids come from an index scan of that race alone and only its 1,000 rows are fetched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 06:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index("ix_income_records_race_table_order", "income_records", ["race", "dataset_id", "position"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_income_records_race_table_order", table_name="income_records")
