"""CPU-bound work on a worker thread, so the event loop goes on serving meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from libdib.domain.ports import Offload

T = TypeVar("T")


class ThreadOffload(Offload):
    """Runs work on asyncio's default thread pool.

    A thread suffices: what the domain offloads is a workbook's read, whose parsing the reader does in a child
    process (the thread mostly waits for it), and the checks and fingerprint that follow it.
    """

    async def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` on a thread; its result or its exception."""
        return await asyncio.to_thread(work)
