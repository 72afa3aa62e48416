"""TokenService on the memory backend: logins, throttling, rotation, revocation and purging.

The codec here is a plain, unsigned one with no clock of its own, so these tests can move time freely and
test the domain's rules; signatures and expiry belong to the pyjwt adapter (tests/integration/test_jwt_codec.py).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from typing import Any

import pytest

from libdib.adapters.memory.store import InMemoryStore
from libdib.domain.errors import Throttled, Unauthenticated, Unavailable
from libdib.domain.identity import Claims, NewUser, TokenKind, TokenPair, User
from libdib.domain.ports import PasswordHasher, TokenCodec, UnitOfWork
from libdib.domain.throttle import ADDRESS_THROTTLE_LIMIT, THROTTLE_LIMIT
from libdib.domain.tokens import InvalidToken, TokenService
from tests.fakes import FastHasher, FixedClock, MemoryWorker

pytestmark = pytest.mark.anyio

PASSWORD = "quartz-lantern-migrates-slowly"
ACCESS_TTL, REFRESH_TTL = 1800, 3600
CLIENT = "10.0.0.1"


class PlainCodec(TokenCodec):
    """Claims as JSON: no signature and no clock, so only the domain decides what is valid."""

    def encode(self, claims: Claims) -> str:
        return json.dumps(asdict(claims))

    def decode(self, token: str, expected: TokenKind) -> Claims:
        try:
            claims = Claims(**json.loads(token))
        except (ValueError, TypeError):
            raise InvalidToken("token is malformed") from None
        if claims.typ != expected:
            raise InvalidToken(f"wrong token type: expected {expected}")
        return Claims(**{**asdict(claims), "typ": TokenKind(claims.typ)})


class CountingHasher(FastHasher):
    """FastHasher that counts verifications and can report a hash as outdated."""

    def __init__(self, upgrade_to: str | None = None) -> None:
        self.verifications = 0
        self.upgrade_to = upgrade_to

    async def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        self.verifications += 1
        matches, _ = await super().verify(password, password_hash)
        return matches, self.upgrade_to if matches else None

    async def dummy_verify(self) -> None:
        self.verifications += 1


@dataclass
class World:
    store: InMemoryStore
    clock: FixedClock
    hasher: CountingHasher
    tokens: TokenService

    def unit(self) -> UnitOfWork:
        return self.store.unit_of_work()

    async def add_user(self, username: str = "ada") -> User:
        async with self.unit() as uow:
            password_hash = await self.hasher.hash(PASSWORD)
            user = await uow.users.add(NewUser(username, password_hash, is_admin=False, created_at=self.clock.now()))
            await uow.commit()
        return user

    async def login(self, username: str = "ada", client: str = CLIENT) -> TokenPair:
        return await self.tokens.login(username, PASSWORD, client)

    async def fail(self, username: str = "ada", client: str = CLIENT, times: int = 1) -> None:
        for _ in range(times):
            with pytest.raises(Unauthenticated):
                await self.tokens.login(username, "not the password", client)


def token_service(store: InMemoryStore, clock: FixedClock, hasher: PasswordHasher, **options: Any) -> TokenService:
    """A token service over ``store`` with the plain codec; ``options`` as ``TokenService`` takes them."""
    return TokenService(
        uow=store.unit_of_work,
        codec=PlainCodec(),
        hasher=hasher,
        clock=clock,
        access_ttl=ACCESS_TTL,
        refresh_ttl=REFRESH_TTL,
        honoured=MemoryWorker(store).honoured,
        **options,
    )


def make_world(**options: Any) -> World:
    store, clock, hasher = InMemoryStore(), FixedClock(), CountingHasher()
    return World(store, clock, hasher, token_service(store, clock, hasher, **options))


@pytest.fixture
def world() -> World:
    return make_world()


def claims_of(token: str) -> Claims:
    return PlainCodec().decode(token, TokenKind(json.loads(token)["typ"]))


async def test_a_login_issues_a_pair_of_one_new_session(world: World) -> None:
    ada = await world.add_user()

    pair = await world.login()

    access, refresh = claims_of(pair.access_token), claims_of(pair.refresh_token)
    assert (access.typ, refresh.typ) == (TokenKind.ACCESS, TokenKind.REFRESH)
    assert access.sid == refresh.sid
    assert access.jti != refresh.jti
    assert access.user_id == ada.id
    assert access.exp - access.iat == ACCESS_TTL == pair.expires_in
    assert refresh.exp - refresh.iat == REFRESH_TTL == pair.refresh_expires_in
    user, claims = await world.tokens.authenticate(pair.access_token)
    assert (user, claims) == (ada, access)


async def test_wrong_passwords_and_unknown_users_fail_alike_and_cost_one_verification(world: World) -> None:
    await world.add_user()

    with pytest.raises(Unauthenticated) as wrong_password:
        await world.tokens.login("ada", "not the password", CLIENT)
    with pytest.raises(Unauthenticated) as unknown_user:
        await world.tokens.login("nobody", PASSWORD, CLIENT)

    assert type(wrong_password.value) is type(unknown_user.value)
    assert str(wrong_password.value) == str(unknown_user.value) == "invalid username or password"
    assert world.hasher.verifications == 2


async def test_the_eleventh_failure_in_fifteen_minutes_is_throttled_until_the_oldest_expires(world: World) -> None:
    await world.add_user()
    await world.fail()
    world.clock.advance(60)
    await world.fail(times=THROTTLE_LIMIT - 1)
    world.clock.advance(100)

    with pytest.raises(Throttled) as throttled:
        await world.login()

    # The oldest failure is 160 s old; it leaves the 900 s window in 740 s.
    assert throttled.value.retry_after == 740
    assert "try again in 740 seconds" in str(throttled.value)
    verifications = world.hasher.verifications
    world.clock.advance(740)
    await world.login()
    assert world.hasher.verifications == verifications + 1


async def test_the_throttle_counts_per_username_in_any_case_and_per_client(world: World) -> None:
    await world.add_user("ada")
    await world.add_user("bob")
    await world.fail("Ada", times=THROTTLE_LIMIT // 2)
    await world.fail("ADA", times=THROTTLE_LIMIT - THROTTLE_LIMIT // 2)

    with pytest.raises(Throttled):
        await world.login("ada")
    await world.login("ada", client="10.0.0.2")
    await world.login("bob")


async def test_unknown_usernames_are_throttled_too(world: World) -> None:
    await world.fail("nobody", times=THROTTLE_LIMIT)

    with pytest.raises(Throttled):
        await world.tokens.login("nobody", PASSWORD, CLIENT)


async def test_a_successful_login_clears_the_failures_of_its_key(world: World) -> None:
    await world.add_user()
    await world.fail(times=THROTTLE_LIMIT - 1)
    await world.login()

    await world.fail(times=THROTTLE_LIMIT - 1)

    await world.login()


async def test_a_login_stores_the_upgraded_hash_the_hasher_returns(world: World) -> None:
    ada = await world.add_user()
    world.hasher.upgrade_to = "$upgraded$"

    await world.login()

    async with world.unit() as uow:
        stored = await uow.users.get(ada.id)
    assert stored is not None
    assert stored.password_hash == "$upgraded$"


async def test_a_refresh_rotates_the_pair_within_the_same_session(world: World) -> None:
    await world.add_user()
    first = await world.login()

    second = await world.tokens.refresh(first.refresh_token)

    assert claims_of(second.refresh_token).sid == claims_of(first.refresh_token).sid
    assert second.refresh_token != first.refresh_token
    await world.tokens.authenticate(second.access_token)
    await world.tokens.authenticate(first.access_token)
    await world.tokens.refresh(second.refresh_token)


async def test_replaying_a_spent_refresh_token_ends_the_whole_session(world: World) -> None:
    await world.add_user()
    first = await world.login()
    second = await world.tokens.refresh(first.refresh_token)

    with pytest.raises(InvalidToken, match="already used"):
        await world.tokens.refresh(first.refresh_token)

    for token in (first.access_token, second.access_token):
        with pytest.raises(InvalidToken):
            await world.tokens.authenticate(token)
    with pytest.raises(InvalidToken):
        await world.tokens.refresh(second.refresh_token)


async def test_a_replay_does_not_end_the_users_other_sessions(world: World) -> None:
    await world.add_user()
    stolen, other = await world.login(), await world.login()
    await world.tokens.refresh(stolen.refresh_token)

    with pytest.raises(InvalidToken):
        await world.tokens.refresh(stolen.refresh_token)

    await world.tokens.authenticate(other.access_token)


async def test_each_kind_of_token_is_refused_where_the_other_is_expected(world: World) -> None:
    await world.add_user()
    pair = await world.login()

    with pytest.raises(InvalidToken, match="wrong token type"):
        await world.tokens.authenticate(pair.refresh_token)
    with pytest.raises(InvalidToken, match="wrong token type"):
        await world.tokens.refresh(pair.access_token)


async def test_logout_ends_only_that_session(world: World) -> None:
    await world.add_user()
    ended, other = await world.login(), await world.login()
    _, claims = await world.tokens.authenticate(ended.access_token)

    await world.tokens.logout(claims)

    with pytest.raises(InvalidToken):
        await world.tokens.authenticate(ended.access_token)
    with pytest.raises(InvalidToken):
        await world.tokens.refresh(ended.refresh_token)
    await world.tokens.authenticate(other.access_token)


async def test_revoking_an_access_token_revokes_exactly_that_token(world: World) -> None:
    await world.add_user()
    pair = await world.login()

    await world.tokens.revoke(pair.access_token)

    with pytest.raises(InvalidToken):
        await world.tokens.authenticate(pair.access_token)
    renewed = await world.tokens.refresh(pair.refresh_token)
    await world.tokens.authenticate(renewed.access_token)


async def test_revoking_a_refresh_token_keeps_the_access_token_working(world: World) -> None:
    await world.add_user()
    pair = await world.login()

    await world.tokens.revoke(pair.refresh_token)

    with pytest.raises(InvalidToken):
        await world.tokens.refresh(pair.refresh_token)
    await world.tokens.authenticate(pair.access_token)


async def test_revoking_garbage_is_refused(world: World) -> None:
    with pytest.raises(InvalidToken):
        await world.tokens.revoke("not a token")


async def test_a_token_of_a_deleted_user_is_refused(world: World) -> None:
    ada = await world.add_user()
    pair = await world.login()
    async with world.unit() as uow:
        await uow.users.delete(ada.id)
        await uow.commit()

    with pytest.raises(InvalidToken):
        await world.tokens.authenticate(pair.access_token)
    with pytest.raises(InvalidToken):
        await world.tokens.refresh(pair.refresh_token)


async def test_purging_removes_expired_rows_and_keeps_live_ones(world: World) -> None:
    await world.add_user()
    await world.fail(client="10.9.9.9", times=2)
    old = await world.login()
    await world.tokens.revoke(old.access_token)
    world.clock.advance(REFRESH_TTL - 600)
    live = await world.login()

    world.clock.advance(600 + 120)
    purged = await world.tokens.purge_expired()

    # The first session, its revoked access token and the two failures (counted by username and by address)
    # are gone; the second session stays.
    assert purged == 6
    await world.tokens.authenticate(live.access_token)
    with pytest.raises(InvalidToken):
        await world.tokens.refresh(old.refresh_token)
    assert await world.tokens.purge_expired() == 0


async def test_a_refresh_slides_the_session_expiry_forward(world: World) -> None:
    await world.add_user()
    pair = await world.login()
    world.clock.advance(REFRESH_TTL - 60)
    renewed = await world.tokens.refresh(pair.refresh_token)

    world.clock.advance(600)
    await world.tokens.purge_expired()

    await world.tokens.authenticate(renewed.access_token)
    await world.tokens.refresh(renewed.refresh_token)


async def test_failures_for_many_usernames_from_one_address_throttle_that_address(world: World) -> None:
    await world.add_user()
    for name in range(ADDRESS_THROTTLE_LIMIT):
        await world.fail(f"random-{name}")
    checks = world.hasher.verifications

    with pytest.raises(Throttled):
        await world.fail("random-new")
    with pytest.raises(Throttled):
        await world.login()

    assert world.hasher.verifications == checks
    await world.login(client="10.0.0.2")


class BusyHasher(CountingHasher):
    """A hasher that has no free slot: every check is turned away."""

    async def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:  # noqa: ARG002 - the port's
        raise Unavailable("password hashing is busy; try again in a few seconds")

    async def dummy_verify(self) -> None:
        raise Unavailable("password hashing is busy; try again in a few seconds")


async def test_a_guess_the_busy_hasher_turned_away_is_a_429_that_does_not_count(world: World) -> None:
    await world.add_user()
    await world.fail(times=THROTTLE_LIMIT - 1)
    busy = token_service(world.store, world.clock, BusyHasher())

    for _ in range(ADDRESS_THROTTLE_LIMIT):
        with pytest.raises(Throttled) as turned_away:
            await busy.login("ada", "not the password", CLIENT)
    assert turned_away.value.retry_after == 1

    # Neither the username's 9 failures nor the address's grew: both still take a guess.
    await world.fail()
    await world.fail("someone-else")


async def test_revoking_a_revoked_token_again_does_not_wait_for_the_workers(world: World) -> None:
    await world.add_user()
    pair = await world.login()
    await world.tokens.revoke(pair.access_token)
    epochs = await world.store.read_epochs()
    loop = asyncio.get_running_loop()

    started = loop.time()
    for _ in range(3):
        await world.tokens.revoke(pair.access_token)

    assert loop.time() - started < world.store.lease, "a repeat withdraws nothing, so nothing waits"
    assert await world.store.read_epochs() == epochs


async def test_a_session_ends_at_its_max_age_however_often_it_is_refreshed() -> None:
    world = make_world(session_max_age=2 * REFRESH_TTL)
    await world.add_user()
    pair = await world.login()
    for _ in range(3):
        world.clock.advance(REFRESH_TTL / 2)
        pair = await world.tokens.refresh(pair.refresh_token)
    # 1.5 refresh TTLs in: the session has half a TTL left, and its new tokens are cut to it.
    assert pair.refresh_expires_in == REFRESH_TTL // 2
    assert claims_of(pair.refresh_token).exp == claims_of(pair.refresh_token).iat + REFRESH_TTL // 2

    world.clock.advance(REFRESH_TTL / 2)

    with pytest.raises(InvalidToken, match="maximum age"):
        await world.tokens.refresh(pair.refresh_token)


async def test_a_max_age_shorter_than_the_token_lifetimes_cuts_the_first_pair() -> None:
    world = make_world(session_max_age=600)
    await world.add_user()

    pair = await world.login()

    assert (pair.expires_in, pair.refresh_expires_in) == (600, 600)
    access = claims_of(pair.access_token)
    assert access.exp - access.iat == 600


class HeldHasher(CountingHasher):
    """A hasher whose checks wait until the test releases them, so that they overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        await self.release.wait()
        return await super().verify(password, password_hash)


async def test_a_third_check_from_one_address_at_once_is_turned_away_and_other_addresses_are_not(
    world: World,
) -> None:
    await world.add_user()
    held = HeldHasher()
    tokens = token_service(world.store, world.clock, held)
    running = [asyncio.create_task(tokens.login("ada", PASSWORD, CLIENT)) for _ in range(2)]
    elsewhere = asyncio.create_task(tokens.login("ada", PASSWORD, "10.0.0.2"))
    await asyncio.sleep(0.01)

    with pytest.raises(Throttled) as turned_away:
        await tokens.login("ada", PASSWORD, CLIENT)

    held.release.set()
    await asyncio.gather(*running, elsewhere)
    assert turned_away.value.retry_after == 1
    await tokens.login("ada", PASSWORD, CLIENT)
