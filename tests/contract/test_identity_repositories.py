"""Users, sessions and login failures behave alike on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from libdib.adapters.lease import DATA, REVOCATION, ReadEpochs
from libdib.domain.errors import NotFound
from libdib.domain.identity import AuthSession, Claims, NewUser, TokenKind, User
from libdib.domain.ports import UnitOfWork, UnitOfWorkFactory
from libdib.domain.users import UsernameTaken

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


async def add_user(uow_factory: UnitOfWorkFactory, username: str = "ada", is_admin: bool = False) -> User:
    async with uow_factory() as uow:
        user = await uow.users.add(NewUser(username, "$hash$", is_admin=is_admin, created_at=NOW))
        await uow.commit()
    return user


async def start_session(uow_factory: UnitOfWorkFactory, user: User, expires_at: datetime = NOW + HOUR) -> str:
    sid = uuid4().hex
    async with uow_factory() as uow:
        await uow.sessions.start(AuthSession(sid, user.id, NOW, expires_at))
        await uow.commit()
    return sid


def access(user: User, sid: str, jti: str | None = None) -> Claims:
    return Claims(str(user.id), TokenKind.ACCESS, jti or uuid4().hex, sid, 0, 0)


async def active(uow_factory: UnitOfWorkFactory, claims: Claims) -> User | None:
    async with uow_factory() as uow:
        return await uow.sessions.active_user(claims)


async def test_a_committed_user_is_seen_by_the_next_unit(uow_factory: UnitOfWorkFactory) -> None:
    ada = await add_user(uow_factory)

    async with uow_factory() as uow:
        assert await uow.users.get(ada.id) == ada
        assert await uow.users.get_by_username("ADA") == ada
    assert ada == User(ada.id, "ada", "$hash$", is_admin=False, created_at=NOW)


async def test_uncommitted_work_is_discarded(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.users.add(NewUser("ada", "$hash$", is_admin=False, created_at=NOW))

    async with uow_factory() as uow:
        assert await uow.users.get_by_username("ada") is None


async def test_a_duplicate_username_in_any_case_is_a_conflict(uow_factory: UnitOfWorkFactory) -> None:
    await add_user(uow_factory, "Ada")

    with pytest.raises(UsernameTaken, match="'ADA' is taken"):
        async with uow_factory() as uow:
            await uow.users.add(NewUser("ADA", "$other$", is_admin=False, created_at=NOW))

    async with uow_factory() as uow:
        assert await uow.users.get_by_username("ada") is not None


async def test_ids_are_distinct_and_missing_users_are_none(uow_factory: UnitOfWorkFactory) -> None:
    ada, bob = await add_user(uow_factory, "ada"), await add_user(uow_factory, "bob")

    assert ada.id != bob.id
    async with uow_factory() as uow:
        assert await uow.users.get(bob.id + 1000) is None
        assert await uow.users.get_by_username("carol") is None


async def test_every_user_is_listed_by_id(uow_factory: UnitOfWorkFactory) -> None:
    ada, bob = await add_user(uow_factory, "ada"), await add_user(uow_factory, "bob", is_admin=True)
    async with uow_factory() as uow:
        assert await uow.users.all() == [ada, bob]


async def test_password_hash_and_admin_role_changes_persist(uow_factory: UnitOfWorkFactory) -> None:
    ada = await add_user(uow_factory)

    async with uow_factory() as uow:
        await uow.users.set_password_hash(ada.id, "$argon2id$new")
        await uow.users.set_admin(ada.id, is_admin=True)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.get(ada.id) == User(ada.id, "ada", "$argon2id$new", is_admin=True, created_at=NOW)


async def test_deleting_a_user_ends_their_sessions(uow_factory: UnitOfWorkFactory) -> None:
    ada, bob = await add_user(uow_factory, "ada"), await add_user(uow_factory, "bob")
    ada_sid, bob_sid = await start_session(uow_factory, ada), await start_session(uow_factory, bob)
    async with uow_factory() as uow:
        assert await uow.sessions.spend_refresh(uuid4().hex, ada_sid, NOW + HOUR)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.delete(ada.id)
        assert not await uow.users.delete(ada.id)
        await uow.commit()

    assert await active(uow_factory, access(ada, ada_sid)) is None
    assert await active(uow_factory, access(bob, bob_sid)) == bob
    async with uow_factory() as uow:
        assert await uow.users.get(ada.id) is None
        assert not await uow.sessions.spend_refresh(uuid4().hex, ada_sid, NOW + HOUR)


async def test_a_live_session_with_an_unrevoked_token_yields_its_user(uow_factory: UnitOfWorkFactory) -> None:
    ada = await add_user(uow_factory)
    sid = await start_session(uow_factory, ada)

    assert await active(uow_factory, access(ada, sid)) == ada


async def test_a_session_counts_only_for_its_own_user(uow_factory: UnitOfWorkFactory) -> None:
    ada, bob = await add_user(uow_factory, "ada"), await add_user(uow_factory, "bob")
    ada_sid = await start_session(uow_factory, ada)

    assert await active(uow_factory, access(bob, ada_sid)) is None
    assert await active(uow_factory, access(ada, "no-such-session")) is None


async def test_a_revoked_session_refuses_every_token(uow_factory: UnitOfWorkFactory) -> None:
    ada = await add_user(uow_factory)
    ended, other = await start_session(uow_factory, ada), await start_session(uow_factory, ada)

    async with uow_factory() as uow:
        await uow.sessions.revoke_session(ended)
        await uow.commit()

    assert await active(uow_factory, access(ada, ended)) is None
    assert await active(uow_factory, access(ada, other)) == ada


async def test_a_revoked_token_is_refused_and_its_siblings_are_not(uow_factory: UnitOfWorkFactory) -> None:
    ada = await add_user(uow_factory)
    sid = await start_session(uow_factory, ada)
    revoked = access(ada, sid)

    for _ in range(2):  # revoking twice is harmless
        async with uow_factory() as uow:
            await uow.sessions.revoke_token(revoked.jti, NOW + HOUR)
            await uow.commit()

    assert await active(uow_factory, revoked) is None
    assert await active(uow_factory, access(ada, sid)) == ada


async def test_a_refresh_token_can_be_spent_once(uow_factory: UnitOfWorkFactory) -> None:
    ada = await add_user(uow_factory)
    sid = await start_session(uow_factory, ada)
    jti = uuid4().hex

    async with uow_factory() as uow:
        assert await uow.sessions.spend_refresh(jti, sid, NOW + HOUR)
        await uow.commit()
    async with uow_factory() as uow:
        assert not await uow.sessions.spend_refresh(jti, sid, NOW + HOUR)


async def test_spending_needs_an_existing_session(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        assert not await uow.sessions.spend_refresh(uuid4().hex, "no-such-session", NOW + HOUR)
        await uow.commit()


async def test_of_two_concurrent_spends_of_one_token_exactly_one_wins(uow_factory: UnitOfWorkFactory) -> None:
    ada = await add_user(uow_factory)
    sid = await start_session(uow_factory, ada)
    jti = uuid4().hex

    async def spend() -> bool:
        async with uow_factory() as uow:
            spent = await uow.sessions.spend_refresh(jti, sid, NOW + HOUR)
            await asyncio.sleep(0.05)  # hold the transaction open while the other one tries
            await uow.commit()
        return spent

    results = await asyncio.gather(spend(), spend())

    assert sorted(results) == [False, True]


async def test_purging_deletes_what_expired_and_keeps_the_rest(uow_factory: UnitOfWorkFactory) -> None:
    ada = await add_user(uow_factory)
    expired = await start_session(uow_factory, ada, expires_at=NOW - timedelta(seconds=1))
    live = await start_session(uow_factory, ada, expires_at=NOW + HOUR)
    async with uow_factory() as uow:
        assert await uow.sessions.spend_refresh("spent-old", live, NOW - timedelta(seconds=1))
        assert await uow.sessions.spend_refresh("spent-new", live, NOW + HOUR)
        await uow.sessions.revoke_token("revoked-old", NOW - timedelta(seconds=1))
        await uow.sessions.revoke_token("revoked-new", NOW + HOUR)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.sessions.purge_expired(NOW) == 3
        await uow.commit()

    assert await active(uow_factory, access(ada, expired)) is None
    assert await active(uow_factory, access(ada, live)) == ada
    assert await active(uow_factory, access(ada, live, "revoked-new")) is None
    assert await active(uow_factory, access(ada, live, "revoked-old")) == ada
    async with uow_factory() as uow:
        assert not await uow.sessions.spend_refresh("spent-new", live, NOW + HOUR)
        assert await uow.sessions.spend_refresh("spent-old", live, NOW + HOUR)
        assert await uow.sessions.purge_expired(NOW) == 0


async def test_extending_a_session_keeps_it_past_its_first_expiry(uow_factory: UnitOfWorkFactory) -> None:
    ada = await add_user(uow_factory)
    sid = await start_session(uow_factory, ada, expires_at=NOW + HOUR)

    async with uow_factory() as uow:
        await uow.sessions.extend(sid, NOW + 3 * HOUR)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.sessions.purge_expired(NOW + 2 * HOUR) == 0
        await uow.commit()

    assert await active(uow_factory, access(ada, sid)) == ada


async def test_failures_are_counted_after_a_moment_with_the_oldest(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        for minutes in (20, 10, 5, 1):
            await uow.login_failures.record(["ada|10.0.0.1"], NOW - timedelta(minutes=minutes))
        await uow.login_failures.record(["bob|10.0.0.1"], NOW)
        await uow.commit()

    async with uow_factory() as uow:
        keys = ["ada|10.0.0.1", "carol|10.0.0.1", "bob|10.0.0.1"]
        assert await uow.login_failures.since(keys, NOW - timedelta(minutes=15)) == {
            "ada|10.0.0.1": (3, NOW - timedelta(minutes=10)),
            "carol|10.0.0.1": (0, None),
            "bob|10.0.0.1": (1, NOW),
        }


async def test_clearing_failures_forgets_only_that_key(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.login_failures.record(["ada|10.0.0.1", "bob|10.0.0.1"], NOW)
        await uow.commit()

    async with uow_factory() as uow:
        await uow.login_failures.clear("ada|10.0.0.1")
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.login_failures.since(["ada|10.0.0.1", "bob|10.0.0.1"], NOW - HOUR) == {
            "ada|10.0.0.1": (0, None),
            "bob|10.0.0.1": (1, NOW),
        }


async def test_purging_failures_deletes_only_old_ones(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.login_failures.record(["ada|10.0.0.1"], NOW - HOUR)
        await uow.login_failures.record(["ada|10.0.0.1"], NOW)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.login_failures.purge_before(NOW - timedelta(minutes=15)) == 1
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.login_failures.since(["ada|10.0.0.1"], NOW - 2 * HOUR) == {"ada|10.0.0.1": (1, NOW)}


async def test_a_session_for_a_user_that_no_longer_exists_is_refused(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        user = await uow.users.add(NewUser("gone", "$fast$x", is_admin=False, created_at=NOW))
        await uow.users.delete(user.id)
        await uow.commit()

    async def start_for_deleted_user() -> None:
        async with uow_factory() as uow:
            await uow.sessions.start(AuthSession("s" * 32, user.id, NOW, NOW + timedelta(hours=1)))

    with pytest.raises(NotFound):
        await start_for_deleted_user()


async def epoch(epochs: ReadEpochs) -> int:
    return (await epochs())[REVOCATION]


async def test_every_change_that_may_withdraw_a_token_moves_the_revocation_epoch(
    uow_factory: UnitOfWorkFactory, epochs: ReadEpochs
) -> None:
    ada = await add_user(uow_factory)
    sid = await start_session(uow_factory, ada)
    await start_session(uow_factory, ada)
    withdrawals: dict[str, Callable[[UnitOfWork], Awaitable[object]]] = {
        "revoke_session": lambda uow: uow.sessions.revoke_session(sid),
        "revoke_token": lambda uow: uow.sessions.revoke_token("j" * 32, NOW + HOUR),
        "revoke_other_sessions": lambda uow: uow.sessions.revoke_other_sessions(ada.id, keep_sid=None),
        "set_admin": lambda uow: uow.users.set_admin(ada.id, is_admin=True),
        "set_password_hash": lambda uow: uow.users.set_password_hash(ada.id, "$another$"),
        "delete_user": lambda uow: uow.users.delete(ada.id),
    }
    seen = [await epoch(epochs)]
    for withdraw in withdrawals.values():
        async with uow_factory() as uow:
            await withdraw(uow)
            await uow.commit()
        seen.append(await epoch(epochs))

    moved = [before < after for before, after in itertools.pairwise(seen)]
    assert dict(zip(withdrawals, moved, strict=True)) == dict.fromkeys(withdrawals, True)


async def test_the_epoch_stays_put_for_logins_refreshes_and_uncommitted_revocations(
    uow_factory: UnitOfWorkFactory, epochs: ReadEpochs
) -> None:
    ada = await add_user(uow_factory)
    async with uow_factory() as uow:
        await uow.users.set_admin(ada.id, is_admin=False)  # no change of role
        await uow.users.set_password_hash(ada.id, ada.password_hash)  # nor of password
        await uow.commit()
    before = await epoch(epochs)
    sid = await start_session(uow_factory, ada)
    async with uow_factory() as uow:
        assert await uow.sessions.spend_refresh("r" * 32, sid, NOW + HOUR)
        await uow.sessions.extend(sid, NOW + 2 * HOUR)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.sessions.revoke_session(sid)  # and no commit

    assert await epoch(epochs) == before


async def test_revoking_a_revoked_token_is_reported_and_leaves_the_epoch_alone(
    uow_factory: UnitOfWorkFactory, epochs: ReadEpochs
) -> None:
    async with uow_factory() as uow:
        assert await uow.sessions.revoke_token("j" * 32, NOW + HOUR) is True
        await uow.commit()
    before = await epoch(epochs)

    async with uow_factory() as uow:
        assert await uow.sessions.revoke_token("j" * 32, NOW + HOUR) is False
        await uow.commit()

    assert await epoch(epochs) == before


async def test_a_purge_or_delete_that_removes_no_row_leaves_the_epochs_and_one_that_removes_a_row_moves_them(
    uow_factory: UnitOfWorkFactory, epochs: ReadEpochs
) -> None:
    ada = await add_user(uow_factory)
    await start_session(uow_factory, ada, expires_at=NOW + HOUR)
    before = await epochs()

    # What every worker's periodic purge does when nothing expired: no token withdrawn, nothing to forget.
    async with uow_factory() as uow:
        assert await uow.sessions.purge_expired(NOW) == 0
        assert await uow.users.delete(ada.id + 1000) is False
        await uow.commit()
    unmoved = await epochs()
    await start_session(uow_factory, ada, expires_at=NOW - HOUR)
    async with uow_factory() as uow:
        assert await uow.sessions.purge_expired(NOW) == 1
        await uow.commit()
    after = await epochs()

    assert unmoved == before
    assert after[REVOCATION] > before[REVOCATION]
    assert after[DATA] == before[DATA]


async def test_ending_the_other_sessions_keeps_the_one_named_and_other_users_sessions(
    uow_factory: UnitOfWorkFactory,
) -> None:
    ada, bob = await add_user(uow_factory, "ada"), await add_user(uow_factory, "bob")
    kept, ended, ended_too = [await start_session(uow_factory, ada) for _ in range(3)]
    bobs = await start_session(uow_factory, bob)

    async with uow_factory() as uow:
        assert await uow.sessions.revoke_other_sessions(ada.id, keep_sid=kept) == 2
        await uow.commit()

    assert await active(uow_factory, access(ada, kept)) == ada
    assert await active(uow_factory, access(ada, ended)) is None
    assert await active(uow_factory, access(ada, ended_too)) is None
    assert await active(uow_factory, access(bob, bobs)) == bob


async def test_ending_sessions_when_none_is_live_ends_none_and_leaves_the_epoch_alone(
    uow_factory: UnitOfWorkFactory, epochs: ReadEpochs
) -> None:
    ada = await add_user(uow_factory)
    only = await start_session(uow_factory, ada)
    before = await epoch(epochs)

    async with uow_factory() as uow:
        assert await uow.sessions.revoke_other_sessions(ada.id, keep_sid=only) == 0
        await uow.commit()

    assert await epoch(epochs) == before
    async with uow_factory() as uow:
        assert await uow.sessions.revoke_other_sessions(ada.id, keep_sid=None) == 1
        await uow.commit()
    assert await active(uow_factory, access(ada, only)) is None


async def test_a_session_is_read_back_with_its_times(uow_factory: UnitOfWorkFactory) -> None:
    ada = await add_user(uow_factory)
    sid = await start_session(uow_factory, ada, expires_at=NOW + 2 * HOUR)

    async with uow_factory() as uow:
        assert await uow.sessions.get(sid) == AuthSession(sid, ada.id, NOW, NOW + 2 * HOUR)
        assert await uow.sessions.get("n" * 32) is None


async def test_a_recorded_failure_can_be_forgotten_alone(uow_factory: UnitOfWorkFactory) -> None:
    keys = ["ada|10.0.0.1", "a:10.0.0.1"]
    async with uow_factory() as uow:
        await uow.login_failures.lock(keys)
        first, address = await uow.login_failures.record(keys, NOW - timedelta(minutes=1))
        [second] = await uow.login_failures.record(["ada|10.0.0.1"], NOW)
        await uow.commit()
    assert len({first, address, second}) == 3, "one id per failure, in the order of the keys"

    async with uow_factory() as uow:
        await uow.login_failures.forget(first)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.login_failures.since(keys, NOW - HOUR) == {
            "ada|10.0.0.1": (1, NOW),
            "a:10.0.0.1": (1, NOW - timedelta(minutes=1)),
        }


async def test_the_admins_are_listed_under_lock(uow_factory: UnitOfWorkFactory) -> None:
    ada = await add_user(uow_factory, "ada", is_admin=True)
    await add_user(uow_factory, "bob")
    root = await add_user(uow_factory, "root", is_admin=True)

    async with uow_factory() as uow:
        assert await uow.users.lock_admins() == [ada.id, root.id]
