"""Read latency alone, then while 8 clients log in back to back.

Password hashing is deliberately slow CPU work; if it ran on the event loop (or starved it), every other
request would wait behind it. The reads go at a steady rate well below the peak, so their p99 shows that
waiting rather than the queueing of a saturated server.

The storm is what it says: 8 clients, each its own user (signed up by the bench) from its own source address
(127.0.0.2 to 127.0.0.9: loopback answers for all of 127.0.0.0/8), each logging in with the right password as
soon as its previous login answered. libdib keeps its default settings, so its per-address limits see 8
clients, not one; any answer but 200 (a 429 or 503 included) is a failure and is printed.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from bench import wrk
from bench.harness import LOGIN_PATH, Libdib

READ_RATE = 200
"""Reads per second: a quiet, steady background next to the peak of several thousand."""
READ_CONNECTIONS = 8
LOGIN_CLIENTS = 8
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


@dataclass(frozen=True)
class LoginResults:
    """The reads alone, the reads during the storm, and the storm's own logins."""

    alone: wrk.Result
    during: wrk.Result
    logins: StormResult

    @property
    def ratio(self) -> float:
        """How many times the read p99 grew while the logins ran."""
        return self.during.p99_ms / self.alone.p99_ms if self.alone.p99_ms else float("inf")


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


async def _storm(app: Libdib, seconds: float) -> StormResult:
    took: list[float] = []
    failures: Counter[int] = Counter()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_log_in_until(app, number, deadline, took, failures) for number in range(LOGIN_CLIENTS)))
    elapsed = time.perf_counter() - started
    percentiles = statistics.quantiles(took, n=100, method="inclusive") if len(took) > 1 else [0.0] * 99
    return StormResult(
        logins=len(took),
        seconds=elapsed,
        p50_ms=percentiles[49] * 1000,
        p99_ms=percentiles[98] * 1000,
        failures=dict(failures),
    )


def run(app: Libdib, seconds: float) -> LoginResults:
    """Measure read latency alone and during ``LOGIN_CLIENTS`` concurrent back-to-back logins."""
    reads = wrk.Load.authenticated(app.token, app.record_paths())
    sign_up_storm_users(app)
    # Unpaced first, so every path has been asked once: both measured phases read what a warm worker kept.
    wrk.run(app.url, reads, WARMUP_SECONDS, READ_CONNECTIONS)
    alone = wrk.run(app.url, reads, seconds, READ_CONNECTIONS, rate=READ_RATE)
    # The storm runs on a thread with its own event loop while wrk measures the reads from its own process.
    with ThreadPoolExecutor(1, "bench-login-storm") as thread:
        storm = thread.submit(asyncio.run, _storm(app, seconds + 2 * STORM_LEAD_SECONDS))
        time.sleep(STORM_LEAD_SECONDS)
        during = wrk.run(app.url, reads, seconds, READ_CONNECTIONS, rate=READ_RATE)
        return LoginResults(alone=alone, during=during, logins=storm.result())
