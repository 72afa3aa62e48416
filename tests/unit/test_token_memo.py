"""The lease on the store's epochs and the views behind it: what a worker may skip asking the store, and why a
withdrawn token or a changed table is still seen by every worker once the writing request has answered.

The first tests drive ``EpochLease`` with a hand-moved clock; the later ones run two "workers" (two sets of
services with their own leases and views) over one memory store, as ``libdib serve`` runs them, with the real
clock and the store's real lease.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from libdib.adapters.lease import DATA, REVOCATION, EpochLease, moved
from libdib.adapters.memory.store import InMemoryStore
from libdib.adapters.offload import ThreadOffload
from libdib.adapters.passwords import ZxcvbnPasswordStrength
from libdib.adapters.views import HONOURED_CAPACITY, CachedCensusView, MemoizedHonouredTokens
from libdib.domain.datasets import DatasetService
from libdib.domain.errors import StoreUnavailable
from libdib.domain.identity import NewUser, User
from libdib.domain.ports import RecordFilter
from libdib.domain.tokens import InvalidToken, TokenService
from libdib.domain.users import UserService
from tests.fakes import FastHasher, FixedClock, MemoryWorker
from tests.unit.test_datasets import StubReader, StubSource, observation, table
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
def lease(clock: HandClock) -> EpochLease:
    return EpochLease(lease=LEASE, monotonic=clock)


def test_nothing_is_trusted_before_the_epochs_were_read(lease: EpochLease) -> None:
    assert not lease.trusted()


def test_the_lease_holds_only_until_a_lease_after_the_last_read_was_sent(lease: EpochLease, clock: HandClock) -> None:
    lease.synced({REVOCATION: 7, DATA: 1}, sent_at=clock.now)

    clock.now += LEASE - 0.01
    assert lease.trusted()
    clock.now += 0.01
    assert not lease.trusted()
    lease.synced({REVOCATION: 7, DATA: 1}, sent_at=clock.now)
    assert lease.trusted()


def test_the_lease_runs_from_when_the_read_was_sent_not_answered(lease: EpochLease, clock: HandClock) -> None:
    sent_at = clock.now
    clock.now += LEASE  # a read that took a whole lease to come back
    lease.synced({REVOCATION: 7, DATA: 1}, sent_at=sent_at)

    assert not lease.trusted()


def test_a_moved_epoch_tells_only_the_views_of_its_kind_and_spoils_their_tickets(
    lease: EpochLease, clock: HandClock
) -> None:
    forgotten: list[str] = []
    lease.on_move(REVOCATION, lambda: forgotten.append(REVOCATION))
    lease.on_move(DATA, lambda: forgotten.append(DATA))
    lease.synced({REVOCATION: 7, DATA: 1}, sent_at=clock.now)
    forgotten.clear()
    tokens, data = lease.ticket(REVOCATION), lease.ticket(DATA)  # two reads leave for the store...

    lease.synced({REVOCATION: 7, DATA: 2}, sent_at=clock.now)  # ...and the data changes before they are back

    assert forgotten == [DATA]
    assert lease.still(REVOCATION, tokens)
    assert not lease.still(DATA, data)


def test_epochs_read_in_a_committing_transaction_tell_whether_it_moved_one() -> None:
    assert moved({}, {REVOCATION: 7, DATA: 1}), "nothing read yet: a writer must assume it moved something"
    assert not moved({REVOCATION: 7, DATA: 1}, {REVOCATION: 7, DATA: 1})
    assert moved({REVOCATION: 7, DATA: 1}, {REVOCATION: 8, DATA: 1})


def test_a_read_sent_before_the_last_one_taken_in_neither_moves_the_epochs_back_nor_trusts_again(
    lease: EpochLease, clock: HandClock
) -> None:
    forgotten: list[str] = []
    lease.on_move(DATA, lambda: forgotten.append(DATA))
    lease.synced({REVOCATION: 7, DATA: 1}, sent_at=clock.now)
    slow_sent_at = clock.now + LEASE / 2  # the keeping loop's read leaves, and is slow to come back
    clock.now += LEASE  # the lease lapses; a request reads the epochs after another worker's change
    lease.synced({REVOCATION: 7, DATA: 2}, sent_at=clock.now)
    data = lease.ticket(DATA)

    lease.synced({REVOCATION: 7, DATA: 1}, sent_at=slow_sent_at)  # the slow read, from before the change

    assert lease.epochs == {REVOCATION: 7, DATA: 2}
    assert forgotten == [DATA, DATA]  # the first read, then the change; not the slow read's way back
    assert lease.still(DATA, data)


async def test_a_failed_read_leaves_the_lease_to_run_out(lease: EpochLease, clock: HandClock) -> None:
    lease.synced({REVOCATION: 7, DATA: 1}, sent_at=clock.now)

    async def unreachable() -> dict[str, int]:
        raise StoreUnavailable()

    clock.now += LEASE / 2
    with pytest.raises(StoreUnavailable):
        await lease.sync(unreachable)
    assert lease.trusted()
    clock.now += LEASE / 2
    assert not lease.trusted()


async def test_an_unexpected_failure_to_read_lapses_the_lease_and_the_loop_keeps_reading(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lease = EpochLease(lease=0.04)
    stop = asyncio.Event()
    answers: list[Exception | dict[str, int]] = [RuntimeError("permission denied for table epochs")] * 2
    answers.append({REVOCATION: 1, DATA: 1})

    async def read() -> dict[str, int]:
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    keeping = asyncio.create_task(lease.keep(read, stop))
    await asyncio.sleep(lease.sync_interval * 8)
    stop.set()
    await keeping

    assert lease.epochs == {REVOCATION: 1, DATA: 1}, "the loop went on reading after the failures"
    lapsed = [record for record in caplog.records if "lapsed" in record.getMessage()]
    assert len(lapsed) == 1, "one warning for the spell of failures, not one per read"
    assert lapsed[0].exc_info is not None
    assert "permission denied" in str(lapsed[0].exc_info[1])


async def test_settling_waits_one_lease() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await EpochLease(lease=0.05).settle()
    assert loop.time() - started >= 0.05


def test_a_lease_of_zero_is_refused_since_it_would_wait_for_nothing() -> None:
    with pytest.raises(ValueError, match="positive"):
        EpochLease(lease=0)


async def test_past_its_capacity_the_memo_forgets_the_least_recently_used_token() -> None:
    store = InMemoryStore()
    worker = Worker(store, capacity=2)
    await ada_logged_in(store, worker)
    tokens = [(await worker.tokens.login("ada", PASSWORD, CLIENT)).access_token for _ in range(3)]
    await worker.held.sync()
    for token in tokens:
        await worker.tokens.authenticate(token)

    store.available = False  # only what the memo holds can still be answered
    with pytest.raises(StoreUnavailable):
        await worker.tokens.authenticate(tokens[0])
    for token in tokens[1:]:
        assert (await worker.tokens.authenticate(token))[0].username == "ada"


# Two workers over one store, with the real clock and the store's own lease.


class Worker:
    """One process's services: its own lease and views, kept current by the loop ``libdib serve`` runs."""

    def __init__(self, store: InMemoryStore, capacity: int = HONOURED_CAPACITY) -> None:
        self.held = MemoryWorker(store)
        clock = FixedClock()
        self.tokens = TokenService(
            uow=store.unit_of_work,
            codec=PlainCodec(),
            hasher=FastHasher(),
            clock=clock,
            access_ttl=ACCESS_TTL,
            refresh_ttl=REFRESH_TTL,
            honoured=MemoizedHonouredTokens(store.unit_of_work, self.held.lease, capacity),
        )
        strength = ZxcvbnPasswordStrength()
        self.users = UserService(uow=store.unit_of_work, hasher=FastHasher(), strength=strength, clock=clock)
        reader = StubReader({"first.xlsx": table("asian"), "second.xlsx": table("asian", observation(2017))})
        self.datasets = DatasetService(
            uow=store.unit_of_work,
            view=self.held.census,
            reader=reader,
            source=StubSource(),
            clock=clock,
            offload=ThreadOffload(),
        )


