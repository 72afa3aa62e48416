"""Initial schema: users, sessions and token revocations, login failures, datasets and records.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-24 18:49:17.356545
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "datasets",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("race", sa.String(length=40), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("first_year", sa.SmallInteger(), nullable=False),
        sa.Column("last_year", sa.SmallInteger(), nullable=False),
        sa.Column("constant_dollar_year", sa.SmallInteger(), nullable=False),
        sa.Column("loaded_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("race", name=op.f("uq_datasets_race")),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_key_at", "login_failures", ["key", "at"], unique=False)
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(length=36), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_tokens")),
    )
    op.create_index(op.f("ix_revoked_tokens_expires_at"), "revoked_tokens", ["expires_at"], unique=False)
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=50), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index("ux_users_username_lower", "users", [sa.literal_column("lower(username)")], unique=True)
    op.create_table(
        "auth_sessions",
        sa.Column("sid", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auth_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_auth_sessions")),
    )
    op.create_index(op.f("ix_auth_sessions_expires_at"), "auth_sessions", ["expires_at"], unique=False)
    op.create_index(op.f("ix_auth_sessions_user_id"), "auth_sessions", ["user_id"], unique=False)
    op.create_table(
        "income_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("race", sa.String(length=40), nullable=False),
        sa.Column("population", sa.String(length=200), nullable=False),
        sa.Column("age_range", sa.String(length=5), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("footnote", sa.String(length=20), nullable=True),
        sa.Column("male_number_with_income", sa.Integer(), nullable=True),
        sa.Column("male_median_income_current", sa.Integer(), nullable=True),
        sa.Column("male_median_income_constant", sa.Integer(), nullable=True),
        sa.Column("female_number_with_income", sa.Integer(), nullable=True),
        sa.Column("female_median_income_current", sa.Integer(), nullable=True),
        sa.Column("female_median_income_constant", sa.Integer(), nullable=True),
        sa.Column("constant_dollar_year", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_income_records_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_income_records")),
    )
    op.create_index(op.f("ix_income_records_dataset_id"), "income_records", ["dataset_id"], unique=False)
    op.create_index(
        "ux_income_records_natural_key",
        "income_records",
        ["race", "age_range", "year", "population", sa.literal_column("coalesce(footnote, '')")],
        unique=True,
    )
    op.create_table(
        "spent_refresh_tokens",
        sa.Column("jti", sa.String(length=36), nullable=False),
        sa.Column("sid", sa.String(length=36), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sid"], ["auth_sessions.sid"], name=op.f("fk_spent_refresh_tokens_sid_auth_sessions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_spent_refresh_tokens")),
    )
    op.create_index(op.f("ix_spent_refresh_tokens_expires_at"), "spent_refresh_tokens", ["expires_at"], unique=False)
    op.create_index(op.f("ix_spent_refresh_tokens_sid"), "spent_refresh_tokens", ["sid"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_spent_refresh_tokens_sid"), table_name="spent_refresh_tokens")
    op.drop_index(op.f("ix_spent_refresh_tokens_expires_at"), table_name="spent_refresh_tokens")
    op.drop_table("spent_refresh_tokens")
    op.drop_index("ux_income_records_natural_key", table_name="income_records")
    op.drop_index(op.f("ix_income_records_dataset_id"), table_name="income_records")
    op.drop_table("income_records")
    op.drop_index(op.f("ix_auth_sessions_user_id"), table_name="auth_sessions")
    op.drop_index(op.f("ix_auth_sessions_expires_at"), table_name="auth_sessions")
    op.drop_table("auth_sessions")
    op.drop_index("ux_users_username_lower", table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_revoked_tokens_expires_at"), table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
    op.drop_index("ix_login_failures_key_at", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_table("datasets")
