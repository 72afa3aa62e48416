"""In-memory users, sessions and login failures: the same behaviour as the SQL adapters, over dicts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from libdib.adapters.memory.state import MemoryState
from libdib.domain.errors import NotFound
from libdib.domain.identity import AuthSession, Claims, NewUser, User
from libdib.domain.ports import LoginFailureRepository, SessionRepository, UserRepository
from libdib.domain.users import UsernameTaken

USERS = "users"
SESSIONS = "auth_sessions"
SPENT = "spent_refresh_tokens"
REVOKED = "revoked_tokens"
FAILURES = "login_failures"
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _StoredSession:
    session: AuthSession
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class _SpentToken:
    sid: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class _Failure:
    key: str
    at: datetime


class InMemoryUserRepository(UserRepository):
    """Users by id; names are unique regardless of letter case."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self._users: dict[int, User] = state.table(USERS)

    async def add(self, user: NewUser) -> User:
        """Store a new user; raises ``UsernameTaken`` when the name exists in any letter case."""
        if await self.get_by_username(user.username) is not None:
            raise UsernameTaken(user.username)
        stored = User(self._state.next_id(USERS), user.username, user.password_hash, user.is_admin, user.created_at)
        self._users[stored.id] = stored
        return stored

    async def get(self, user_id: int) -> User | None:
        """The user with this id, if any."""
        return self._users.get(user_id)

    async def get_by_username(self, username: str) -> User | None:
        """The user with this name, compared regardless of letter case."""
        wanted = username.lower()
        return next((user for user in self._users.values() if user.username.lower() == wanted), None)

    async def all(self) -> list[User]:
        """Every user, by id."""
        return [self._users[user_id] for user_id in sorted(self._users)]

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace a user's password hash."""
        if user_id in self._users:
            self._users[user_id] = replace(self._users[user_id], password_hash=password_hash)

    async def set_admin(self, user_id: int, is_admin: bool) -> None:
        """Grant or withdraw the admin role."""
        if user_id in self._users:
            self._users[user_id] = replace(self._users[user_id], is_admin=is_admin)

    async def delete(self, user_id: int) -> bool:
        """Delete a user and, as the SQL foreign keys cascade, their sessions and spent tokens."""
        if self._users.pop(user_id, None) is None:
            return False
        sessions: dict[str, _StoredSession] = self._state.table(SESSIONS)
        ended = {sid for sid, stored in sessions.items() if stored.session.user_id == user_id}
        _delete_where(sessions, lambda sid, _: sid in ended)
        _delete_where(self._state.table(SPENT), lambda _, spent: spent.sid in ended)
        return True

    async def lock_admins(self) -> list[int]:
        """The ids of every admin (units run one at a time, so holding them needs nothing more)."""
        return sorted(user.id for user in self._users.values() if user.is_admin)


