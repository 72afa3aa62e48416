"""Records without a foreign key to their dataset: bulk loads skip a per-row check.

The key's trigger looked the dataset up once for every row COPY wrote, a large part of a bulk load. The
repositories kept what it guaranteed with row locks until migration 0004 brought the key back (loads now go
through a staging table).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 21:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

from libdib.adapters.sql.migrations.rebuild import records_for_altering

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = "fk_income_records_dataset_id_datasets"


def upgrade() -> None:
    """Apply this revision."""
    with records_for_altering() as table:
        table.drop_constraint(FOREIGN_KEY, type_="foreignkey")


def downgrade() -> None:
    """Revert this revision (fails if a record names a dataset that does not exist)."""
    with records_for_altering() as table:
        table.create_foreign_key(FOREIGN_KEY, "datasets", ["dataset_id"], ["id"], ondelete="CASCADE")
