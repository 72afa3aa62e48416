"""Which integrity rule the database enforced, read the same way on PostgreSQL and SQLite."""

from __future__ import annotations

import enum

from sqlalchemy.exc import IntegrityError


class Violation(enum.StrEnum):
    """The rules repositories turn into domain errors, by PostgreSQL SQLSTATE."""

    UNIQUE = "23505"
    FOREIGN_KEY = "23503"
    NOT_NULL = "23502"


SQLITE_MESSAGES = {
    Violation.UNIQUE: "UNIQUE constraint failed",
    Violation.FOREIGN_KEY: "FOREIGN KEY constraint failed",
    Violation.NOT_NULL: "NOT NULL constraint failed",
}
"""SQLite gives no SQLSTATE, only a message (LIBRARY-NOTES §5)."""


def violated(error: IntegrityError) -> Violation | None:
    """The rule behind ``error``: a SQLSTATE on asyncpg, a message on SQLite; None for any other."""
    state, message = getattr(error.orig, "sqlstate", None), str(error.orig)
    for violation in Violation:
        if state == violation.value or SQLITE_MESSAGES[violation] in message:
            return violation
    return None
