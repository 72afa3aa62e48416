"""A worker's memo of the access tokens it found honoured, trusted only while its lease on the epoch holds.

Checking a token's session in the store costs every request a round trip. A worker may remember instead that
a token was honoured, but a revocation must still hold on every worker once the revoking request is answered.
The protocol that keeps it so:

1. Every change that can withdraw a token (a session ended, a token revoked, a user deleted or changed)
   advances the store's *revocation epoch* in the same transaction.
2. Each worker reads the epoch every ``lease / 4`` seconds and forgets everything it remembered when the
   epoch moved. It trusts its memo only until ``lease`` seconds after it *sent* its last successful read.
3. The revoking request waits ``lease`` seconds after its commit (``settle``) before it answers.

So when the revoker answers, a worker still trusting its memo sent its last read after the commit, saw the
epoch move and forgot the token. A check that was already on its way to the store when the memo was cleared
may carry an answer from before the revocation: ``ticket`` and ``remember`` refuse to keep it. A worker that
cannot reach the store lets its lease lapse and checks every token in the store again, as without a memo.
Only durations are compared, each on its own process's monotonic clock, so workers may run on other hosts.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from libdib.domain.capped import CappedDict

if TYPE_CHECKING:
    # users.py imports this module (a deleted user's tokens must settle); the memo only stores users.
    from libdib.domain.users import User

DEFAULT_CAPACITY = 10_000
"""Tokens remembered at most; past it the oldest is forgotten first."""


class HonouredTokenMemo:
    """Access tokens (by ``jti``) whose session was live when checked, with the user they speak for."""

    def __init__(
        self,
        lease: float,
        capacity: int = DEFAULT_CAPACITY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``lease=0`` turns the memo off: nothing is trusted and ``settle`` does not wait (one process)."""
        self.lease = lease
        self._monotonic = monotonic
        self._users: CappedDict[str, User] = CappedDict(capacity)
        self._epoch: int | None = None
        self._generation = 0
        self._trusted_until = -math.inf

    @property
    def sync_interval(self) -> float:
        """How often to read the epoch: a few reads per lease, so one slow read does not lapse it."""
        return self.lease / 4

    def recall(self, jti: str, user_id: int) -> User | None:
        """The user a remembered token speaks for, while the lease holds; None means: ask the store."""
        if self._monotonic() >= self._trusted_until:
            return None
        user = self._users.get(jti)
        return user if user is not None and user.id == user_id else None

    def ticket(self) -> int:
        """Taken before asking the store, and handed back to ``remember`` with its answer."""
        return self._generation

    def remember(self, jti: str, user: User, ticket: int) -> None:
        """Keep the store's answer, unless the memo was cleared since ``ticket`` (the answer may be stale)."""
        if ticket != self._generation or self.lease <= 0:
            return
        self._users.put(jti, user)

    def synced(self, epoch: int, sent_at: float) -> None:
        """Take in an epoch read sent at ``sent_at``: forget everything if it moved, and extend the lease."""
        if epoch != self._epoch:
            self._users.clear()
            self._generation += 1
            self._epoch = epoch
        self._trusted_until = sent_at + self.lease

    async def sync(self, read_epoch: Callable[[], Awaitable[int]]) -> None:
        """Read the epoch once; an error propagates and the lease runs out on its own."""
        sent_at = self._monotonic()
        self.synced(await read_epoch(), sent_at)

    async def settle(self) -> None:
        """Wait until no worker can still trust a memo from before the change just committed."""
        if self.lease > 0:
            await asyncio.sleep(self.lease)
