"""The revocation epoch: one row whose value moves with every change that may withdraw a token.

Workers read it to know whether the tokens they remember as honoured still are (``HonouredTokenMemo``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    epoch = op.create_table(
        "revocation_epoch",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_revocation_epoch_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocation_epoch")),
    )
    op.bulk_insert(epoch, [{"id": 1, "value": 0}])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("revocation_epoch")
