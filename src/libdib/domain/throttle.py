"""Failed-login throttling, per username and client address and per client address alone.

An attempt is counted before its password is checked: under a lock on each of its keys, the failures within
the window are counted and, below the limits, one more is recorded and committed; only then is the slow hash
run. So however many guesses arrive at once, at most ``THROTTLE_LIMIT`` of them are ever checked per key, on
every worker (the lock and the count are in the store). A right password clears its key and takes its
reservation back; a check that never ran (hashing busy) takes both back.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from libdib.domain.errors import Throttled

if TYPE_CHECKING:
    from libdib.domain.ports import UnitOfWork, UnitOfWorkFactory

THROTTLE_LIMIT = 10
"""Failed logins allowed per username and client address within ``THROTTLE_WINDOW``."""
ADDRESS_THROTTLE_LIMIT = 50
"""Failed logins allowed per client address, whatever the usernames, within ``THROTTLE_WINDOW``: a flood of
guesses at random names from one address costs at most this many hashes, then answers 429 at once."""
THROTTLE_WINDOW = timedelta(minutes=15)
ADDRESS_KEY_PREFIX = "a:"
"""Address keys are prefixed; username keys are bare hex digests, so the two never meet."""


def _digest(typed: str) -> str:
    """Hashed: a fixed length whatever was typed (NUL bytes included), and no names or addresses kept at rest."""
    return hashlib.sha256(typed.encode("utf-8", "surrogatepass")).hexdigest()


def throttle_key(username: str, client: str) -> str:
    """The key failed logins are counted under: the username in any letter case, and the client address."""
    return _digest(f"{username.lower()}\x1f{client}")


def address_key(client: str) -> str:
    """The key every failed login from one client address is counted under."""
    return ADDRESS_KEY_PREFIX + _digest(client)


@dataclass(frozen=True, slots=True)
class Attempt:
    """A login attempt counted in advance: the failures recorded for it, one under each key."""

    user_key: str
    reserved: tuple[int, ...]


async def reserve(uow: UnitOfWork, username: str, client: str, now: datetime) -> Attempt:
    """Record one failure under each key of the attempt; raises ``Throttled`` when a key reached its limit.

    The caller commits. Keys are locked in sorted order, so two attempts sharing keys cannot deadlock.
    """
    limits = {throttle_key(username, client): THROTTLE_LIMIT, address_key(client): ADDRESS_THROTTLE_LIMIT}
    for key in sorted(limits):
        await uow.login_failures.lock(key)
    waits = []
    for key, limit in limits.items():
        failures, oldest = await uow.login_failures.since(key, now - THROTTLE_WINDOW)
        if failures >= limit and oldest is not None:
            waits.append(max(1, math.ceil((oldest + THROTTLE_WINDOW - now).total_seconds())))
    if waits:
        raise Throttled(f"too many failed logins; try again in {max(waits)} seconds", max(waits))
    reserved = tuple([await uow.login_failures.record(key, now) for key in limits])
    return Attempt(next(iter(limits)), reserved)


async def succeeded(uow: UnitOfWork, attempt: Attempt) -> None:
    """The password was right: forget the failures of its username key and its reservation by address."""
    await uow.login_failures.clear(attempt.user_key)
    for failure_id in attempt.reserved:
        await uow.login_failures.forget(failure_id)


async def withdraw(uow_factory: UnitOfWorkFactory, attempt: Attempt) -> None:
    """The password was never checked (hashing busy): take the attempt's reservations back."""
    async with uow_factory() as uow:
        for failure_id in attempt.reserved:
            await uow.login_failures.forget(failure_id)
        await uow.commit()
