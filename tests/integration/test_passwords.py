"""The passlib hasher with real argon2 and bcrypt: upgrades, long passwords, bad hashes, and the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import bcrypt
import pytest

from libdib.adapters.passwords import PasslibPasswordHasher
from libdib.domain.errors import Unavailable

pytestmark = pytest.mark.anyio

PASSWORD = "quartz-lantern-migrates-slowly"
LONG_PASSWORD = "ünïcödé-" * 12  # 8 characters, 12 bytes, 12 times: 144 bytes, beyond bcrypt's 72


@pytest.fixture(scope="module")
def hasher() -> PasslibPasswordHasher:
    return PasslibPasswordHasher()


def legacy_bcrypt(password: str) -> str:
    """A hash as the first version stored it: bcrypt, which silently used only the first 72 bytes."""
    return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds=4)).decode()


async def test_new_hashes_are_argon2id_and_verify(hasher: PasslibPasswordHasher) -> None:
    password_hash = await hasher.hash(PASSWORD)

    assert password_hash.startswith("$argon2id$")
    assert await hasher.verify(PASSWORD, password_hash) == (True, None)
    assert await hasher.verify(PASSWORD + "!", password_hash) == (False, None)


async def test_a_bcrypt_hash_verifies_and_comes_back_upgraded_to_argon2id(hasher: PasslibPasswordHasher) -> None:
    matches, upgraded = await hasher.verify(PASSWORD, legacy_bcrypt(PASSWORD))

    assert matches
    assert upgraded is not None
    assert upgraded.startswith("$argon2id$")
    assert await hasher.verify(PASSWORD, upgraded) == (True, None)


async def test_a_wrong_password_against_bcrypt_gets_no_upgrade(hasher: PasslibPasswordHasher) -> None:
    assert await hasher.verify("not the password", legacy_bcrypt(PASSWORD)) == (False, None)


async def test_a_password_over_72_bytes_verifies_against_bcrypt_and_is_upgraded_in_full(
    hasher: PasslibPasswordHasher,
) -> None:
    matches, upgraded = await hasher.verify(LONG_PASSWORD, legacy_bcrypt(LONG_PASSWORD))

    assert matches
    assert upgraded is not None
    assert await hasher.verify(LONG_PASSWORD, upgraded) == (True, None)
    # The new hash covers every byte: the truncated prefix alone no longer matches.
    truncated = LONG_PASSWORD.encode()[:72].decode(errors="ignore")
    assert await hasher.verify(truncated, upgraded) == (False, None)


async def test_long_passwords_hash_and_verify_with_argon2(hasher: PasslibPasswordHasher) -> None:
    password_hash = await hasher.hash(LONG_PASSWORD)

    assert await hasher.verify(LONG_PASSWORD, password_hash) == (True, None)
    assert await hasher.verify(LONG_PASSWORD[:-1], password_hash) == (False, None)


@pytest.mark.parametrize(
    "stored",
    ["", "plaintext", "$argon2id$v=19$m=65536,t=3,p=4$garbage", "$2b$12$short", "$1$md5crypt$hash", "x" * 5000],
)
async def test_a_hash_it_cannot_read_is_a_mismatch_not_an_error(hasher: PasslibPasswordHasher, stored: str) -> None:
    assert await hasher.verify(PASSWORD, stored) == (False, None)


async def test_an_absurdly_long_password_is_a_mismatch_not_an_error(hasher: PasslibPasswordHasher) -> None:
    password_hash = await hasher.hash(PASSWORD)

    assert await hasher.verify("x" * 100_000, password_hash) == (False, None)


def hashing_cpu_seconds() -> float:
    """CPU time spent so far by this process's children (the hashing processes), from ``/proc``, in seconds.

    CPU time, unlike wall time, does not grow when other processes share the cores, so a ratio of it holds on
    a busy machine too; ``schedstat`` counts it in nanoseconds, finer than ``stat``'s clock ticks.
    """
    total = 0
    for child in multiprocessing.active_children():
        with contextlib.suppress(FileNotFoundError):
            total += int(Path(f"/proc/{child.pid}/schedstat").read_text().split()[0])
    return total / 1e9


@pytest.mark.skipif(sys.platform != "linux", reason="reads the hashing processes' CPU time from Linux's /proc")
async def test_a_dummy_verification_costs_about_as_much_as_a_real_one(hasher: PasslibPasswordHasher) -> None:
    password_hash = await hasher.hash(PASSWORD)

    async def best_of_three(work: Callable[[], Awaitable[object]]) -> float:
        times = []
        for _ in range(3):
            started = hashing_cpu_seconds()
            await work()
            times.append(hashing_cpu_seconds() - started)
        return min(times)

    real = await best_of_three(lambda: hasher.verify("wrong password!", password_hash))
    dummy = await best_of_three(hasher.dummy_verify)

    assert real > 0, "the verification ran in a hashing process"
    assert 0.5 < dummy / real < 2


@pytest.mark.skipif(sys.platform != "linux", reason="reads the hashing processes' CPU time from Linux's /proc")
async def test_hashes_back_to_back_keep_the_hashing_process_busy_at_most_its_duty() -> None:
    hasher = PasslibPasswordHasher(max_concurrency=1, max_waiting=4, wait_seconds=60, duty=0.25)
    await hasher.hash(PASSWORD)  # the process starts, and its imports are not counted below

    cpu_before, started = hashing_cpu_seconds(), time.perf_counter()
    async with anyio.create_task_group() as hashes:
        for _ in range(4):
            hashes.start_soon(hasher.hash, PASSWORD)
    hashing, elapsed = hashing_cpu_seconds() - cpu_before, time.perf_counter() - started

    # A quarter of the time: each hash earns three times its CPU time of rest, and three of them are waited out.
    assert hashing > 0
    assert elapsed >= 2.5 * hashing


async def test_hashing_does_not_block_the_event_loop() -> None:
    # All twelve queue and none is turned away, however long a busy machine makes them wait.
    hasher = PasslibPasswordHasher(max_waiting=12, wait_seconds=60)
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            await asyncio.sleep(0.01)
            ticks += 1

    async with anyio.create_task_group() as group:
        group.start_soon(ticker)
        started = time.perf_counter()
        async with anyio.create_task_group() as hashes:
            for _ in range(12):
                hashes.start_soon(hasher.hash, PASSWORD)
        elapsed = time.perf_counter() - started
        done = True

    # Twelve argon2 hashes take a few hundred milliseconds; a blocked loop would barely tick at all.
    assert elapsed > 0.1
    assert ticks >= elapsed / 0.01 * 0.5


async def test_callers_that_wait_too_long_for_a_hashing_slot_get_unavailable() -> None:
    hasher = PasslibPasswordHasher(max_concurrency=1, wait_seconds=0.01)

    async with anyio.create_task_group() as group:
        group.start_soon(hasher.hash, PASSWORD)
        await anyio.sleep(0.005)
        with pytest.raises(Unavailable, match="password hashing is busy"):
            await hasher.hash(PASSWORD)

    # The slot is released afterwards: hashing works again.
    assert (await hasher.hash(PASSWORD)).startswith("$argon2id$")


async def test_hashes_run_in_processes_that_yield_the_cpu_to_serving() -> None:
    # A hasher of its own: the processes it starts are told apart from other tests' children (a workbook reader).
    before = {child.pid for child in multiprocessing.active_children()}
    await PasslibPasswordHasher(max_concurrency=1).hash(PASSWORD)

    hashing = [child for child in multiprocessing.active_children() if child.pid not in before]
    assert hashing, "hashes run in child processes"
    assert {os.getpriority(os.PRIO_PROCESS, child.pid or 0) for child in hashing} == {19}
    assert os.getpriority(os.PRIO_PROCESS, 0) < 19


async def test_callers_past_the_queue_bound_are_turned_away_before_any_hash_finishes() -> None:
    hasher = PasslibPasswordHasher(max_concurrency=1, max_waiting=2)
    finished: list[str] = []
    refused: list[int] = []

    async def hash_or_refuse(caller: int) -> None:
        try:
            await hasher.hash(PASSWORD)
        except Unavailable:
            # Refused at once: no hash of the three admitted callers has finished yet.
            refused.append(len(finished))
        else:
            finished.append("hash")

    async with anyio.create_task_group() as group:
        for caller in range(6):
            group.start_soon(hash_or_refuse, caller)

    # One hashing, two waiting: the other three are refused without waiting for any of them.
    assert len(finished) == 3
    assert refused == [0, 0, 0]


async def test_starting_the_hasher_starts_its_processes_before_any_hash() -> None:
    before = {child.pid for child in multiprocessing.active_children()}
    PasslibPasswordHasher(max_concurrency=2).start()

    deadline = time.monotonic() + 30
    started: list[multiprocessing.process.BaseProcess] = []
    while len(started) < 2 and time.monotonic() < deadline:
        await anyio.sleep(0.05)
        started = [child for child in multiprocessing.active_children() if child.pid not in before]
    assert len(started) == 2, "one process per hashing slot, started without any hash asked"
