"""Epochs kept by the database itself, and the records' foreign key to their dataset back.

Every change that may withdraw a token (a session ended or deleted, a token revoked, a user deleted or given
another role or password) advances the ``revocation`` epoch, and every change of datasets or records the
``data`` epoch, by triggers in the changing transaction: a write added later cannot forget to. Workers read
the epochs to know whether what they hold still holds (``adapters.lease``). Loads now go through a staging
table and upsert into the records, keeping ids; ``position`` keeps each table's order, which ids no longer do.

Revision ID: 0004
Revises: 0006
Create Date: 2026-12-01 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from libdib.adapters.sql.migrations.rebuild import records_for_altering

revision: str = "0004"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = "fk_income_records_dataset_id_datasets"
TABLE_ORDER = "ix_income_records_table_order"
REVOCATION, DATA = "revocation", "data"

WATCHED = (
    # (trigger name, table, event, SQLite's WHEN condition, PostgreSQL's level and WHEN condition, epoch)
    ("users_withdraw_on_change", "users", "UPDATE OF is_admin, password_hash",
     "OLD.is_admin IS NOT NEW.is_admin OR OLD.password_hash IS NOT NEW.password_hash",
     "ROW WHEN (OLD.is_admin IS DISTINCT FROM NEW.is_admin OR OLD.password_hash IS DISTINCT FROM NEW.password_hash)",
     REVOCATION),
    ("users_withdraw_on_delete", "users", "DELETE", None, "STATEMENT", REVOCATION),
    ("auth_sessions_withdraw_on_revoke", "auth_sessions", "UPDATE OF revoked", "OLD.revoked IS NOT NEW.revoked",
     "ROW WHEN (OLD.revoked IS DISTINCT FROM NEW.revoked)", REVOCATION),
    ("auth_sessions_withdraw_on_delete", "auth_sessions", "DELETE", None, "STATEMENT", REVOCATION),
    # A row trigger: revoking a revoked token inserts nothing and withdraws nothing.
    ("revoked_tokens_withdraw_on_insert", "revoked_tokens", "INSERT", None, "ROW", REVOCATION),
    *(
        (f"{table}_data_on_{event.lower()}", table, event, None, "STATEMENT", DATA)
        for table in ("datasets", "income_records")
        for event in ("INSERT", "UPDATE", "DELETE")
    ),
)  # fmt: skip
"""Which changes move which epoch. SQLite has row triggers only; PostgreSQL fires once per statement where the
rows need no look, so a bulk statement advances an epoch once."""
PG_FUNCTION = """
CREATE FUNCTION libdib_advance_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE epochs SET value = value + 1 WHERE name = TG_ARGV[0];
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    """Apply this revision."""
    bind = op.get_bind()
    revoked = bind.execute(sa.text("SELECT value FROM revocation_epoch")).scalar_one()
    epochs = op.create_table(
        "epochs",
        sa.Column("name", sa.String(20), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_epochs")),
    )
    op.bulk_insert(epochs, [{"name": REVOCATION, "value": revoked}, {"name": DATA, "value": 0}])
    op.drop_table("revocation_epoch")
    op.execute("DELETE FROM income_records WHERE dataset_id NOT IN (SELECT id FROM datasets)")
    # On SQLite the rebuilt table also takes AUTOINCREMENT, so a deleted record's id is never given again.
    with records_for_altering(autoincrement=True) as table:
        table.create_foreign_key(FOREIGN_KEY, "datasets", ["dataset_id"], ["id"], ondelete="CASCADE")
        table.add_column(sa.Column("position", sa.Integer(), nullable=False, server_default="0"))
    # Until now ids followed the table's order.
    op.execute("UPDATE income_records SET position = id")
    op.create_index(TABLE_ORDER, "income_records", ["dataset_id", "position"])
    _create_triggers(bind.dialect.name == "postgresql")


def downgrade() -> None:
    """Revert this revision."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    for name, watched, *_ in WATCHED:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {watched}" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS libdib_advance_epoch()")
    op.drop_index(TABLE_ORDER, table_name="income_records")
    with records_for_altering() as table:
        table.drop_constraint(FOREIGN_KEY, type_="foreignkey")
        table.drop_column("position")
    revoked = bind.execute(sa.text("SELECT value FROM epochs WHERE name = 'revocation'")).scalar_one()
    epoch = op.create_table(
        "revocation_epoch",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_revocation_epoch_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocation_epoch")),
    )
    op.bulk_insert(epoch, [{"id": 1, "value": revoked}])
    op.drop_table("epochs")


def _create_triggers(postgres: bool) -> None:
    if postgres:
        op.execute(PG_FUNCTION)
    for name, table, event, sqlite_when, pg_level, epoch in WATCHED:
        if postgres:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH {pg_level}"
                f" EXECUTE FUNCTION libdib_advance_epoch('{epoch}')"
            )
        else:
            when = f" WHEN {sqlite_when}" if sqlite_when else ""
            advance = f"UPDATE epochs SET value = value + 1 WHERE name = '{epoch}'"  # noqa: S608 - constants only
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{when} BEGIN {advance}; END")
