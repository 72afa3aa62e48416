"""Races on memory, SQLite and PostgreSQL: many logins at once for one name, two admins deleting each other."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from libdib.bootstrap import Services, build_services
from libdib.domain.errors import Throttled, Unauthenticated
from libdib.domain.identity import TokenPair
from libdib.domain.throttle import THROTTLE_LIMIT
from libdib.domain.users import LastAdmin
from tests.conftest import make_settings
from tests.fakes import FastHasher

pytestmark = pytest.mark.anyio

PASSWORD = "quartz-lantern-migrates-slowly"
CLIENT = "203.0.113.7"


class SlowCountingHasher(FastHasher):
    """Checks take a while, as argon2's do, so that concurrent logins overlap; keeps every password checked."""

    def __init__(self) -> None:
        self.checked: list[str | None] = []
        """The passwords checked, in the order their checks began; None for a dummy check (an unknown user)."""
        self.first_match_ended: int | None = None
        """How many checks had begun when the first check that matched ended."""

    async def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        self.checked.append(password)
        await asyncio.sleep(0.05)
        outcome = await super().verify(password, password_hash)
        if outcome[0] and self.first_match_ended is None:
            self.first_match_ended = len(self.checked)
        return outcome

    async def dummy_verify(self) -> None:
        self.checked.append(None)
        await asyncio.sleep(0.05)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Services, SlowCountingHasher]]:
    """Services over a fresh store of the parametrised kind, and their slow counting hasher."""
    hasher = SlowCountingHasher()
    if request.param == "memory":
        built = build_services(make_settings(), backend="memory", hasher=hasher)
    else:
        url = request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url")
        built = build_services(make_settings(database_url=url), backend="sql", hasher=hasher)
    async with built.running():
        yield built, hasher


async def test_a_hundred_concurrent_guesses_for_one_username_check_at_most_ten_wrong_passwords_in_a_row(
    world: tuple[Services, SlowCountingHasher],
) -> None:
    services, hasher = world
    await services.users.sign_up("ada", PASSWORD)
    guesses = [PASSWORD if guess == 57 else f"guess number {guess}" for guess in range(100)]

    outcomes = await asyncio.gather(
        *(services.tokens.login("ada", guess, CLIENT) for guess in guesses), return_exceptions=True
    )

    kinds = Counter(type(outcome) for outcome in outcomes)
    assert set(kinds) <= {TokenPair, Unauthenticated, Throttled}, kinds
    # Every attempt is counted before its check, and at most ten are let through. The right password's success
    # forgets them, but only after its check has ended: every check begun before then was counted before it.
    # After it, ten more may be let through. (The order the checks begin in says no more: on a busy machine an
    # attempt counted before the success may begin its check after it.)
    before_success = hasher.checked[: hasher.first_match_ended]
    assert len(before_success) <= THROTTLE_LIMIT, hasher.checked
    assert len(hasher.checked) <= 2 * THROTTLE_LIMIT, hasher.checked
    assert kinds[Throttled] >= 100 - len(hasher.checked)


async def test_two_admins_deleting_each_other_at_once_leave_one_admin(
    world: tuple[Services, SlowCountingHasher],
) -> None:
    services, _ = world
    ada = await services.users.sign_up("ada", PASSWORD, is_admin=True)
    bob = await services.users.sign_up("bob", PASSWORD, is_admin=True)

    outcomes = await asyncio.gather(
        services.users.delete(ada, bob.id), services.users.delete(bob, ada.id), return_exceptions=True
    )

    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["LastAdmin", "NoneType"]
    assert any(isinstance(outcome, LastAdmin) for outcome in outcomes)
    async with services.unit_of_work() as uow:
        assert len(await uow.users.lock_admins()) == 1
