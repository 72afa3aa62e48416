"""Users: who may sign in, the rules their names and passwords follow, and the use cases on accounts."""

from __future__ import annotations

from dataclasses import replace

from libdib.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated, Unavailable
from libdib.domain.identity import USERNAME_PATTERN, NewUser, User
from libdib.domain.ports import Clock, PasswordHasher, PasswordStrength, UnitOfWork, UnitOfWorkFactory
from libdib.domain.throttle import reserve, succeeded, turned_away

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
MIN_STRENGTH_SCORE = 3
"""zxcvbn scores run 0 to 4; 3 is "safely unguessable: moderate protection from offline attacks"."""


class UsernameTaken(Conflict):
    """Another user already has this name, in any letter case."""

    def __init__(self, username: str) -> None:
        super().__init__(f"username: {username!r} is taken (names are compared regardless of case); choose another")
        self.username = username


class LastAdmin(Conflict):
    """Deleting this account would leave no admin (no one could load data any more)."""

    def __init__(self) -> None:
        super().__init__("this is the last admin account; make another user an admin before deleting it")


class WrongPassword(Unauthenticated):
    """The current password given to change it is wrong."""

    def __init__(self) -> None:
        super().__init__("current_password: wrong password")


class InvalidUsername(InvalidInput):
    """The username breaks the naming rule."""


class WeakPassword(InvalidInput):
    """The password breaks the password policy; the message says how to fix it."""


def check_username(username: str) -> str:
    """Return ``username`` if it follows the rule, else raise ``InvalidUsername``."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise InvalidUsername(
            "username: use 3 to 50 characters, each a letter, a digit, '.', '_' or '-'",
        )
    return username


def check_password(username: str, password: str, strength: PasswordStrength) -> str:
    """Return ``password`` if it follows the policy, else raise ``WeakPassword`` saying what to do."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"password: use at least {MIN_PASSWORD_LENGTH} characters (you used {len(password)})")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"password: use at most {MAX_PASSWORD_LENGTH} characters (you used {len(password)})")
    if username and username.lower() in password.lower():
        raise WeakPassword("password: must not contain your username; choose one unrelated to it")
    score, advice = strength.estimate(password, [username])
    if score < MIN_STRENGTH_SCORE:
        hint = f" ({advice})" if advice else ""
        raise WeakPassword(f"password: too easy to guess — add another word or two; avoid common phrases{hint}")
    return password


class UserService:
    """Sign-up, lookup, deletion and the admin account."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        strength: PasswordStrength,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._strength = strength
        self._clock = clock

    async def sign_up(self, username: str, password: str, is_admin: bool = False) -> User:
        """Create an account; raises ``InvalidUsername``, ``WeakPassword`` or ``UsernameTaken``."""
        check_username(username)
        check_password(username, password, self._strength)
        password_hash = await self._hasher.hash(password)
        async with self._uow() as uow:
            user = await uow.users.add(NewUser(username, password_hash, is_admin, self._clock.now()))
            await uow.commit()
        return user

    async def get(self, user_id: int) -> User:
        """The user with this id; raises ``NotFound``."""
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
        if user is None:
            raise NotFound(f"there is no user with id {user_id}")
        return user

    async def delete(self, actor: User, user_id: int) -> None:
        """Delete an account and end all its sessions; only the user themself or an admin may."""
        if actor.id != user_id and not actor.is_admin:
            raise Forbidden("you may delete only your own account (or be an admin)")
        async with self._uow() as uow:
            await self._refuse_to_delete_the_last_admin(uow, user_id)
            if not await uow.users.delete(user_id):
                raise NotFound(f"there is no user with id {user_id}")
            await uow.commit()

    async def list_users(self) -> list[User]:
        """Every account, by id (for the operator's command line)."""
        async with self._uow(read_only=True) as uow:
            return await uow.users.all()

    async def remove(self, username: str) -> User:
        """Delete the account named ``username`` and end its sessions, as an operator; never the last admin."""
        async with self._uow() as uow:
            user = await uow.users.get_by_username(username)
            if user is None:
                raise NotFound(f"there is no user named {username!r}")
            await self._refuse_to_delete_the_last_admin(uow, user.id)
            await uow.users.delete(user.id)
            await uow.commit()
        return user

    async def reset_password(self, username: str, password: str) -> User:
        """Give ``username`` a new password, as an operator, and end every session of that user."""
        async with self._uow(read_only=True) as uow:
            user = await uow.users.get_by_username(username)
        if user is None:
            raise NotFound(f"there is no user named {username!r}")
        check_password(user.username, password, self._strength)
        password_hash = await self._hasher.hash(password)
        async with self._uow() as uow:
            await uow.users.set_password_hash(user.id, password_hash)
            await uow.sessions.revoke_other_sessions(user.id, keep_sid=None)
            await uow.commit()
        return user

    @staticmethod
    async def _refuse_to_delete_the_last_admin(uow: UnitOfWork, user_id: int) -> None:
        """Raise ``LastAdmin`` when ``user_id`` is the only admin; holds the admins locked until the unit ends."""
        target = await uow.users.get(user_id)
        if target is not None and target.is_admin and await uow.users.lock_admins() == [user_id]:
            raise LastAdmin()

    async def change_password(self, user: User, sid: str, current: str, new: str, client: str) -> None:
        """Set a new password and end every other session of the user; the session ``sid`` goes on.

        A wrong ``current`` is a failed login for the throttle (the attempt is counted before it is checked).
        The new password is hashed before the current one is checked, so a busy hasher answers alike either way
        (``Throttled``, as for a login).
        """
        check_password(user.username, new, self._strength)
        async with self._uow() as uow:
            attempt = await reserve(uow, user.username, client, self._clock.now())
            stored = await uow.users.get(user.id)
            await uow.commit()
        if stored is None:
            raise NotFound(f"there is no user with id {user.id}")
        try:
            new_hash = await self._hasher.hash(new)
            verified, _ = await self._hasher.verify(current, stored.password_hash)
        except Unavailable:
            raise await turned_away(self._uow, attempt) from None
        if not verified:
            raise WrongPassword()
        async with self._uow() as uow:
            await succeeded(uow, attempt)
            await uow.users.set_password_hash(user.id, new_hash)
            await uow.sessions.revoke_other_sessions(user.id, keep_sid=sid)
            await uow.commit()

    async def ensure_admin(self, username: str, password: str) -> User:
        """Make sure ``username`` exists, is an admin and has ``password``; running it again changes nothing."""
        check_username(username)
        check_password(username, password, self._strength)
        async with self._uow() as uow:
            existing = await uow.users.get_by_username(username)
        if existing is None:
            return await self.sign_up(username, password, is_admin=True)
        matches, _ = await self._hasher.verify(password, existing.password_hash)
        # Only rehash when the password changed, so a restart does not rewrite the row every time.
        new_hash = None if matches else await self._hasher.hash(password)
        async with self._uow() as uow:
            await uow.users.set_admin(existing.id, is_admin=True)
            if new_hash is not None:
                await uow.users.set_password_hash(existing.id, new_hash)
                # Whoever logged in with the old password is logged out: the operator changed it for a reason.
                await uow.sessions.revoke_other_sessions(existing.id, keep_sid=None)
            await uow.commit()
        return replace(existing, is_admin=True, password_hash=new_hash or existing.password_hash)
