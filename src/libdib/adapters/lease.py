"""A worker's lease on the store's epochs: how long what it holds (honoured tokens, census answers) may be trusted.

Answering from what a worker holds is safe only if a change committed through any worker is seen by every
worker before the changing request answers. The protocol that keeps it so:

1. The store keeps one counter per kind of change (``REVOCATION``: a token may be withdrawn; ``DATA``: the
   census data changed), advanced by the database itself in the changing transaction (triggers), or by the
   memory store's commit, so that no write can forget it.
2. Each worker reads the epochs every ``lease / 4`` seconds and forgets what it held of a kind whose epoch
   moved. It trusts what it holds only until ``lease`` seconds after it *sent* its last successful read.
3. A unit of work whose commit moved an epoch waits ``lease`` seconds (``settle``) before it is left, so
   before the changing request answers.

So when the writer answers, a worker still trusting its lease sent its last read after the commit, saw the
epoch move and forgot. A read that was already on its way to the store when a worker forgot may carry an
answer from before the change: ``ticket`` and ``still`` refuse to keep it. A worker that cannot reach the
store lets its lease lapse and asks the store every time. Only durations are compared, each on its own
process's monotonic clock, so workers may run on other hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping

from libdib.domain.errors import DomainError

REVOCATION = "revocation"
"""The epoch every change that may withdraw a token advances (sessions, revoked tokens, users)."""
DATA = "data"
"""The epoch every change of the census data advances (datasets, records)."""
EPOCHS = (REVOCATION, DATA)
LEASE_SECONDS = 0.2
"""How long a worker trusts what its views hold after reading the epochs; a write that moves an epoch (a logout,
a revocation, a load) waits this long before it answers. Short, since every such write waits it; long enough
that a few epoch reads fit in it, so one slow read does not lapse it."""

Epochs = Mapping[str, int]
ReadEpochs = Callable[[], Awaitable[Epochs]]

logger = logging.getLogger("libdib")


def moved(before: Epochs, after: Epochs) -> bool:
    """Whether any epoch differs between ``before`` and ``after``.

    A writer compares the epochs its lease held when its unit began with those read inside its transaction just
    before the commit. Epochs only grow, and a transaction sees its own changes, so one that moved an epoch
    always reads it past what the lease held. Comparing with the lease's epochs at the commit instead would miss
    it when the keeping loop read the committed epoch before the commit's answer was handled.
    """
    return any(after.get(name) != before.get(name) for name in EPOCHS)


class EpochLease:
    """One worker's view of the store's epochs, the lease on them, and who to tell when one moves."""

    def __init__(self, lease: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        """``lease`` is the longest a worker may trust what it holds without reading the epochs again."""
        if lease <= 0:
            raise ValueError("the lease must be positive: a zero lease would trust nothing and wait for nothing")
        self.lease = lease
        self._monotonic = monotonic
        self.epochs: dict[str, int] = {}
        """The epochs as last read; empty until the first read."""
        self._generations = dict.fromkeys(EPOCHS, 0)
        self._listeners: dict[str, list[Callable[[], None]]] = {name: [] for name in EPOCHS}
        self._trusted_until = -math.inf
        self._last_sent_at = -math.inf

    @property
    def sync_interval(self) -> float:
        """How often to read the epochs: a few reads per lease, so one slow read does not lapse it."""
        return self.lease / 4

    def trusted(self) -> bool:
        """Whether what the worker holds may be used now."""
        return self._monotonic() < self._trusted_until

    def on_move(self, name: str, forget: Callable[[], None]) -> None:
        """Call ``forget`` whenever epoch ``name`` moves."""
        self._listeners[name].append(forget)

    def ticket(self, name: str) -> int:
        """Taken before asking the store, and handed to ``still`` with its answer."""
        return self._generations[name]

    def still(self, name: str, ticket: int) -> bool:
        """Whether an answer asked for under ``ticket`` may be kept: epoch ``name`` has not moved since."""
        return ticket == self._generations[name]

    def synced(self, epochs: Epochs, sent_at: float) -> None:
        """Take in epochs read with a request sent at ``sent_at``: forget what moved, and extend the lease.

        Reads may overlap (the keeping loop's, a request's) and come back out of order. One sent before the last
        taken in is ignored: its epochs may be older, and taking them would move the epochs back and trust again
        what the newer read had forgotten.
        """
        if sent_at < self._last_sent_at:
            return
        self._last_sent_at = sent_at
        for name in EPOCHS:
            if epochs.get(name) != self.epochs.get(name):
                self._generations[name] += 1
                for forget in self._listeners[name]:
                    forget()
        self.epochs = dict(epochs)
        self._trusted_until = sent_at + self.lease

    async def sync(self, read: ReadEpochs) -> None:
        """Read the epochs once; an error propagates and the lease runs out on its own."""
        sent_at = self._monotonic()
        self.synced(await read(), sent_at)

    async def settle(self) -> None:
        """Wait until no worker can still trust what it held before the change just committed."""
        await asyncio.sleep(self.lease)

    async def keep(self, read: ReadEpochs, stop: asyncio.Event) -> None:
        """Read the epochs every ``sync_interval`` until ``stop`` is set; an unreachable store lapses the lease.

        Stopped by an event, not cancelled, so that no read is cut off with its connection still busy.
        """
        lapsed = False
        while not stop.is_set():
            try:
                await self.sync(read)
            except DomainError as exc:
                if not lapsed:
                    logger.warning("epoch lease lapsed, every read asks the database: %s", exc)
                lapsed = True
            except Exception:
                # Not a store that is down but one that fails unexpectedly: say what, and keep trying, since a
                # loop that ended would leave the lease lapsed (every read asking the store) until a restart.
                if not lapsed:
                    logger.exception("epoch lease lapsed: reading the epochs failed")
                lapsed = True
            else:
                if lapsed:
                    logger.info("epoch lease resumed")
                lapsed = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.sync_interval)
