"""Users, sessions and login failures in SQL, with Core statements (no ORM identity map on the hot path).

The statements are built once, at import, with bound parameters: SQLAlchemy then finds each compiled form by
the statement's memoized cache key, instead of building a statement and deriving its key on every call.
Upserts differ by dialect, so those are built once per dialect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CursorResult,
    Executable,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from libdib.adapters.sql.tables import (
    LockRow,
    LoginFailureRow,
    RevokedTokenRow,
    SessionRow,
    SpentRefreshTokenRow,
    UserRow,
)
from libdib.adapters.sql.violations import Violation, violated
from libdib.domain.errors import NotFound
from libdib.domain.identity import AuthSession, Claims, NewUser, User
from libdib.domain.ports import LoginFailureRepository, SessionRepository, UserRepository
from libdib.domain.users import UsernameTaken

users: Table = UserRow.__table__  # type: ignore[assignment]
sessions: Table = SessionRow.__table__  # type: ignore[assignment]
spent: Table = SpentRefreshTokenRow.__table__  # type: ignore[assignment]
revoked: Table = RevokedTokenRow.__table__  # type: ignore[assignment]
failures: Table = LoginFailureRow.__table__  # type: ignore[assignment]
locks: Table = LockRow.__table__  # type: ignore[assignment]
ADMINS_LOCK = "admins"
"""The lock name of the set of admins (throttle keys are hex digests, so never this)."""
SESSION_COLUMNS = (sessions.c.sid, sessions.c.user_id, sessions.c.created_at, sessions.c.expires_at)
USER_COLUMNS = (users.c.id, users.c.username, users.c.password_hash, users.c.is_admin, users.c.created_at)

ACTIVE_USER = (
    select(*USER_COLUMNS)
    .join(sessions, and_(sessions.c.user_id == users.c.id, sessions.c.sid == bindparam("sid")))
    .where(
        users.c.id == bindparam("user_id"),
        sessions.c.revoked.is_(False),
        ~exists().where(revoked.c.jti == bindparam("jti")),
    )
)
"""The token check: one statement for the user, their session and the token's revocation."""
ADD_USER = insert(users).returning(*USER_COLUMNS)
USER_BY_ID = select(*USER_COLUMNS).where(users.c.id == bindparam("user_id"))
USER_BY_NAME = select(*USER_COLUMNS).where(func.lower(users.c.username) == bindparam("lowered"))
ALL_USERS = select(*USER_COLUMNS).order_by(users.c.id)
SET_USER = update(users).where(users.c.id == bindparam("user_id"))
"""Given the columns to set as parameters of the call."""
DELETE_USER = delete(users).where(users.c.id == bindparam("user_id"))
ADMIN_IDS = select(users.c.id).where(users.c.is_admin.is_(True)).order_by(users.c.id)

START_SESSION = insert(sessions)
SESSION_BY_SID = select(*SESSION_COLUMNS).where(sessions.c.sid == bindparam("sid"))
SET_SESSION = update(sessions).where(sessions.c.sid == bindparam("of_sid"))
"""Given the columns to set as parameters of the call (so the key's name is not a column's)."""
LIVE_SESSIONS = update(sessions).where(sessions.c.user_id == bindparam("of_user_id"), sessions.c.revoked.is_(False))
REVOKE_LIVE_SESSIONS = LIVE_SESSIONS.values(revoked=True)
REVOKE_LIVE_SESSIONS_BUT = LIVE_SESSIONS.where(sessions.c.sid != bindparam("keep_sid")).values(revoked=True)
EXPIRED = [delete(table).where(table.c.expires_at < bindparam("now")) for table in (sessions, spent, revoked)]

RECORD_FAILURES = insert(failures).returning(failures.c.key, failures.c.id)
FORGET_FAILURE = delete(failures).where(failures.c.id == bindparam("failure_id"))
CLEAR_FAILURES = delete(failures).where(failures.c.key == bindparam("key"))
FAILURES_SINCE = (
    select(failures.c.key, func.count(), func.min(failures.c.at))
    .where(failures.c.key.in_(bindparam("keys", expanding=True)), failures.c.at > bindparam("since"))
    .group_by(failures.c.key)
)
OLD_FAILURES = delete(failures).where(failures.c.at < bindparam("before"))
UNNEEDED_LOCKS = delete(locks).where(~exists().where(failures.c.key == locks.c.name))


def _per_dialect(build: Callable[[Callable[[Table], Any]], Any]) -> dict[str, Executable]:
    """A statement built with each dialect's ``insert`` (its ``ON CONFLICT`` clauses), by dialect name."""
    return {dialect.__name__.rsplit(".", 1)[-1]: build(dialect.insert) for dialect in (postgresql, sqlite)}


