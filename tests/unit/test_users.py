"""UserService on the memory backend: sign-up rules, lookups, deletion rights and the admin account."""

from __future__ import annotations

import pytest

from libdib.bootstrap import Services
from libdib.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Throttled, Unauthenticated
from libdib.domain.throttle import THROTTLE_LIMIT
from libdib.domain.users import InvalidUsername, LastAdmin, UsernameTaken, WeakPassword, WrongPassword
from tests.fakes import FastHasher, FixedClock

pytestmark = pytest.mark.anyio

PASSWORD = "quartz-lantern-migrates-slowly"
OTHER_PASSWORD = "velvet-harbor-sings-quietly"
CLIENT = "10.0.0.1"


async def test_signing_up_stores_a_hashed_password_and_the_creation_time(
    memory_services: Services, clock: FixedClock
) -> None:
    user = await memory_services.users.sign_up("ada", PASSWORD)

    assert user.username == "ada"
    assert not user.is_admin
    assert user.created_at == clock.now()
    assert user.password_hash == await FastHasher().hash(PASSWORD)
    assert await memory_services.users.get(user.id) == user


async def test_a_username_is_taken_in_any_letter_case(memory_services: Services) -> None:
    await memory_services.users.sign_up("Ada", PASSWORD)

    with pytest.raises(UsernameTaken) as taken:
        await memory_services.users.sign_up("aDA", OTHER_PASSWORD)

    assert isinstance(taken.value, Conflict)
    assert str(taken.value).startswith("username: 'aDA' is taken")


@pytest.mark.parametrize("username", ["ab", "a" * 51, "ada lovelace", "ada@example.org", "ädä", ""])
async def test_a_username_outside_the_naming_rule_is_refused(memory_services: Services, username: str) -> None:
    with pytest.raises(InvalidUsername, match=r"^username: use 3 to 50 characters"):
        await memory_services.users.sign_up(username, PASSWORD)


async def test_a_weak_password_is_refused_before_anything_is_stored(memory_services: Services) -> None:
    with pytest.raises(WeakPassword, match=r"^password: too easy to guess"):
        await memory_services.users.sign_up("ada", "password1234")

    async with memory_services.unit_of_work() as uow:
        assert await uow.users.get_by_username("ada") is None


async def test_sign_up_can_create_an_admin(memory_services: Services) -> None:
    admin = await memory_services.users.sign_up("root", PASSWORD, is_admin=True)

    assert admin.is_admin


async def test_looking_up_a_missing_user_is_not_found(memory_services: Services) -> None:
    with pytest.raises(NotFound, match="no user with id 42"):
        await memory_services.users.get(42)


async def test_users_may_delete_themselves_and_their_tokens_stop_working(memory_services: Services) -> None:
    ada = await memory_services.users.sign_up("ada", PASSWORD)
    pair = await memory_services.tokens.login("ada", PASSWORD, "10.0.0.1")

    await memory_services.users.delete(ada, ada.id)

    with pytest.raises(NotFound):
        await memory_services.users.get(ada.id)
    with pytest.raises(Unauthenticated):
        await memory_services.tokens.authenticate(pair.access_token)
    with pytest.raises(Unauthenticated):
        await memory_services.tokens.refresh(pair.refresh_token)


async def test_a_user_may_not_delete_someone_else(memory_services: Services) -> None:
    ada = await memory_services.users.sign_up("ada", PASSWORD)
    bob = await memory_services.users.sign_up("bob", OTHER_PASSWORD)

    with pytest.raises(Forbidden):
        await memory_services.users.delete(ada, bob.id)

    assert await memory_services.users.get(bob.id) == bob


async def test_a_non_admin_learns_nothing_about_ids_that_do_not_exist(memory_services: Services) -> None:
    ada = await memory_services.users.sign_up("ada", PASSWORD)

    with pytest.raises(Forbidden):
        await memory_services.users.delete(ada, 999)


