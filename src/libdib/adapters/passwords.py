"""Password hashing with passlib (libpass): argon2id, legacy bcrypt upgraded on login; and zxcvbn strength."""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

import anyio
from passlib.context import CryptContext
from zxcvbn import zxcvbn

from libdib.adapters.child_processes import exit_with_parent
from libdib.domain.errors import Unavailable
from libdib.domain.ports import PasswordHasher, PasswordStrength

T = TypeVar("T")
P = ParamSpec("P")
BCRYPT_MAX_BYTES = 72
"""bcrypt only ever used the first 72 bytes; bcrypt 5 raises instead of truncating (LIBRARY-NOTES §6)."""
DEFAULT_WAIT_SECONDS = 5.0
STRENGTH_INPUT_LIMIT = 128
"""zxcvbn's matching grows fast with length (and it raises past 72 characters unless told otherwise);
the policy allows no longer passwords anyway."""


ARGON2_SETTINGS = {"argon2__memory_cost": 19_456, "argon2__time_cost": 2, "argon2__parallelism": 1}
"""argon2id with 19 MiB, 2 passes, 1 lane: the OWASP Password Storage Cheat Sheet's baseline. One lane keeps
a hash on one core (RFC 9106's 4 lanes would take every core of a small server from the event loop)."""


HASHING_NICENESS = 19
"""The hashing processes' CPU priority (``nice``): the lowest, so that a waking event loop (or the database)
preempts a hash at once and reads keep their latency during a login storm (``bench --only logins``)."""
HASHING_DUTY = 0.5
"""The share of its time a hashing process may spend hashing while logins keep coming: after each hash it rests
as long again (by the hash's CPU time) before it takes the next. A login alone never waits for a rest; a flood of
logins gets half the hashes it could, and the reads keep the CPU that hashing back to back would take from
them, since a busy core slows the requests served beside it even at the lowest priority (``bench --only logins``)."""
QUEUE_PER_PROCESS = 8
"""Callers that may wait for a hashing process, per process; past that they are turned away at once, so that a
flood of logins is refused early instead of making everyone (a legitimate login too) wait seconds for a slot.
Eight: a 2-core server (one hashing process) takes 8 clients logging in at once without turning one away."""


@functools.cache
def _crypt_context() -> CryptContext:
    """argon2id for new hashes, bcrypt still read; one per process (built on first use in each child)."""
    return CryptContext(schemes=["argon2", "bcrypt"], default="argon2", deprecated=["bcrypt"], **ARGON2_SETTINGS)


