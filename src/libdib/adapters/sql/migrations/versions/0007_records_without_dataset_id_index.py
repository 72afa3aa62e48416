"""No index on the records' ``dataset_id`` alone: ``(dataset_id, position)`` begins with it and serves its uses.

A dataset's records are found (its cascade delete, its table in order) by the two-column index as well, so the
one-column index only cost every row a load writes one more index entry.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02 18:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATASET_ID_INDEX = "ix_income_records_dataset_id"


def upgrade() -> None:
    """Apply this revision."""
    op.drop_index(DATASET_ID_INDEX, table_name="income_records")


def downgrade() -> None:
    """Revert this revision."""
    op.create_index(DATASET_ID_INDEX, "income_records", ["dataset_id"])
