"""Failed-login throttling, per username and client address and per client address alone.

An attempt is counted before its password is checked: under a lock on each of its keys, the failures within
the window are counted and, below the limits, one more is recorded and committed; only then is the slow hash
run. So however many guesses arrive at once, at most ``THROTTLE_LIMIT`` of them are ever checked per key, on
every worker (the lock and the count are in the store). A right password clears its key and takes its
reservation back. A check turned away (the hasher busy, or its address with ``CHECKS_PER_ADDRESS`` running)
is a 429 that takes both back: it was never checked, so it must not lock out the name, nor the address's
other users (many people share an address behind a NAT).
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
BUSY_RETRY_AFTER = 1
"""Seconds to wait before trying again after an attempt was turned away unchecked."""
CHECKS_PER_ADDRESS = 2
"""Password checks one client address may have running (or queued) at once in a worker; its further attempts
are turned away, so a flood from one address never fills the hasher's queue ahead of everyone else's logins."""
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
    """A login attempt counted in advance: the failures recorded for it under its username and address keys."""

    user_key: str
    user_failure: int
    address_failure: int

    @property
    def reserved(self) -> tuple[int, int]:
        """Both recorded failures."""
        return self.user_failure, self.address_failure


async def reserve(uow: UnitOfWork, username: str, client: str, now: datetime) -> Attempt:
    """Record one failure under each key of the attempt; raises ``Throttled`` when a key reached its limit.

    The caller commits. The limits are checked once before the keys are locked: a throttled attempt (most of a
    flood) is refused on a read, without queueing for the lock or writing. Then again under the locks (which the
    store takes in sorted order, so two attempts sharing keys cannot deadlock).
    """
    user_key, by_address = throttle_key(username, client), address_key(client)
    limits = {user_key: THROTTLE_LIMIT, by_address: ADDRESS_THROTTLE_LIMIT}
    await _refuse_when_throttled(uow, limits, now)
    await uow.login_failures.lock(list(limits))
    await _refuse_when_throttled(uow, limits, now)
    user_failure, address_failure = await uow.login_failures.record([user_key, by_address], now)
    return Attempt(user_key, user_failure, address_failure)


async def _refuse_when_throttled(uow: UnitOfWork, limits: dict[str, int], now: datetime) -> None:
    """Raise ``Throttled`` when a key has reached its limit, with the wait until its oldest failure expires."""
    waits = []
    counted = await uow.login_failures.since(list(limits), now - THROTTLE_WINDOW)
    for key, limit in limits.items():
        failures, oldest = counted[key]
        if failures >= limit and oldest is not None:
            waits.append(max(1, math.ceil((oldest + THROTTLE_WINDOW - now).total_seconds())))
    if waits:
        raise Throttled(f"too many failed logins; try again in {max(waits)} seconds", max(waits))


async def succeeded(uow: UnitOfWork, attempt: Attempt) -> None:
    """The password was right: forget the failures of its username key and its reservation by address."""
    await uow.login_failures.clear(attempt.user_key)
    await uow.login_failures.forget(attempt.address_failure)


async def turned_away(uow_factory: UnitOfWorkFactory, attempt: Attempt) -> Throttled:
    """The password was not checked (no capacity): take the attempt's reservations back; the error to raise."""
    async with uow_factory() as uow:
        for failure_id in attempt.reserved:
            await uow.login_failures.forget(failure_id)
        await uow.commit()
    return Throttled(f"too many logins are being checked; try again in {BUSY_RETRY_AFTER} seconds", BUSY_RETRY_AFTER)


class ChecksByAddress:
    """How many password checks each client address has running in this worker (CPU is per worker)."""

    def __init__(self, limit: int = CHECKS_PER_ADDRESS) -> None:
        self._limit = limit
        self._running: dict[str, int] = {}
        """Only addresses with a check running, so it stays as small as the hasher's queue."""

    def enter(self, client: str) -> bool:
        """Start a check for ``client``; False when it already has ``limit`` running."""
        running = self._running.get(client, 0)
        if running >= self._limit:
            return False
        self._running[client] = running + 1
        return True

    def leave(self, client: str) -> None:
        """A check of ``client`` ended."""
        if self._running[client] == 1:
            del self._running[client]
        else:
            self._running[client] -= 1
