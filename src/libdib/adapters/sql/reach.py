"""Reaching the database at start: wait while it is starting, and say in one line why it cannot be used."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import stamina
from sqlalchemy.engine import make_url

from libdib.adapters.sql.migrate import upgrade
from libdib.domain.errors import DomainError

MISSING_DATABASE = "3D000"
BAD_ROLE = "28000"
WRONG_PASSWORD = "28P01"  # noqa: S105 - a SQLSTATE, not a password
STARTING_UP = "57P03"
TOO_MANY_CONNECTIONS = "53300"
RETRYABLE_STATES = {STARTING_UP, TOO_MANY_CONNECTIONS}


class DatabaseProblem(DomainError):
    """The configured database cannot be used; the message names it (password hidden) and what to do."""


class DatabaseNotReady(DatabaseProblem):
    """The database does not answer yet (down, starting, or busy): waiting may help."""


def shown(url: str) -> str:
    """``url`` as it may be shown to a person: the password hidden, a SQLite path made absolute."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
        parsed = parsed.set(database=str(Path(parsed.database).resolve()))
    return parsed.render_as_string(hide_password=True)


def explain(error: BaseException, url: str) -> DatabaseProblem:
    """A one-line account of why connecting to ``url`` failed; ``DatabaseNotReady`` when waiting may help."""
    parsed, where = make_url(url), shown(url)
    state = _sqlstate(error)
    if state == MISSING_DATABASE:
        return DatabaseProblem(
            f"database {parsed.database!r} does not exist at {where}; create it with:"
            f" createdb -h {parsed.host or 'localhost'} -p {parsed.port or 5432}"
            f" -U {parsed.username or 'postgres'} {parsed.database}",
        )
    if state in {BAD_ROLE, WRONG_PASSWORD}:
        return DatabaseProblem(
            f"cannot log in to {where}: {_first_line(error)}; check the user and password in LIBDIB_DATABASE_URL",
        )
    if state in RETRYABLE_STATES or _is_network_error(error):
        return DatabaseNotReady(f"the database at {where} is not reachable: {_first_line(error)}")
    return DatabaseProblem(f"cannot use the database at {where}: {_first_line(error)}")


def migrate_when_reachable(url: str, wait_seconds: float, on_wait: Callable[[str], None]) -> None:
    """Apply the migrations, retrying for up to ``wait_seconds`` while the database is not reachable yet.

    Raises ``DatabaseProblem`` at once for what waiting cannot mend (a missing database, a wrong password).
    """
    try:
        for attempt in stamina.retry_context(
            on=DatabaseNotReady, attempts=None, timeout=wait_seconds, wait_initial=0.2, wait_max=2.0
        ):
            with attempt:
                if attempt.num > 1:
                    on_wait(f"waiting for the database at {shown(url)} (attempt {attempt.num})")
                _upgrade(url)
    except DatabaseNotReady as exc:
        raise DatabaseNotReady(f"{exc} (waited {wait_seconds:g} s; LIBDIB_DATABASE_WAIT sets how long)") from None


def _upgrade(url: str) -> None:
    try:
        upgrade(url)
    except DomainError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is explained, not dumped
        raise explain(exc, url) from None


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__ or getattr(current, "orig", None)
    return seen


def _sqlstate(error: BaseException) -> str | None:
    return next((state for e in _chain(error) if isinstance(state := getattr(e, "sqlstate", None), str)), None)


def _is_network_error(error: BaseException) -> bool:
    return any(isinstance(e, OSError | TimeoutError) for e in _chain(error))


def _first_line(error: BaseException) -> str:
    innermost = _chain(error)[-1]
    text = str(innermost).strip().splitlines()
    return text[0] if text else innermost.__class__.__name__