class HashingBudget:
    """Paces one process's hashes so that, back to back, they keep its core busy at most ``duty`` of the time.

    A hash that took CPU time ``t`` is followed by a rest of ``t * (1 - duty) / duty`` before the next one starts;
    a hash that comes after the rest is over starts at once.
    """

    def __init__(
        self,
        duty: float,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.process_time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0 < duty <= 1:
            raise ValueError(f"a hashing duty is a share of the time, over 0 and at most 1, not {duty}")
        self._rest_per_busy = (1 - duty) / duty
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._sleep = sleep
        self._rested_at = clock()

    def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Wait out the rest the last hash earned, then run ``work``."""
        wait = self._rested_at - self._clock()
        if wait > 0:
            self._sleep(wait)
        busy_since = self._cpu_clock()
        try:
            return work(*args, **kwargs)
        finally:
            self._rested_at = self._clock() + (self._cpu_clock() - busy_since) * self._rest_per_busy


_BUDGET: list[HashingBudget] = []
"""The hashing process's own copy of its hasher's budget, set by its initializer (one per process, as its CPU is)."""


def _start_hashing_process(budget: HashingBudget, parent: int) -> None:
    """Run at the lowest priority, so the kernel runs the serving process (and the database) first.

    A process, not a thread: a low-priority thread still shares the server's GIL, and passlib's Python around
    each hash holds it, so a preempted hashing thread kept the event loop waiting for the lock (the read p99
    grew several-fold during a login storm). A child process has a GIL of its own.
    """
    exit_with_parent(parent)
    os.setpriority(os.PRIO_PROCESS, 0, HASHING_NICENESS)
    _BUDGET.append(budget)
    _crypt_context()


def _paced(work: Callable[..., T], *args: str) -> T:
    """In a hashing process: ``work`` within the process's budget."""
    return _BUDGET[0].run(work, *args)


def _ready() -> None:
    """Nothing: asked of a new pool, it makes the pool start its processes (each runs the initializer)."""


def _hash(password: str) -> str:
    return str(_crypt_context().hash(password))


def _verify(password: str, password_hash: str) -> tuple[bool, str | None]:
    context = _crypt_context()
    scheme = context.identify(password_hash, required=False)
    if scheme is None:
        return False, None
    secret = password.encode()[:BCRYPT_MAX_BYTES] if scheme == "bcrypt" else password
    try:
        matches = context.verify(secret, password_hash)
    except (ValueError, TypeError):  # a corrupt stored hash or a password over passlib's size limit
        return False, None
    if matches and context.needs_update(password_hash):
        return True, context.hash(password)  # the FULL password, not the truncated bcrypt input
    return matches, None


def default_concurrency() -> int:
    """One hashing process per CPU core, less one core kept for serving (at least one).

    argon2 runs one lane, so each process keeps at most one core busy. Even at the lowest priority a hash on
    every core delays the reads' wake-ups more than one core fewer (``bench --only logins``, A/B).
    """
    return max(1, (os.cpu_count() or 1) - 1)


class PasslibPasswordHasher(PasswordHasher):
    """argon2id for new hashes; bcrypt hashes still verify and are replaced on login.

    Every hash runs in one of ``max_concurrency`` low-priority child processes (spawned, not forked: the
    server has threads and an event loop a fork would copy mid-flight). At most ``max_waiting`` callers queue
    for a free one; any more, and any caller that waits longer than ``wait_seconds``, get ``Unavailable`` (503)
    instead of queueing without bound. Each process hashes back to back at most ``duty`` of the time
    (``HashingBudget``).
    """

    def __init__(
        self,
        max_concurrency: int | None = None,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        max_waiting: int | None = None,
        duty: float = HASHING_DUTY,
    ) -> None:
        self._budget = HashingBudget(duty)
        self._size = max_concurrency or default_concurrency()
        self._limiter = anyio.CapacityLimiter(self._size)
        self._processes = self._new_pool()
        self._wait_seconds = wait_seconds
        self._max_waiting = QUEUE_PER_PROCESS * self._size if max_waiting is None else max_waiting
        # A real hash of a random password, so a login for an unknown user costs one real verification.
        self._dummy_hash = _crypt_context().hash(secrets.token_urlsafe(16))

    def start(self) -> None:
        """Start every hashing process now, so that the first logins after a start wait for no process to spawn.

        Fire and forget: a process that fails to start breaks the pool, and the first login gets a fresh one.
        """
        for _ in range(self._size):
            self._processes.submit(_ready)

    def _new_pool(self) -> ProcessPoolExecutor:
        spawn = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(
            self._size, mp_context=spawn, initializer=_start_hashing_process, initargs=(self._budget, os.getpid())
        )

    async def hash(self, password: str) -> str:
        """A new argon2id hash of ``password``."""
        return await self._off_loop(_hash, password)

    async def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """Whether ``password`` matches; for a match against an outdated hash, also its argon2id hash."""
        return await self._off_loop(_verify, password, password_hash)

    async def dummy_verify(self) -> None:
        """Spend one argon2 verification (for unknown users)."""
        await self._off_loop(_verify, secrets.token_urlsafe(16), self._dummy_hash)

    async def _off_loop(self, work: Callable[..., T], *args: str) -> T:
        if self._limiter.available_tokens < 1 and self._limiter.statistics().tasks_waiting >= self._max_waiting:
            raise Unavailable("password hashing is busy; try again in a few seconds")
        try:
            with anyio.fail_after(self._wait_seconds):
                await self._limiter.acquire()
        except TimeoutError:
            raise Unavailable("password hashing is busy; try again in a few seconds") from None
        try:
            return await asyncio.get_running_loop().run_in_executor(self._processes, _paced, work, *args)
        except BrokenProcessPool:
            # A hashing process died (killed, out of memory): later logins get a fresh pool, this one a 503.
            self._processes = self._new_pool()
            raise Unavailable("password hashing restarted; try again in a few seconds") from None
        finally:
            self._limiter.release()


class ZxcvbnPasswordStrength(PasswordStrength):
    """zxcvbn's score, and its warning and suggestions as advice."""

    def estimate(self, password: str, user_inputs: Sequence[str]) -> tuple[int, str]:
        """Score 0 to 4 and advice, considering words the user is known by (their username)."""
        result = zxcvbn(password[:STRENGTH_INPUT_LIMIT], user_inputs=list(user_inputs), max_length=STRENGTH_INPUT_LIMIT)
        feedback = result.get("feedback", {})
        advice = [feedback.get("warning") or "", *feedback.get("suggestions", [])]
        return int(result["score"]), " ".join(part.strip() for part in advice if part and part.strip())
