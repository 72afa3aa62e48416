"""The schema, as SQLAlchemy tables. Only ``adapters.sql`` sees these; migrations are made from them."""

from __future__ import annotations

from datetime import datetime

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Id = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit ids on PostgreSQL; SQLite only auto-increments an ``INTEGER PRIMARY KEY``."""

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with named constraints, so migrations can refer to them."""

    metadata = MetaData(naming_convention=NAMING)


class UserRow(Base):
    """A user account."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(50))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    __table_args__ = (Index("ux_users_username_lower", func.lower(username), unique=True),)


class SessionRow(Base):
    """A login session; ``revoked`` ends it for every token it issued."""

    __tablename__ = "auth_sessions"
    sid: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class SpentRefreshTokenRow(Base):
    """A refresh token that was exchanged once; a second exchange is a replay."""

    __tablename__ = "spent_refresh_tokens"
    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    sid: Mapped[str] = mapped_column(String(36), ForeignKey("auth_sessions.sid", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)


class RevokedTokenRow(Base):
    """A single token revoked before its expiry."""

    __tablename__ = "revoked_tokens"
    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)


class EpochRow(Base):
    """A counter the database's own triggers advance with every change of one kind (see ``adapters.lease``)."""

    __tablename__ = "epochs"
    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class LoginFailureRow(Base):
    """One failed login, keyed by username and client address, for throttling."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    __table_args__ = (Index("ix_login_failures_key_at", key, at),)


class LockRow(Base):
    """A name units lock by upserting its row, so that they run one after another (migration 0006)."""

    __tablename__ = "locks"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)


class DatasetRow(Base):
    """A loaded P-8 table: one per race group."""

    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    race: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    first_year: Mapped[int] = mapped_column(SmallInteger)
    last_year: Mapped[int] = mapped_column(SmallInteger)
    constant_dollar_year: Mapped[int] = mapped_column(SmallInteger)
    loaded_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class RecordRow(Base):
    """One year row of a table.

    A reload keeps the id of every row whose natural key it lists again; ``position`` keeps the table's order.
    """

    __tablename__ = "income_records"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(Id, ForeignKey("datasets.id", ondelete="CASCADE"))
    """Indexed by ``ix_income_records_table_order``, which begins with it."""
    position: Mapped[int] = mapped_column(Integer)
    """The row's place in its table (records added later come after the table's rows): the order of listings
    and of "first listed", which ids cannot keep once a reload keeps the ids of the rows it lists again."""
    race: Mapped[str] = mapped_column(String(40))
    population: Mapped[str] = mapped_column(String(200))
    age_range: Mapped[str] = mapped_column(String(5))
    year: Mapped[int] = mapped_column(SmallInteger)
    footnote: Mapped[str | None] = mapped_column(String(20))
    male_number_with_income: Mapped[int | None] = mapped_column(Integer)
    male_median_income_current: Mapped[int | None] = mapped_column(Integer)
    male_median_income_constant: Mapped[int | None] = mapped_column(Integer)
    female_number_with_income: Mapped[int | None] = mapped_column(Integer)
    female_median_income_current: Mapped[int | None] = mapped_column(Integer)
    female_median_income_constant: Mapped[int | None] = mapped_column(Integer)
    constant_dollar_year: Mapped[int] = mapped_column(SmallInteger)
    __table_args__ = (
        # The natural key, and the index behind every filter and comparison lookup (race, age, year first).
        Index(
            "ux_income_records_natural_key",
            race,
            age_range,
            year,
            population,
            func.coalesce(footnote, ""),
            unique=True,
        ),
        # A race group's records in table order: deep pages of one race (migration 0005).
        Index("ix_income_records_race_table_order", race, dataset_id, position),
        Index("ix_income_records_table_order", dataset_id, position),
        # SQLite would otherwise give a deleted record's id to the next new one; a saved link must not move.
        {"sqlite_autoincrement": True},
    )