class InMemorySessionRepository(SessionRepository):
    """Sessions, spent refresh tokens and revoked tokens."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self._users: dict[int, User] = state.table(USERS)
        self._sessions: dict[str, _StoredSession] = state.table(SESSIONS)
        self._spent: dict[str, _SpentToken] = state.table(SPENT)
        self._revoked: dict[str, datetime] = state.table(REVOKED)

    async def start(self, session: AuthSession) -> None:
        """Record a new login session; ``NotFound`` when the user was deleted meanwhile."""
        if session.user_id not in self._users:
            raise NotFound(f"there is no user with id {session.user_id}")
        self._sessions[session.sid] = _StoredSession(session)

    async def spend_refresh(self, jti: str, sid: str, expires_at: datetime) -> bool:
        """Mark a refresh token spent; False when it was spent before or its session is gone."""
        if jti in self._spent or sid not in self._sessions:
            return False
        self._spent[jti] = _SpentToken(sid, expires_at)
        return True

    async def extend(self, sid: str, expires_at: datetime) -> None:
        """Move a session's expiry."""
        if sid in self._sessions:
            stored = self._sessions[sid]
            self._sessions[sid] = replace(stored, session=replace(stored.session, expires_at=expires_at))

    async def revoke_session(self, sid: str) -> None:
        """End a session."""
        if sid in self._sessions:
            self._sessions[sid] = replace(self._sessions[sid], revoked=True)

    async def revoke_token(self, jti: str, expires_at: datetime) -> bool:
        """Revoke one token until its expiry; False when it was revoked already."""
        if jti in self._revoked:
            return False
        self._revoked[jti] = expires_at
        return True

    async def revoke_other_sessions(self, user_id: int, keep_sid: str | None) -> int:
        """End the user's live sessions but ``keep_sid``."""
        ending = [
            sid
            for sid, stored in self._sessions.items()
            if stored.session.user_id == user_id and not stored.revoked and sid != keep_sid
        ]
        for sid in ending:
            self._sessions[sid] = replace(self._sessions[sid], revoked=True)
        return len(ending)

    async def get(self, sid: str) -> AuthSession | None:
        """The stored session with this id, if any."""
        stored = self._sessions.get(sid)
        return None if stored is None else stored.session

    async def active_user(self, claims: Claims) -> User | None:
        """The token's user when the user exists, its session is live and the token not revoked."""
        stored = self._sessions.get(claims.sid)
        if stored is None or stored.revoked or stored.session.user_id != claims.user_id or claims.jti in self._revoked:
            return None
        return self._users.get(claims.user_id)

    async def purge_expired(self, now: datetime) -> int:
        """Delete sessions (with their spent tokens), spent and revoked tokens that expired before ``now``."""
        expired = {sid for sid, stored in self._sessions.items() if stored.session.expires_at < now}
        purged = _delete_where(self._sessions, lambda sid, _: sid in expired)
        _delete_where(self._spent, lambda _, spent: spent.sid in expired)  # the cascade, uncounted as in SQL
        purged += _delete_where(self._spent, lambda _, spent: spent.expires_at < now)
        return purged + _delete_where(self._revoked, lambda _, expires_at: expires_at < now)


class InMemoryLoginFailureRepository(LoginFailureRepository):
    """Failed logins by throttle key."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self._failures: dict[int, _Failure] = state.table(FAILURES)

    async def lock(self, keys: Sequence[str]) -> None:
        """Nothing to do: units run one at a time."""

    async def record(self, keys: Sequence[str], at: datetime) -> list[int]:
        """Remember one failed attempt under each key; their ids, in the order of ``keys``."""
        ids = []
        for key in keys:
            failure_id = self._state.next_id(FAILURES)
            self._failures[failure_id] = _Failure(key, at)
            ids.append(failure_id)
        return ids

    async def forget(self, failure_id: int) -> None:
        """Delete one recorded attempt."""
        self._failures.pop(failure_id, None)

    async def since(self, keys: Sequence[str], since: datetime) -> dict[str, tuple[int, datetime | None]]:
        """For each key: how many of its failures came after ``since``, and the oldest of them."""
        times: dict[str, list[datetime]] = {key: [] for key in keys}
        for failure in self._failures.values():
            if failure.key in times and failure.at > since:
                times[failure.key].append(failure.at)
        return {key: (len(at), min(at, default=None)) for key, at in times.items()}

    async def clear(self, key: str) -> None:
        """Forget the failures of ``key``."""
        _delete_where(self._failures, lambda _, failure: failure.key == key)

    async def purge_before(self, before: datetime) -> int:
        """Delete failures older than ``before``."""
        return _delete_where(self._failures, lambda _, failure: failure.at < before)


def _delete_where(table: dict[K, V], doomed: Callable[[K, V], bool]) -> int:
    """Delete the rows for which ``doomed(key, value)`` holds; returns how many."""
    keys = [key for key, value in table.items() if doomed(key, value)]
    for key in keys:
        del table[key]
    return len(keys)
