"""Lock rows: a unit that must not run beside another one on the same name upserts that name's row first.

Failed-login throttling counts a key's failures and records one more as a single step, and deleting an admin
counts the admins first; two units doing either at once on PostgreSQL would both count the same rows. The
upsert holds the row until the unit ends (on SQLite, the first write takes the database's write lock).

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-01 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "locks",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_locks")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("locks")