def _lock_statement(dialect_insert: Callable[[Table], Any]) -> Any:
    statement = dialect_insert(locks).values(name=bindparam("name"))
    return statement.on_conflict_do_update(index_elements=[locks.c.name], set_={"name": statement.excluded.name})


def _spend_statement(dialect_insert: Callable[[Table], Any]) -> Any:
    sid = bindparam("spent_sid", type_=spent.c.sid.type)
    row = select(
        bindparam("spent_jti", type_=spent.c.jti.type),
        sid,
        bindparam("spent_expires_at", type_=spent.c.expires_at.type),
    ).where(exists().where(sessions.c.sid == sid))
    return (
        dialect_insert(spent)
        .from_select(["jti", "sid", "expires_at"], row)
        .on_conflict_do_nothing(index_elements=[spent.c.jti])
        .returning(spent.c.jti)
    )


def _revoke_statement(dialect_insert: Callable[[Table], Any]) -> Any:
    return dialect_insert(revoked).on_conflict_do_nothing(index_elements=[revoked.c.jti]).returning(revoked.c.jti)


LOCK = _per_dialect(_lock_statement)
"""An upsert rather than ``SELECT ... FOR UPDATE``: it needs no row to exist, and on SQLite only a write makes a
transaction wait for another one's commit instead of reading beside it."""
SPEND_REFRESH = _per_dialect(_spend_statement)
REVOKE_TOKEN = _per_dialect(_revoke_statement)


def _user(row: Sequence[Any]) -> User:
    """A user from a row of ``USER_COLUMNS``."""
    return User(*row)


def _dialect_of(connection: AsyncConnection, statements: dict[str, Executable]) -> Executable:
    """The statement of ``statements`` for the connection's dialect."""
    return statements[connection.dialect.name]


async def _lock(connection: AsyncConnection, names: Sequence[str]) -> None:
    """Upsert the lock rows of ``names``, in sorted order, in one statement.

    PostgreSQL keeps the rows locked, and SQLite the database, until the unit ends.
    """
    await connection.execute(_dialect_of(connection, LOCK), [{"name": name} for name in sorted(names)])


async def _count(connection: AsyncConnection, statement: Executable, parameters: dict[str, Any]) -> int:
    result: CursorResult[Any] = await connection.execute(statement, parameters)
    return max(result.rowcount, 0)


class SqlUserRepository(UserRepository):
    """Users in the ``users`` table; names unique by ``lower(username)``."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, user: NewUser) -> User:
        """Insert a user; raises ``UsernameTaken`` on the case-insensitive unique index."""
        columns = {
            "username": user.username,
            "password_hash": user.password_hash,
            "is_admin": user.is_admin,
            "created_at": user.created_at,
        }
        try:
            row = (await self._connection.execute(ADD_USER, columns)).one()
        except IntegrityError as error:
            if violated(error) is Violation.UNIQUE:
                raise UsernameTaken(user.username) from None
            raise
        return _user(row)

    async def get(self, user_id: int) -> User | None:
        """The user with this id, if any."""
        row = (await self._connection.execute(USER_BY_ID, {"user_id": user_id})).one_or_none()
        return None if row is None else _user(row)

    async def get_by_username(self, username: str) -> User | None:
        """The user with this name in any letter case (uses the ``lower(username)`` index)."""
        row = (await self._connection.execute(USER_BY_NAME, {"lowered": username.lower()})).one_or_none()
        return None if row is None else _user(row)

    async def all(self) -> list[User]:
        """Every user, by id."""
        return [_user(row) for row in await self._connection.execute(ALL_USERS)]

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace a user's password hash."""
        await self._connection.execute(SET_USER, {"user_id": user_id, "password_hash": password_hash})

    async def set_admin(self, user_id: int, is_admin: bool) -> None:
        """Grant or withdraw the admin role."""
        await self._connection.execute(SET_USER, {"user_id": user_id, "is_admin": is_admin})

    async def delete(self, user_id: int) -> bool:
        """Delete a user (the foreign keys cascade to their sessions and spent tokens)."""
        return bool(await _count(self._connection, DELETE_USER, {"user_id": user_id}))

    async def lock_admins(self) -> list[int]:
        """Lock the set of admins (the ``admins`` lock row), then read their ids."""
        await _lock(self._connection, [ADMINS_LOCK])
        return list((await self._connection.execute(ADMIN_IDS)).scalars())


