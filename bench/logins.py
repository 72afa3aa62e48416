"""Read latency alone, then while 8 clients log in back to back.

Password hashing is deliberately slow CPU work; if it ran on the event loop (or starved it), every other
request would wait behind it. The reads go at a steady rate well below the peak, so their p99 shows that
waiting rather than the queueing of a saturated server.

The storm is what it says: 8 clients, each its own user (signed up by the bench) from its own source address
(127.0.0.2 to 127.0.0.9: loopback answers for all of 127.0.0.0/8), each logging in with the right password as
soon as its previous login answered. libdib keeps its default settings, so its per-address limits see 8
clients, not one; any answer but 200 (a 429 or 503 included) is a failure and is printed.

The reads alone and the reads during the storm alternate in short rounds, and each side's p99 is taken over all
its rounds' reads. A virtual machine's speed drifts (its host takes CPU time from it, the "steal" of
``/proc/stat``, and more at some times than others): one long run of each side would compare two spells of the
machine rather than the two loads. The steal of each side is measured and reported with the ratio.

A third side sends the same storm to a second libdib on the same machine (its own database), while the reads go
on to the first. Its reads share the CPUs with everything a login costs (the hashing, the clients, the database)
but not the serving worker's event loop: the gap between the two sides is the worker's own part.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import wrk
from bench.harness import LOGIN_PATH, Libdib

READ_RATE = 200
"""Reads per second: a quiet, steady background next to the peak of several thousand."""
READ_CONNECTIONS = 8
LOGIN_CLIENTS = 8
ROUNDS = 3
"""Rounds of reads alone then reads during the storm; the measured seconds are shared between them."""
WARMUP_SECONDS = 3.0
STORM_LEAD_SECONDS = 1.0
"""The logins start this long before the reads are measured, and end after them."""
STORM_PASSWORD = secrets.token_urlsafe(18)
"""Random: strong enough for the sign-up policy, and free of every storm username."""


@dataclass(frozen=True)
class StormResult:
    """The storm's logins: how many answered 200, how long they took, and every other answer by status."""

    logins: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failures: dict[int, int]
    """Status code (0 for a connection error) to how many logins answered it."""

    @property
    def rate(self) -> float:
        """Successful logins per second."""
        return self.logins / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        """Logins that did not answer 200."""
        return sum(self.failures.values())


@dataclass
class Steal:
    """How much of the CPUs' time the host took from this machine, over the spells measured."""

    stolen: int = 0
    total: int = 0
    """Clock ticks of every CPU, stolen ones included."""

    @property
    def share(self) -> float:
        """The stolen part of the time, 0 to 1."""
        return self.stolen / self.total if self.total else 0.0

    @contextmanager
    def counting(self) -> Iterator[None]:
        """Add the steal of the block's spell."""
        stolen, total = _cpu_ticks()
        yield
        stolen_after, total_after = _cpu_ticks()
        self.stolen += stolen_after - stolen
        self.total += total_after - total


def _cpu_ticks() -> tuple[int, int]:
    """All CPUs' stolen ticks, and all their ticks, so far (``/proc/stat``'s first line; guest time is in user)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return ticks[7], sum(ticks)


@dataclass(frozen=True)
class Side:
    """The reads of one side, pooled over its rounds, and the steal while they ran."""

    reads: wrk.Result
    steal: float
    """The share of the CPUs' time the host took while the reads ran (see ``Steal``)."""


@dataclass(frozen=True)
class LoginResults:
    """The reads alone, during the storm and during the storm on another server, and both storms' logins."""

    alone: Side
    during: Side
    elsewhere: Side
    """The reads while the same storm went to a second libdib on this machine."""
    logins: StormResult
    elsewhere_logins: StormResult

    @property
    def ratio(self) -> float:
        """How many times the read p99 grew while the logins ran."""
        return _p99_ratio(self.during.reads, self.alone.reads)

    @property
    def elsewhere_ratio(self) -> float:
        """How many times the read p99 grew while the logins went to the other server."""
        return _p99_ratio(self.elsewhere.reads, self.alone.reads)


def _p99_ratio(measured: wrk.Result, alone: wrk.Result) -> float:
    return measured.p99_ms / alone.p99_ms if alone.p99_ms else float("inf")


def client_address(client: int) -> str:
    """The loopback address client ``client`` (0-based) connects from: 127.0.0.2 onwards, never the reads' own."""
    return f"127.0.0.{client + 2}"


def storm_username(client: int) -> str:
    """The user client ``client`` logs in as."""
    return f"bench-storm-{client}"