async def test_an_admin_may_delete_anyone_and_missing_users_are_not_found(memory_services: Services) -> None:
    admin = await memory_services.users.sign_up("root", PASSWORD, is_admin=True)
    bob = await memory_services.users.sign_up("bob", OTHER_PASSWORD)

    await memory_services.users.delete(admin, bob.id)

    with pytest.raises(NotFound):
        await memory_services.users.delete(admin, bob.id)


async def test_ensure_admin_creates_the_admin_when_missing(memory_services: Services) -> None:
    admin = await memory_services.users.ensure_admin("root", PASSWORD)

    assert admin.is_admin
    assert await memory_services.users.get(admin.id) == admin


async def test_ensure_admin_promotes_an_existing_user_and_sets_the_password(memory_services: Services) -> None:
    ada = await memory_services.users.sign_up("ada", PASSWORD)

    admin = await memory_services.users.ensure_admin("ADA", OTHER_PASSWORD)

    assert admin.id == ada.id
    assert admin.is_admin
    assert await memory_services.users.get(ada.id) == admin
    await memory_services.tokens.login("ada", OTHER_PASSWORD, "10.0.0.1")
    with pytest.raises(Unauthenticated):
        await memory_services.tokens.login("ada", PASSWORD, "10.0.0.1")


async def test_ensure_admin_twice_changes_nothing(memory_services: Services) -> None:
    first = await memory_services.users.ensure_admin("root", PASSWORD)

    second = await memory_services.users.ensure_admin("root", PASSWORD)

    assert second == first
    assert await memory_services.users.get(first.id) == first


async def test_ensure_admin_applies_the_password_policy(memory_services: Services) -> None:
    with pytest.raises(InvalidInput, match=r"^password: use at least 12 characters \(you used 5\)"):
        await memory_services.users.ensure_admin("root", "short")


async def test_the_last_admin_may_not_delete_themself_but_one_of_two_may(memory_services: Services) -> None:
    root = await memory_services.users.sign_up("root", PASSWORD, is_admin=True)
    ada = await memory_services.users.sign_up("ada", PASSWORD, is_admin=True)

    await memory_services.users.delete(root, ada.id)
    with pytest.raises(LastAdmin) as refused:
        await memory_services.users.delete(root, root.id)

    assert isinstance(refused.value, Conflict)
    assert await memory_services.users.get(root.id) == root


async def test_a_user_may_still_delete_themself_while_a_single_admin_exists(memory_services: Services) -> None:
    await memory_services.users.sign_up("root", PASSWORD, is_admin=True)
    ada = await memory_services.users.sign_up("ada", PASSWORD)

    await memory_services.users.delete(ada, ada.id)

    with pytest.raises(NotFound):
        await memory_services.users.get(ada.id)


async def test_changing_the_password_ends_every_other_session_and_keeps_the_calling_one(
    memory_services: Services,
) -> None:
    ada = await memory_services.users.sign_up("ada", PASSWORD)
    calling, other = [await memory_services.tokens.login("ada", PASSWORD, CLIENT) for _ in range(2)]
    _, claims = await memory_services.tokens.authenticate(calling.access_token)

    await memory_services.users.change_password(ada, claims.sid, PASSWORD, OTHER_PASSWORD, CLIENT)

    await memory_services.tokens.authenticate(calling.access_token)
    await memory_services.tokens.refresh(calling.refresh_token)
    with pytest.raises(Unauthenticated):
        await memory_services.tokens.authenticate(other.access_token)
    with pytest.raises(Unauthenticated):
        await memory_services.tokens.refresh(other.refresh_token)
    await memory_services.tokens.login("ada", OTHER_PASSWORD, CLIENT)
    with pytest.raises(Unauthenticated):
        await memory_services.tokens.login("ada", PASSWORD, CLIENT)


