"""Epochs move only when a statement changed rows: PostgreSQL's statement triggers look at the rows first.

A statement-level trigger fires once per statement, also for one that changes no row. A purge of expired sessions
that found none advanced the ``revocation`` epoch, so every worker forgot the token checks it held and the purge
waited a lease, however often it ran; a delete of datasets or records that matched nothing advanced ``data``
likewise. These statement triggers now receive the statement's rows as a transition table and advance their
epoch only when it holds a row; a statement that changes rows still advances it once, however many.

Inserts and updates of records keep 0004's triggers: PostgreSQL would copy every row of a load's bulk statements
into the transition table, and those statements always change rows. The row triggers (0004) fire only for a row
already, as SQLite's triggers (all per row) and the memory store's commits (which count changed rows) do: nothing
changes on SQLite.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVOCATION, DATA = "revocation", "data"
STATEMENT_TRIGGERS = (
    # (trigger name, table, event, epoch): the statement-level triggers of 0004, as it named them
    ("users_withdraw_on_delete", "users", "DELETE", REVOCATION),
    ("auth_sessions_withdraw_on_delete", "auth_sessions", "DELETE", REVOCATION),
    *((f"datasets_data_on_{event.lower()}", "datasets", event, DATA) for event in ("INSERT", "UPDATE", "DELETE")),
    ("income_records_data_on_delete", "income_records", "DELETE", DATA),
)
CHANGED_ROWS = "changed_rows"
"""The transition table every statement trigger names (the function reads it by this name): the rows its statement
deleted, inserted or updated."""
PG_FUNCTION = """
CREATE FUNCTION libdib_advance_epoch_if_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM changed_rows) THEN
        UPDATE epochs SET value = value + 1 WHERE name = TG_ARGV[0];
    END IF;
    RETURN NULL;
END $$
"""
"""Like 0004's ``libdib_advance_epoch`` (which the row triggers keep using), but only when the statement changed
a row; the trigger's own transition table is looked up by name when it fires."""


def upgrade() -> None:
    """Apply this revision."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(PG_FUNCTION)
    for name, table, event, epoch in STATEMENT_TRIGGERS:
        # An update's old and new rows are as many: either tells whether it changed one.
        rows = "OLD" if event == "DELETE" else "NEW"
        op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {rows} TABLE AS {CHANGED_ROWS}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION libdib_advance_epoch_if_changed('{epoch}')"
        )


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, event, epoch in STATEMENT_TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH STATEMENT"
            f" EXECUTE FUNCTION libdib_advance_epoch('{epoch}')"
        )
    op.execute("DROP FUNCTION libdib_advance_epoch_if_changed()")