@contextlib.asynccontextmanager
async def workers(store: InMemoryStore, count: int = 2) -> AsyncIterator[list[Worker]]:
    started = [Worker(store) for _ in range(count)]
    stop = asyncio.Event()
    loops = [asyncio.create_task(worker.held.lease.keep(store.read_epochs, stop)) for worker in started]
    # Each lease has read the epochs once, and the test runs between two reads (not in step with them).
    await asyncio.sleep(store.lease / 8)
    try:
        yield started
    finally:
        stop.set()
        await asyncio.gather(*loops)


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
        await worker.held.sync()  # a fresh lease, however slow the machine is right now

        store.available = False  # the epoch reads fail from now on
        user, _ = await worker.tokens.authenticate(access)
        assert user.username == "ada"
        await asyncio.sleep(store.lease)
        with pytest.raises(StoreUnavailable):
            await worker.tokens.authenticate(access)


@pytest.mark.parametrize("withdrawal", ["logout", "revoke", "replay", "delete-user", "role-change", "new-password"])
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
        elif withdrawal == "delete-user":
            await first.users.delete(user, user.id)
        else:
            # Writes no service makes yet, straight through the repositories: the store's own rules must see them.
            async with store.unit_of_work() as uow:
                if withdrawal == "role-change":
                    await uow.users.set_admin(user.id, is_admin=True)
                else:
                    await uow.users.set_password_hash(user.id, "$another$")
                await uow.commit()

        if withdrawal in {"role-change", "new-password"}:
            remembered, _ = await second.tokens.authenticate(access)
            assert remembered != user, "the second worker still answers with the user as it was"
        else:
            with pytest.raises(InvalidToken):
                await second.tokens.authenticate(access)
    assert claims == claims_of(access)