async def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failed_login(
    memory_services: Services,
) -> None:
    ada = await memory_services.users.sign_up("ada", PASSWORD)
    pair = await memory_services.tokens.login("ada", PASSWORD, CLIENT)
    _, claims = await memory_services.tokens.authenticate(pair.access_token)

    for _ in range(THROTTLE_LIMIT):
        with pytest.raises(WrongPassword):
            await memory_services.users.change_password(ada, claims.sid, "not the password", OTHER_PASSWORD, CLIENT)

    with pytest.raises(Throttled):
        await memory_services.tokens.login("ada", PASSWORD, CLIENT)
    with pytest.raises(Throttled):
        await memory_services.users.change_password(ada, claims.sid, PASSWORD, OTHER_PASSWORD, CLIENT)
    await memory_services.tokens.login("ada", PASSWORD, "10.0.0.2")


async def test_a_new_password_must_follow_the_sign_up_rules(memory_services: Services) -> None:
    ada = await memory_services.users.sign_up("ada", PASSWORD)

    with pytest.raises(WeakPassword, match="must not contain your username"):
        await memory_services.users.change_password(ada, "s" * 32, PASSWORD, "ada-" + OTHER_PASSWORD, CLIENT)

    await memory_services.tokens.login("ada", PASSWORD, CLIENT)


async def test_ensure_admin_with_a_changed_password_ends_every_session_of_that_admin(
    memory_services: Services,
) -> None:
    await memory_services.users.ensure_admin("root", PASSWORD)
    pair = await memory_services.tokens.login("root", PASSWORD, CLIENT)

    await memory_services.users.ensure_admin("root", OTHER_PASSWORD)

    with pytest.raises(Unauthenticated):
        await memory_services.tokens.authenticate(pair.access_token)
    with pytest.raises(Unauthenticated):
        await memory_services.tokens.refresh(pair.refresh_token)


async def test_ensure_admin_with_the_same_password_keeps_the_sessions(memory_services: Services) -> None:
    await memory_services.users.ensure_admin("root", PASSWORD)
    pair = await memory_services.tokens.login("root", PASSWORD, CLIENT)

    await memory_services.users.ensure_admin("root", PASSWORD)

    await memory_services.tokens.authenticate(pair.access_token)


async def test_an_operator_lists_every_account_by_id(memory_services: Services) -> None:
    ada = await memory_services.users.sign_up("ada", PASSWORD)
    root = await memory_services.users.sign_up("root", PASSWORD, is_admin=True)
    assert await memory_services.users.list_users() == [ada, root]


async def test_an_operator_reset_sets_the_password_and_ends_every_session(memory_services: Services) -> None:
    await memory_services.users.sign_up("ada", PASSWORD)
    tokens = await memory_services.tokens.login("ada", PASSWORD, CLIENT)

    await memory_services.users.reset_password("ADA", OTHER_PASSWORD)

    with pytest.raises(Unauthenticated):
        await memory_services.tokens.authenticate(tokens.access_token)
    with pytest.raises(Unauthenticated):
        await memory_services.tokens.login("ada", PASSWORD, CLIENT)
    await memory_services.tokens.login("ada", OTHER_PASSWORD, CLIENT)
    with pytest.raises(WeakPassword):
        await memory_services.users.reset_password("ada", "password1234")
    with pytest.raises(NotFound, match="nobody"):
        await memory_services.users.reset_password("nobody", OTHER_PASSWORD)


async def test_an_operator_removes_an_account_by_name_but_never_the_last_admin(memory_services: Services) -> None:
    await memory_services.users.sign_up("ada", PASSWORD)
    await memory_services.users.sign_up("root", PASSWORD, is_admin=True)
    tokens = await memory_services.tokens.login("ada", PASSWORD, CLIENT)

    await memory_services.users.remove("ada")

    with pytest.raises(Unauthenticated):
        await memory_services.tokens.authenticate(tokens.access_token)
    with pytest.raises(LastAdmin):
        await memory_services.users.remove("root")
    with pytest.raises(NotFound):
        await memory_services.users.remove("ada")
    assert [user.username for user in await memory_services.users.list_users()] == ["root"]
