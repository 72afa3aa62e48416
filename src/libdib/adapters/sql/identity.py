"""Users, sessions and login failures in SQL, with Core statements (no ORM identity map on the hot path)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CursorResult,
    Delete,
    Insert,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
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


def _user(row: Sequence[Any]) -> User:
    """A user from a row of ``USER_COLUMNS``."""
    return User(*row)


def _insert_or_ignore(connection: AsyncConnection, table: Table) -> Any:
    """An ``INSERT ... ON CONFLICT DO NOTHING`` for the connection's dialect (both support it)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


async def _lock(connection: AsyncConnection, name: str) -> None:
    """Upsert the lock row of ``name``: PostgreSQL keeps the row locked, and SQLite the database, until the unit ends.

    An upsert rather than ``SELECT ... FOR UPDATE``: it needs no row to exist, and on SQLite only a write makes a
    transaction wait for another one's commit instead of reading beside it.
    """
    statement = _insert_or_ignore(connection, locks).values(name=name)
    await connection.execute(
        statement.on_conflict_do_update(index_elements=[locks.c.name], set_={"name": statement.excluded.name}),
    )


async def _count(connection: AsyncConnection, statement: Delete | Insert | Update) -> int:
    result: CursorResult[Any] = await connection.execute(statement)
    return max(result.rowcount, 0)


class SqlUserRepository(UserRepository):
    """Users in the ``users`` table; names unique by ``lower(username)``."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, user: NewUser) -> User:
        """Insert a user; raises ``UsernameTaken`` on the case-insensitive unique index."""
        statement = (
            insert(users)
            .values(
                username=user.username,
                password_hash=user.password_hash,
                is_admin=user.is_admin,
                created_at=user.created_at,
            )
            .returning(*USER_COLUMNS)
        )
        try:
            row = (await self._connection.execute(statement)).one()
        except IntegrityError as error:
            if violated(error) is Violation.UNIQUE:
                raise UsernameTaken(user.username) from None
            raise
        return _user(row)

    async def get(self, user_id: int) -> User | None:
        """The user with this id, if any."""
        row = (await self._connection.execute(select(*USER_COLUMNS).where(users.c.id == user_id))).one_or_none()
        return None if row is None else _user(row)

    async def get_by_username(self, username: str) -> User | None:
        """The user with this name in any letter case (uses the ``lower(username)`` index)."""
        statement = select(*USER_COLUMNS).where(func.lower(users.c.username) == username.lower())
        row = (await self._connection.execute(statement)).one_or_none()
        return None if row is None else _user(row)

    async def all(self) -> list[User]:
        """Every user, by id."""
        statement = select(*USER_COLUMNS).order_by(users.c.id)
        return [_user(row) for row in await self._connection.execute(statement)]

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace a user's password hash."""
        await self._connection.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))

    async def set_admin(self, user_id: int, is_admin: bool) -> None:
        """Grant or withdraw the admin role."""
        await self._connection.execute(update(users).where(users.c.id == user_id).values(is_admin=is_admin))

    async def delete(self, user_id: int) -> bool:
        """Delete a user (the foreign keys cascade to their sessions and spent tokens)."""
        return bool(await _count(self._connection, delete(users).where(users.c.id == user_id)))

    async def lock_admins(self) -> list[int]:
        """Lock the set of admins (the ``admins`` lock row), then read their ids."""
        await _lock(self._connection, ADMINS_LOCK)
        statement = select(users.c.id).where(users.c.is_admin.is_(True)).order_by(users.c.id)
        return list((await self._connection.execute(statement)).scalars())