@pytest.mark.parametrize("change", ["load", "add", "delete-record", "delete-dataset"])
async def test_data_changed_through_one_worker_is_served_at_once_by_another_that_held_it(change: str) -> None:
    store = InMemoryStore()
    async with workers(store) as (first, second):
        await first.datasets.load(["first.xlsx"])
        before = await second.datasets.records(RecordFilter(), 10, 0)
        version = await second.datasets.data_version()
        assert await second.datasets.records(RecordFilter(), 10, 0) == before  # now held by the second worker

        if change == "load":
            await first.datasets.load(["second.xlsx"])
        elif change == "add":
            await first.datasets.add_record("asian", observation(2016))
        elif change == "delete-record":
            await first.datasets.delete_record(before.items[0].id)
        else:
            await first.datasets.delete_dataset(before.items[0].dataset_id)

        assert await second.datasets.records(RecordFilter(), 10, 0) != before
        assert await second.datasets.data_version() != version


async def test_a_version_read_from_the_store_is_never_paired_with_what_the_view_held_of_the_data_before() -> None:
    store, clock = InMemoryStore(), HandClock()
    lease = EpochLease(LEASE, monotonic=clock)
    view = CachedCensusView(store.unit_of_work, lease, store.read_epochs)
    loader = Worker(store)
    await loader.datasets.load(["first.xlsx"])
    before = await store.read_epochs()
    lease.synced(before, sent_at=clock.now)
    held = await view.datasets()  # kept by this worker
    slow_sent_at = clock.now + LEASE / 2  # the keeping loop's read leaves, and is slow to come back
    clock.now += LEASE  # the lease lapses
    await loader.datasets.load(["second.xlsx"])  # another worker changes the data

    version = await view.version()  # a request tags its answer: the lease lapsed, so the store is asked
    lease.synced(before, sent_at=slow_sent_at)  # the slow read comes back, from before the change

    assert version == str((await store.read_epochs())[DATA])
    assert await view.version() == version
    assert await view.datasets() != held, "the answer under the new version is the new data"
