"""The memo of honoured tokens: what a worker may skip asking the store, and why a revocation still holds.

The first tests drive ``HonouredTokenMemo`` with a hand-moved clock; the last ones run two "workers" (two
``TokenService``s with their own memos and epoch readers) over one memory store, as ``libdib serve`` runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from libdib.adapters.memory.store import InMemoryStore
from libdib.adapters.passwords import ZxcvbnPasswordStrength
from libdib.bootstrap import sync_memo_periodically
from libdib.domain.errors import StoreUnavailable
from libdib.domain.token_memo import HonouredTokenMemo
from libdib.domain.tokens import InvalidToken, TokenService
from libdib.domain.users import NewUser, User, UserService
from tests.fakes import FastHasher, FixedClock
from tests.unit.test_tokens import ACCESS_TTL, CLIENT, PASSWORD, REFRESH_TTL, PlainCodec, claims_of

pytestmark = pytest.mark.anyio

LEASE = 1.0
ADA = User(1, "ada", "$hash$", is_admin=False, created_at=datetime(2026, 11, 24, tzinfo=UTC))


class HandClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
def memo(clock: HandClock) -> HonouredTokenMemo:
    return HonouredTokenMemo(lease=LEASE, capacity=3, monotonic=clock)


def test_nothing_is_trusted_before_the_epoch_was_read(memo: HonouredTokenMemo) -> None:
    memo.remember("jti", ADA, memo.ticket())

    assert memo.recall("jti", ADA.id) is None


def test_a_token_is_recalled_only_while_the_lease_from_the_last_read_holds(
    memo: HonouredTokenMemo, clock: HandClock
) -> None:
    memo.synced(epoch=7, sent_at=clock.now)
    memo.remember("jti", ADA, memo.ticket())

    clock.now += LEASE - 0.01
    assert memo.recall("jti", ADA.id) == ADA
    clock.now += 0.01
    assert memo.recall("jti", ADA.id) is None
    memo.synced(epoch=7, sent_at=clock.now)  # the epoch has not moved: what was remembered still holds
    assert memo.recall("jti", ADA.id) == ADA


def test_the_lease_runs_from_when_the_read_was_sent_not_answered(memo: HonouredTokenMemo, clock: HandClock) -> None:
    sent_at = clock.now
    memo.synced(epoch=7, sent_at=sent_at)
    memo.remember("jti", ADA, memo.ticket())
    clock.now += LEASE  # a read that took a whole lease to come back
    memo.synced(epoch=7, sent_at=sent_at)

    assert memo.recall("jti", ADA.id) is None


def test_a_moved_epoch_forgets_every_token(memo: HonouredTokenMemo, clock: HandClock) -> None:
    memo.synced(epoch=7, sent_at=clock.now)
    memo.remember("jti", ADA, memo.ticket())

    memo.synced(epoch=8, sent_at=clock.now)

    assert memo.recall("jti", ADA.id) is None


def test_an_answer_asked_for_before_the_epoch_moved_is_not_kept(memo: HonouredTokenMemo, clock: HandClock) -> None:
    memo.synced(epoch=7, sent_at=clock.now)
    ticket = memo.ticket()  # the check leaves for the store...
    memo.synced(epoch=8, sent_at=clock.now)  # ...a revocation is seen before its answer is back

    memo.remember("jti", ADA, ticket)

    assert memo.recall("jti", ADA.id) is None


def test_a_token_is_recalled_only_for_the_user_it_was_remembered_for(memo: HonouredTokenMemo, clock: HandClock) -> None:
    memo.synced(epoch=7, sent_at=clock.now)
    memo.remember("jti", ADA, memo.ticket())

    assert memo.recall("jti", ADA.id + 1) is None


def test_past_its_capacity_the_memo_forgets_the_oldest_token(memo: HonouredTokenMemo, clock: HandClock) -> None:
    memo.synced(epoch=7, sent_at=clock.now)
    for jti in ("a", "b", "c", "d"):
        memo.remember(jti, ADA, memo.ticket())

    assert [memo.recall(jti, ADA.id) for jti in ("a", "b", "c", "d")] == [None, ADA, ADA, ADA]


async def test_a_failed_read_leaves_the_lease_to_run_out(memo: HonouredTokenMemo, clock: HandClock) -> None:
    memo.synced(epoch=7, sent_at=clock.now)
    memo.remember("jti", ADA, memo.ticket())

    async def unreachable() -> int:
        raise StoreUnavailable()

    clock.now += LEASE / 2
    with pytest.raises(StoreUnavailable):
        await memo.sync(unreachable)
    assert memo.recall("jti", ADA.id) == ADA
    clock.now += LEASE / 2
    assert memo.recall("jti", ADA.id) is None


async def test_settling_waits_one_lease_and_a_memo_without_lease_neither_waits_nor_remembers() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await HonouredTokenMemo(lease=0.05).settle()
    assert loop.time() - started >= 0.05

    off = HonouredTokenMemo(lease=0)
    started = loop.time()
    await off.settle()
    assert loop.time() - started < 0.05
    off.synced(epoch=1, sent_at=0)
    off.remember("jti", ADA, off.ticket())
    assert off.recall("jti", ADA.id) is None


# Two workers over one store, with the real clock and a short lease.

WORKER_LEASE = 0.2


class Worker:
    """One process's services: its own memo, kept current by the same loop ``libdib serve`` runs."""

    def __init__(self, store: InMemoryStore) -> None:
        memo, clock = HonouredTokenMemo(lease=WORKER_LEASE), FixedClock()
        self.tokens = TokenService(
            uow=store.unit_of_work,
            codec=PlainCodec(),
            hasher=FastHasher(),
            clock=clock,
            access_ttl=ACCESS_TTL,
            refresh_ttl=REFRESH_TTL,
            memo=memo,
        )
        strength = ZxcvbnPasswordStrength()
        self.users = UserService(uow=store.unit_of_work, hasher=FastHasher(), strength=strength, clock=clock, memo=memo)