class SqlSessionRepository(SessionRepository):
    """Sessions in ``auth_sessions``, with ``spent_refresh_tokens`` and ``revoked_tokens``."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def start(self, session: AuthSession) -> None:
        """Insert a new session; ``NotFound`` when the user was deleted meanwhile (the foreign key refuses it)."""
        columns = {
            "sid": session.sid,
            "user_id": session.user_id,
            "created_at": session.created_at,
            "expires_at": session.expires_at,
            "revoked": False,
        }
        try:
            await self._connection.execute(START_SESSION, columns)
        except IntegrityError as error:
            if violated(error) is Violation.FOREIGN_KEY:
                raise NotFound(f"there is no user with id {session.user_id}") from None
            raise

    async def spend_refresh(self, jti: str, sid: str, expires_at: datetime) -> bool:
        """Insert the spent token if it is new and its session exists, atomically; False otherwise.

        Two concurrent refreshes with one token both reach the primary key: the second waits for the first
        to commit, then inserts nothing, so exactly one of them wins.
        """
        statement = _dialect_of(self._connection, SPEND_REFRESH)
        parameters = {"spent_jti": jti, "spent_sid": sid, "spent_expires_at": expires_at}
        return (await self._connection.execute(statement, parameters)).first() is not None

    async def extend(self, sid: str, expires_at: datetime) -> None:
        """Move a session's expiry."""
        await self._connection.execute(SET_SESSION, {"of_sid": sid, "expires_at": expires_at})

    async def revoke_session(self, sid: str) -> None:
        """Mark a session revoked (it stays until it expires, so its tokens keep being refused)."""
        await self._connection.execute(SET_SESSION, {"of_sid": sid, "revoked": True})

    async def revoke_token(self, jti: str, expires_at: datetime) -> bool:
        """Record one revoked token; False when it was recorded before."""
        statement = _dialect_of(self._connection, REVOKE_TOKEN)
        return (await self._connection.execute(statement, {"jti": jti, "expires_at": expires_at})).first() is not None

    async def revoke_other_sessions(self, user_id: int, keep_sid: str | None) -> int:
        """Mark the user's live sessions but ``keep_sid`` revoked."""
        if keep_sid is None:
            return await _count(self._connection, REVOKE_LIVE_SESSIONS, {"of_user_id": user_id})
        return await _count(self._connection, REVOKE_LIVE_SESSIONS_BUT, {"of_user_id": user_id, "keep_sid": keep_sid})

    async def get(self, sid: str) -> AuthSession | None:
        """The stored session with this id, if any."""
        row = (await self._connection.execute(SESSION_BY_SID, {"sid": sid})).one_or_none()
        return None if row is None else AuthSession(*row)

    async def active_user(self, claims: Claims) -> User | None:
        """One SELECT: the user, joined to a live session of theirs, when the token is not revoked."""
        parameters = {"user_id": claims.user_id, "sid": claims.sid, "jti": claims.jti}
        row = (await self._connection.execute(ACTIVE_USER, parameters)).first()
        return None if row is None else _user(row)

    async def purge_expired(self, now: datetime) -> int:
        """Delete expired sessions (cascading to their spent tokens), spent and revoked tokens."""
        purged = 0
        for statement in EXPIRED:
            purged += await _count(self._connection, statement, {"now": now})
        return purged


class SqlLoginFailureRepository(LoginFailureRepository):
    """Failed logins in ``login_failures``, indexed by (key, at)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def lock(self, keys: Sequence[str]) -> None:
        """Hold the lock rows of ``keys`` until the unit ends."""
        await _lock(self._connection, keys)

    async def record(self, keys: Sequence[str], at: datetime) -> list[int]:
        """Insert one failure per key, in one statement; their ids, in the order of ``keys`` (keys differ)."""
        rows = await self._connection.execute(RECORD_FAILURES, [{"key": key, "at": at} for key in keys])
        ids = {key: int(failure_id) for key, failure_id in rows}
        return [ids[key] for key in keys]

    async def forget(self, failure_id: int) -> None:
        """Delete one failure."""
        await self._connection.execute(FORGET_FAILURE, {"failure_id": failure_id})

    async def since(self, keys: Sequence[str], since: datetime) -> dict[str, tuple[int, datetime | None]]:
        """Count the failures of each key after ``since`` and find the oldest, in one query."""
        counted: dict[str, tuple[int, datetime | None]] = dict.fromkeys(keys, (0, None))
        parameters = {"keys": list(keys), "since": since}
        for key, count, oldest in await self._connection.execute(FAILURES_SINCE, parameters):
            counted[key] = (int(count), oldest)
        return counted

    async def clear(self, key: str) -> None:
        """Delete the failures of ``key``."""
        await self._connection.execute(CLEAR_FAILURES, {"key": key})

    async def purge_before(self, before: datetime) -> int:
        """Delete failures older than ``before``, and the lock rows no failure needs any more (uncounted)."""
        purged = await _count(self._connection, OLD_FAILURES, {"before": before})
        await self._connection.execute(UNNEEDED_LOCKS)
        return purged
