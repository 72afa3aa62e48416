"""Tokens: kinds, claims, sessions and pairs, and the use cases of logging in and out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from libdib.domain.errors import NotFound, Unauthenticated, Unavailable
from libdib.domain.identity import USERNAME_PATTERN, AuthSession, Claims, TokenKind, TokenPair, User
from libdib.domain.ports import Clock, HonouredTokens, PasswordHasher, TokenCodec, UnitOfWorkFactory
from libdib.domain.throttle import THROTTLE_WINDOW, Attempt, ChecksByAddress, reserve, succeeded, turned_away


class InvalidToken(Unauthenticated):
    """The token is malformed, badly signed, expired, of the wrong kind or revoked."""


DEFAULT_SESSION_MAX_AGE = 86_400
"""Seconds a session may live after its login, however often it is refreshed."""
PURGE_GRACE = timedelta(minutes=1)
"""Revocation rows outlive their token's expiry by this much, since decoders accept a little clock skew."""
BAD_CREDENTIALS = "invalid username or password"


def expiry_of(claims: Claims) -> datetime:
    """When a token stops being valid, as a datetime."""
    return datetime.fromtimestamp(claims.exp, UTC)


class TokenService:
    """Logins, token rotation and revocation, and the per-request token check."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        codec: TokenCodec,
        hasher: PasswordHasher,
        clock: Clock,
        access_ttl: int,
        refresh_ttl: int,
        honoured: HonouredTokens,
        session_max_age: int = DEFAULT_SESSION_MAX_AGE,
    ) -> None:
        self._uow = uow
        self._honoured = honoured
        self._codec = codec
        self._hasher = hasher
        self._clock = clock
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl
        self._session_max_age = timedelta(seconds=session_max_age)
        self._checks = ChecksByAddress()

    async def login(self, username: str, password: str, client: str) -> TokenPair:
        """Start a session for a correct password; unknown users and wrong passwords look the same.

        The attempt is counted as a failure before the password is checked (see ``throttle``).
        """
        now = self._clock.now()
        async with self._uow() as uow:
            attempt = await reserve(uow, username, client, now)
            # A name that breaks the username rule cannot exist; it is not sent to the database at all.
            user = await uow.users.get_by_username(username) if USERNAME_PATTERN.fullmatch(username) else None
            await uow.commit()
        # Hash outside any unit: a connection (or the memory store's lock) is not held for the hash.
        verified, new_hash = await self._verify(attempt, password, user, client)
        if user is None or not verified:
            raise Unauthenticated(BAD_CREDENTIALS)
        session = AuthSession(uuid4().hex, user.id, now, self._expiry(now, now))
        async with self._uow() as uow:
            await succeeded(uow, attempt)
            if new_hash is not None:
                await uow.users.set_password_hash(user.id, new_hash)
            try:
                await uow.sessions.start(session)
            except NotFound:
                # The account was deleted while its password was being verified.
                raise Unauthenticated(BAD_CREDENTIALS) from None
            await uow.commit()
        return self._issue(user.id, session, now)

    async def _verify(self, attempt: Attempt, password: str, user: User | None, client: str) -> tuple[bool, str | None]:
        """Check the password (a dummy check for no user).

        ``Throttled`` when the check is turned away: the client has ``CHECKS_PER_ADDRESS`` running, or the hasher
        is busy.
        """
        if not self._checks.enter(client):
            raise await turned_away(self._uow, attempt)
        try:
            if user is None:
                await self._hasher.dummy_verify()
                return False, None
            return await self._hasher.verify(password, user.password_hash)
        except Unavailable:
            raise await turned_away(self._uow, attempt) from None
        finally:
            self._checks.leave(client)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Exchange a refresh token for a new pair; the token is spent, and a replay ends its session."""
        claims = self._codec.decode(refresh_token, TokenKind.REFRESH)
        now = self._clock.now()
        async with self._uow() as uow:
            if await uow.sessions.active_user(claims) is None:
                raise InvalidToken("the session has ended or the token was revoked; log in again")
            if not await uow.sessions.spend_refresh(claims.jti, claims.sid, expiry_of(claims)):
                await uow.sessions.revoke_session(claims.sid)
                await uow.commit()
                raise InvalidToken("this refresh token was already used; the session is ended, log in again")
            session = await uow.sessions.get(claims.sid)
            if session is None or now >= session.created_at + self._session_max_age:
                raise InvalidToken("the session reached its maximum age; log in again")
            session = replace(session, expires_at=self._expiry(session.created_at, now))
            await uow.sessions.extend(claims.sid, session.expires_at)
            await uow.commit()
        return self._issue(claims.user_id, session, now)

    async def authenticate(self, access_token: str) -> tuple[User, Claims]:
        """The user an access token speaks for, if the token is valid and still honoured."""
        claims = self._codec.decode(access_token, TokenKind.ACCESS)
        user = await self._honoured.user_of(claims)
        if user is None:
            raise InvalidToken("the token was revoked, its session ended or its user was deleted")
        return user, claims

    async def logout(self, claims: Claims) -> None:
        """End the session the token belongs to; the user's other sessions go on."""
        async with self._uow() as uow:
            await uow.sessions.revoke_session(claims.sid)
            await uow.commit()

    async def revoke(self, token: str) -> None:
        """Revoke exactly this token (access or refresh) until it would have expired."""
        try:
            claims = self._codec.decode(token, TokenKind.ACCESS)
        except InvalidToken as not_access:
            try:
                claims = self._codec.decode(token, TokenKind.REFRESH)
            except InvalidToken:
                raise not_access from None
        async with self._uow() as uow:
            await uow.sessions.revoke_token(claims.jti, expiry_of(claims))
            await uow.commit()

    async def purge_expired(self) -> int:
        """Delete expired sessions and token records, and failures older than the throttle window."""
        now = self._clock.now()
        async with self._uow() as uow:
            purged = await uow.sessions.purge_expired(now - PURGE_GRACE)
            purged += await uow.login_failures.purge_before(now - THROTTLE_WINDOW)
            await uow.commit()
        return purged

    def _expiry(self, created_at: datetime, now: datetime) -> datetime:
        """When a session started at ``created_at`` and renewed ``now`` ends: a refresh TTL on, within its max age."""
        return min(now + timedelta(seconds=self._refresh_ttl), created_at + self._session_max_age)

    def _issue(self, user_id: int, session: AuthSession, now: datetime) -> TokenPair:
        """A new pair of the session; neither token outlives the session (its ``expires_at``)."""
        iat = int(now.timestamp())
        ends = int(session.expires_at.timestamp())
        access, refresh = (
            Claims(str(user_id), kind, uuid4().hex, session.sid, iat, min(iat + ttl, ends))
            for kind, ttl in ((TokenKind.ACCESS, self._access_ttl), (TokenKind.REFRESH, self._refresh_ttl))
        )
        return TokenPair(self._codec.encode(access), self._codec.encode(refresh), access.exp - iat, refresh.exp - iat)
