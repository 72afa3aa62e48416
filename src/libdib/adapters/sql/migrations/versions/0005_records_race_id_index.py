"""An index on (race, id): a page of one race group's records, however deep, and its count, from the index.

``?race=black&limit=1000&offset=300000`` scanned the records in id order and filtered by race (0.7 s);
with this index the page's ids come from an index-only scan and only its 1,000 rows are fetched.

Revision ID: 0005
Revises: 0006 (0005 was assigned to this branch while 0006 landed first on main; relinked after it)
Create Date: 2026-12-01 06:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index("ix_income_records_race_id", "income_records", ["race", "id"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_income_records_race_id", table_name="income_records")