@contextlib.asynccontextmanager
async def workers(store: InMemoryStore, count: int = 2) -> AsyncIterator[list[Worker]]:
    started = [Worker(store) for _ in range(count)]
    loops = [asyncio.create_task(sync_memo_periodically(worker.tokens)) for worker in started]
    # Each memo has read the epoch once, and the test runs between two reads (not in step with them).
    await asyncio.sleep(WORKER_LEASE / 8)
    try:
        yield started
    finally:
        for loop in loops:
            loop.cancel()


async def ada_logged_in(store: InMemoryStore, worker: Worker) -> tuple[str, str]:
    async with store.unit_of_work() as uow:
        password_hash = await FastHasher().hash(PASSWORD)
        await uow.users.add(NewUser("ada", password_hash, is_admin=False, created_at=ADA.created_at))
        await uow.commit()
    pair = await worker.tokens.login("ada", PASSWORD, CLIENT)
    return pair.access_token, pair.refresh_token


async def test_a_remembered_token_is_honoured_without_the_store_until_the_lease_lapses() -> None:
    store = InMemoryStore()
    async with workers(store, count=1) as (worker,):
        access, _ = await ada_logged_in(store, worker)
        await worker.tokens.authenticate(access)
        await worker.tokens.sync_memo()  # a fresh lease, however slow the machine is right now

        store.available = False  # the epoch reads fail from now on
        user, _ = await worker.tokens.authenticate(access)
        assert user.username == "ada"
        await asyncio.sleep(WORKER_LEASE)
        with pytest.raises(StoreUnavailable):
            await worker.tokens.authenticate(access)


@pytest.mark.parametrize("withdrawal", ["logout", "revoke", "replay", "delete-user"])
async def test_a_token_withdrawn_through_one_worker_is_refused_at_once_by_another_that_remembered_it(
    withdrawal: str,
) -> None:
    store = InMemoryStore()
    async with workers(store) as (first, second):
        access, refresh = await ada_logged_in(store, first)
        user, claims = await second.tokens.authenticate(access)  # the second worker now remembers the token

        if withdrawal == "logout":
            await first.tokens.logout(claims)
        elif withdrawal == "revoke":
            await first.tokens.revoke(access)
        elif withdrawal == "replay":
            await first.tokens.refresh(refresh)
            with pytest.raises(InvalidToken):
                await first.tokens.refresh(refresh)
        else:
            await first.users.delete(user, user.id)

        with pytest.raises(InvalidToken):
            await second.tokens.authenticate(access)
    assert claims == claims_of(access)
