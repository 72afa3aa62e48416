"""The database goes away under a steady stream of requests: libdib answers 503 at once, then heals by itself."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import pytest

from libdib.adapters.lease import LEASE_SECONDS as REVOCATION_LEASE_SECONDS
from tests.faults.conftest import Deployment

pytestmark = [pytest.mark.long, pytest.mark.postgres]

REQUESTS_PER_SECOND = 20
CLIENT_TIMEOUT_SECONDS = 2.0
"""Longer than any answer may take, so a hang shows up as a timeout instead of stalling the test."""
ANSWER_WITHIN_SECONDS = 1.0
"""The requirement: with the database down, every request is answered (503) within a second."""
RECOVER_WITHIN_SECONDS = 5.0
"""The requirement: once the database is back, libdib serves again within 5 s, without a restart."""
OUTAGE_SECONDS = 3.0
OPEN, READ_ME, READ_RECORDS = "/health", "/users/me", "/records?limit=5"


@dataclass(frozen=True)
class Probe:
    """One request of the loop: when it was sent, how long it took, and what came back."""

    path: str
    sent_at: float
    latency: float
    status: int | None
    error: str | None

    def __str__(self) -> str:
        outcome = self.status if self.error is None else self.error
        return f"{self.path} at {self.sent_at:.2f} s: {outcome} in {self.latency * 1000:.0f} ms"


class SteadyLoop(threading.Thread):
    """Sends a health check and two authenticated reads, in turn, at a fixed rate until stopped."""

    def __init__(self, base_url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.probes: list[Probe] = []
        self.started_at = time.monotonic()
        self._stopping = threading.Event()

    def run(self) -> None:
        paths = (OPEN, READ_ME, READ_RECORDS)
        with httpx.Client(base_url=self.base_url, timeout=CLIENT_TIMEOUT_SECONDS) as client:
            for tick in itertools.count():
                due = self.started_at + tick / REQUESTS_PER_SECOND
                if self._stopping.wait(max(0.0, due - time.monotonic())):
                    return
                self.probes.append(self._probe(client, paths[tick % len(paths)]))

    def _probe(self, client: httpx.Client, path: str) -> Probe:
        sent = time.monotonic()
        try:
            status, error = client.get(path, headers=self.headers).status_code, None
        except httpx.TransportError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
        return Probe(path, sent - self.started_at, time.monotonic() - sent, status, error)

    def now(self) -> float:
        """Seconds since the loop started, on the probes' time line."""
        return time.monotonic() - self.started_at

    def stop(self) -> list[Probe]:
        """Stop sending and return every probe."""
        self._stopping.set()
        self.join(timeout=CLIENT_TIMEOUT_SECONDS + 5)
        return self.probes


def listing(probes: Sequence[Probe]) -> str:
    return "\n".join(map(str, probes))


def max_latency(probes: Sequence[Probe]) -> float:
    return max((p.latency * 1000 for p in probes), default=0.0)


def seconds(at: float | None, since: float) -> str:
    return "never" if at is None else f"{at - since:.2f} s"


def test_a_database_outage_gives_quick_503s_and_service_resumes_without_a_restart(deployment: Deployment) -> None:
    server = deployment.serve()
    token = deployment.log_in(server)["access_token"]
    loop = SteadyLoop(server.url, token)
    loop.start()
    time.sleep(1.5)
    stop_requested = loop.now()
    deployment.cluster.stop()
    stopped = loop.now()
    time.sleep(OUTAGE_SECONDS)
    start_requested = loop.now()
    deployment.cluster.start()
    started = loop.now()
    time.sleep(RECOVER_WITHIN_SECONDS + 1.5)
    probes = loop.stop()

    before = [p for p in probes if p.sent_at + p.latency < stop_requested]
    during = [p for p in probes if stopped <= p.sent_at and p.sent_at + p.latency < start_requested]
    after = {
        path: [p for p in probes if p.path == path and p.sent_at >= started] for path in (OPEN, READ_ME, READ_RECORDS)
    }
    recovered = {path: next((p.sent_at for p in answers if p.status == 200), None) for path, answers in after.items()}
    print(  # the numbers behind the verdict, for `pytest -s` and reports
        f"outage: {len(probes)} requests; {len(during)} while down, slowest {max_latency(during):.0f} ms;"
        f" back after {', '.join(f'{path} {seconds(at, started)}' for path, at in recovered.items())}"
    )

    assert server.process.poll() is None, f"libdib died during the outage:\n{server.output()}"
    failed = [p for p in probes if p.error is not None or p.status not in (200, 503)]
    assert not failed, f"every request gets 200 or 503 (no 500, no reset, no timeout):\n{listing(failed)}"
    assert before, "the loop ran before the outage"
    assert {p.status for p in before} == {200}, f"healthy before the outage:\n{listing(before)}"

    assert len(during) >= OUTAGE_SECONDS * REQUESTS_PER_SECOND / 2, "the loop kept its pace during the outage"
    # A worker may answer from what its views hold until the lease of its last epoch read runs out: only reads
    # (the token's user, census answers it already gave), and never past the lease.
    remembered = [p for p in during if p.status == 200]
    assert all(p.path != OPEN and p.sent_at < stopped + REVOCATION_LEASE_SECONDS for p in remembered), (
        f"nothing but the views answer while the database is down:\n{listing(remembered)}"
    )
    settled = [p for p in during if p.sent_at >= stopped + REVOCATION_LEASE_SECONDS]
    assert {p.status for p in settled} == {503}, f"503 while the database is down:\n{listing(settled)}"
    slow = [p for p in during if p.latency >= ANSWER_WITHIN_SECONDS]
    assert not slow, f"every answer during the outage within {ANSWER_WITHIN_SECONDS} s:\n{listing(slow)}"

    for path, answers in after.items():
        back = recovered[path]
        assert back is not None, f"{path} serves again after the outage:\n{listing(answers)}"
        assert back - started <= RECOVER_WITHIN_SECONDS, f"{path} recovery too slow:\n{listing(answers)}"
        relapses = [p for p in answers if p.sent_at > back and p.status != 200]
        assert not relapses, f"{path} keeps serving once recovered:\n{listing(relapses)}"


FLAPS = 5
"""Stops and starts in a row: each start and stop has a moment when PostgreSQL refuses connections."""


def test_a_flapping_database_gives_no_500_and_no_hang(deployment: Deployment) -> None:
    server = deployment.serve()
    loop = SteadyLoop(server.url, deployment.log_in(server)["access_token"])
    loop.start()
    for _ in range(FLAPS):
        time.sleep(0.4)
        deployment.cluster.stop()
        time.sleep(0.4)
        deployment.cluster.start()
    settled = loop.now() + RECOVER_WITHIN_SECONDS
    time.sleep(RECOVER_WITHIN_SECONDS + 1)
    probes = loop.stop()

    failed = [p for p in probes if p.error is not None or p.status not in (200, 503)]
    assert not failed, f"every request gets 200 or 503 (no 500, no reset, no timeout):\n{listing(failed)}"
    slow = [p for p in probes if p.latency >= ANSWER_WITHIN_SECONDS]
    assert not slow, f"every answer within {ANSWER_WITHIN_SECONDS} s:\n{listing(slow)}"
    late = [p for p in probes if p.sent_at >= settled]
    assert late, "the loop ran after the database settled"
    assert {p.status for p in late} == {200}, f"serving again:\n{listing(late)}"