class SqlSessionRepository(SessionRepository):
    """Sessions in ``auth_sessions``, with ``spent_refresh_tokens`` and ``revoked_tokens``."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def start(self, session: AuthSession) -> None:
        """Insert a new session; ``NotFound`` when the user was deleted meanwhile (the foreign key refuses it)."""
        statement = insert(sessions).values(
            sid=session.sid,
            user_id=session.user_id,
            created_at=session.created_at,
            expires_at=session.expires_at,
            revoked=False,
        )
        try:
            await self._connection.execute(statement)
        except IntegrityError as error:
            if violated(error) is Violation.FOREIGN_KEY:
                raise NotFound(f"there is no user with id {session.user_id}") from None
            raise

    async def spend_refresh(self, jti: str, sid: str, expires_at: datetime) -> bool:
        """Insert the spent token if it is new and its session exists, atomically; False otherwise.

        Two concurrent refreshes with one token both reach the primary key: the second waits for the first
        to commit, then inserts nothing, so exactly one of them wins.
        """
        row = select(literal(jti), literal(sid), literal(expires_at, spent.c.expires_at.type)).where(
            exists().where(sessions.c.sid == sid),
        )
        statement = (
            _insert_or_ignore(self._connection, spent)
            .from_select(["jti", "sid", "expires_at"], row)
            .on_conflict_do_nothing(index_elements=[spent.c.jti])
            .returning(spent.c.jti)
        )
        return (await self._connection.execute(statement)).first() is not None

    async def extend(self, sid: str, expires_at: datetime) -> None:
        """Move a session's expiry."""
        await self._connection.execute(update(sessions).where(sessions.c.sid == sid).values(expires_at=expires_at))

    async def revoke_session(self, sid: str) -> None:
        """Mark a session revoked (it stays until it expires, so its tokens keep being refused)."""
        await self._connection.execute(update(sessions).where(sessions.c.sid == sid).values(revoked=True))

    async def revoke_token(self, jti: str, expires_at: datetime) -> bool:
        """Record one revoked token; False when it was recorded before."""
        statement = (
            _insert_or_ignore(self._connection, revoked)
            .values(jti=jti, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=[revoked.c.jti])
            .returning(revoked.c.jti)
        )
        return (await self._connection.execute(statement)).first() is not None

    async def revoke_other_sessions(self, user_id: int, keep_sid: str | None) -> int:
        """Mark the user's live sessions but ``keep_sid`` revoked."""
        statement = update(sessions).where(sessions.c.user_id == user_id, sessions.c.revoked.is_(False))
        if keep_sid is not None:
            statement = statement.where(sessions.c.sid != keep_sid)
        return await _count(self._connection, statement.values(revoked=True))

    async def get(self, sid: str) -> AuthSession | None:
        """The stored session with this id, if any."""
        statement = select(*SESSION_COLUMNS).where(sessions.c.sid == sid)
        row = (await self._connection.execute(statement)).one_or_none()
        return None if row is None else AuthSession(*row)

    async def active_user(self, claims: Claims) -> User | None:
        """One SELECT: the user, joined to a live session of theirs, when the token is not revoked."""
        parameters = {"user_id": claims.user_id, "sid": claims.sid, "jti": claims.jti}
        row = (await self._connection.execute(ACTIVE_USER, parameters)).first()
        return None if row is None else _user(row)

    async def purge_expired(self, now: datetime) -> int:
        """Delete expired sessions (cascading to their spent tokens), spent and revoked tokens."""
        purged = 0
        for table in (sessions, spent, revoked):
            purged += await _count(self._connection, delete(table).where(table.c.expires_at < now))
        return purged


class SqlLoginFailureRepository(LoginFailureRepository):
    """Failed logins in ``login_failures``, indexed by (key, at)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def lock(self, key: str) -> None:
        """Hold the lock row of ``key`` until the unit ends."""
        await _lock(self._connection, key)

    async def record(self, key: str, at: datetime) -> int:
        """Insert one failure; returns its id."""
        statement = insert(failures).values(key=key, at=at).returning(failures.c.id)
        return int((await self._connection.execute(statement)).scalar_one())

    async def forget(self, failure_id: int) -> None:
        """Delete one failure."""
        await self._connection.execute(delete(failures).where(failures.c.id == failure_id))

    async def since(self, key: str, since: datetime) -> tuple[int, datetime | None]:
        """Count the failures of ``key`` after ``since`` and find the oldest, in one query."""
        statement = select(func.count(), func.min(failures.c.at)).where(failures.c.key == key, failures.c.at > since)
        count, oldest = (await self._connection.execute(statement)).one()
        return int(count), oldest

    async def clear(self, key: str) -> None:
        """Delete the failures of ``key``."""
        await self._connection.execute(delete(failures).where(failures.c.key == key))

    async def purge_before(self, before: datetime) -> int:
        """Delete failures older than ``before``, and the lock rows no failure needs any more (uncounted)."""
        purged = await _count(self._connection, delete(failures).where(failures.c.at < before))
        await self._connection.execute(delete(locks).where(~exists().where(failures.c.key == locks.c.name)))
        return purged