def sign_up_storm_users(app: Libdib) -> None:
    """Create each storm client's user (the bench serves a scratch database: none exists yet)."""
    with httpx.Client(base_url=app.url, timeout=60) as client:
        for number in range(LOGIN_CLIENTS):
            answer = client.post("/users", json={"username": storm_username(number), "password": STORM_PASSWORD})
            if answer.status_code != 201:
                raise RuntimeError(f"signing up a storm user answered {answer.status_code}: {answer.text}")


async def _log_in_until(app: Libdib, number: int, deadline: float, took: list[float], failures: Counter[int]) -> None:
    """One client: log in back to back from its own address until ``deadline``."""
    body = json.dumps({"username": storm_username(number), "password": STORM_PASSWORD})
    transport = httpx.AsyncHTTPTransport(local_address=client_address(number))
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=app.url, transport=transport, timeout=30) as client:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                answer = await client.post(LOGIN_PATH, content=body, headers=headers)
            except httpx.HTTPError as error:
                print(f"storm login from {client_address(number)} failed: {error!r}", file=sys.stderr)
                failures[0] += 1
                continue
            if answer.status_code == 200:
                took.append(time.perf_counter() - started)
            else:
                where = client_address(number)
                print(f"storm login from {where} answered {answer.status_code}: {answer.text}", file=sys.stderr)
                failures[answer.status_code] += 1
                # As a client would: wait as told, rather than spin on instant refusals the reads then compete with.
                await asyncio.sleep(float(answer.headers.get("Retry-After", 1)))


@dataclass
class Storm:
    """What the storm's rounds have seen so far: each successful login's time, and every other answer."""

    took: list[float] = field(default_factory=list)
    failures: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0

    async def log_in_for(self, app: Libdib, seconds: float) -> None:
        """Every client logs in back to back for ``seconds``."""
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            *(_log_in_until(app, number, deadline, self.took, self.failures) for number in range(LOGIN_CLIENTS))
        )
        self.seconds += time.perf_counter() - started

    def result(self) -> StormResult:
        """The rounds' logins as one."""
        took = self.took
        percentiles = statistics.quantiles(took, n=100, method="inclusive") if len(took) > 1 else [0.0] * 99
        return StormResult(
            logins=len(took),
            seconds=self.seconds,
            p50_ms=percentiles[49] * 1000,
            p99_ms=percentiles[98] * 1000,
            failures=dict(self.failures),
        )


def run(app: Libdib, elsewhere: Libdib, seconds: float) -> LoginResults:
    """Measure ``app``'s read latency alone, during a storm of ``LOGIN_CLIENTS`` on it and during one on ``elsewhere``.

    Each side reads for ``seconds`` in all, over ``ROUNDS`` rounds that take the three sides in turn.
    """
    reads = wrk.Load.authenticated(app.token, app.record_paths())
    sign_up_storm_users(app)
    sign_up_storm_users(elsewhere)
    # Unpaced first, so every path has been asked once: every measured side reads what a warm worker kept.
    wrk.run(app.url, reads, WARMUP_SECONDS, READ_CONNECTIONS)
    here, there = Storm(), Storm()
    storms: dict[str, tuple[Storm, Libdib] | None] = {
        "alone": None,
        "during": (here, app),
        "elsewhere": (there, elsewhere),
    }
    runs: dict[str, list[wrk.Result]] = {side: [] for side in storms}
    steal = {side: Steal() for side in storms}
    for _ in range(ROUNDS):
        for side, storm in storms.items():
            with steal[side].counting():
                runs[side].append(_paced_reads(app, reads, seconds / ROUNDS, storm))
    sides = {side: Side(wrk.pooled(runs[side]), steal[side].share) for side in storms}
    return LoginResults(
        alone=sides["alone"],
        during=sides["during"],
        elsewhere=sides["elsewhere"],
        logins=here.result(),
        elsewhere_logins=there.result(),
    )


def _paced_reads(app: Libdib, reads: wrk.Load, seconds: float, storm: tuple[Storm, Libdib] | None) -> wrk.Result:
    """``app``'s reads at ``READ_RATE`` for ``seconds``; with a ``storm``, while it logs in to its server.

    The logins start ``STORM_LEAD_SECONDS`` before the reads and end as long after them.
    """
    if storm is None:
        return wrk.run(app.url, reads, seconds, READ_CONNECTIONS, rate=READ_RATE, histogram=True)
    # The storm runs on a thread with its own event loop while wrk measures the reads from its own process.
    with ThreadPoolExecutor(1, "bench-login-storm") as thread:
        logins, target = storm
        storming = thread.submit(asyncio.run, logins.log_in_for(target, seconds + 2 * STORM_LEAD_SECONDS))
        time.sleep(STORM_LEAD_SECONDS)
        result = wrk.run(app.url, reads, seconds, READ_CONNECTIONS, rate=READ_RATE, histogram=True)
        storming.result()
    return result
