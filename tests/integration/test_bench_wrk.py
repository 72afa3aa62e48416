"""The bench pools wrk's runs by their latencies, so alternating rounds of two loads compare like with like."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import pytest
from bench import wrk

from tests.support.http_server import threaded_http_server


def _run(requests: int, latencies: list[tuple[int, int]]) -> wrk.Result:
    """A run of ``requests`` with the histogram ``latencies`` (µs, count); its own percentiles as wrk would give."""
    histogram = tuple(latencies)
    return wrk.Result(
        requests=requests,
        seconds=1.0,
        p50_ms=wrk.percentile(histogram, 50) / 1000,
        p99_ms=wrk.percentile(histogram, 99) / 1000,
        max_ms=max(value for value, _ in histogram) / 1000,
        socket_errors=0,
        status_errors=1,
        histogram=histogram,
    )


def test_a_percentile_is_the_least_latency_that_many_requests_took_no_longer_than() -> None:
    histogram = [(100, 98), (900, 1), (5_000, 1)]

    assert wrk.percentile(histogram, 50) == 100
    assert wrk.percentile(histogram, 98) == 100
    assert wrk.percentile(histogram, 99) == 900
    assert wrk.percentile(histogram, 100) == 5_000
    assert wrk.percentile([], 99) == 0


def test_pooled_runs_take_their_percentiles_over_every_request_not_the_worst_run() -> None:
    quiet = _run(100, [(1_000, 100)])
    noisy = _run(100, [(1_000, 97), (8_000, 3)])

    pooled = wrk.pooled([quiet, noisy])

    assert (pooled.requests, pooled.seconds, pooled.status_errors) == (200, 2.0, 2)
    assert noisy.p99_ms == 8.0
    # Three slow requests in 200 are 1.5% of them, so the pooled p99 is slow; in 500 they are 0.6%, and it is not,
    # where the worst run's p99 would still say 8 ms.
    assert pooled.p99_ms == 8.0
    assert wrk.pooled([_run(400, [(1_000, 400)]), noisy]).p99_ms == 1.0
    assert pooled.max_ms == 8.0
    assert pooled.histogram == ((1_000, 197), (8_000, 3))


def test_only_runs_that_kept_their_latencies_can_be_pooled() -> None:
    without = wrk.Result(requests=10, seconds=1.0, p50_ms=1.0, p99_ms=2.0, max_ms=2.0, socket_errors=0, status_errors=0)

    with pytest.raises(ValueError, match="histogram"):
        wrk.pooled([without])


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *_: object) -> None:
        """Quiet: the test reads wrk's numbers, not the server's log."""


@pytest.fixture
def hello_url() -> Iterator[str]:
    with threaded_http_server(_Hello) as url:
        yield url


class _KeepsAccept(_Hello):
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers["Accept"])
        super().do_GET()


@pytest.mark.long
def test_a_unique_accept_is_never_sent_twice_across_runs_and_threads() -> None:
    """A kept answer must serve no request of a measured run, not even one its warm-up run left."""
    load = wrk.Load(paths=("/",), unique_accept="image/svg+xml")
    with threaded_http_server(_KeepsAccept) as url:
        for _ in range(2):
            wrk.run(url, load, 1, 2, threads=2, rate=200)

    seen = _KeepsAccept.seen
    assert len(seen) > 20
    assert all(accept.startswith("image/svg+xml;") for accept in seen)
    assert len(set(seen)) == len(seen)


@pytest.mark.long
def test_a_paced_wrk_run_keeps_every_requests_latency_and_two_such_runs_pool(hello_url: str) -> None:
    load = wrk.Load(paths=("/",))

    runs = [wrk.run(hello_url, load, 1, 2, rate=100, histogram=True) for _ in range(2)]

    for run in runs:
        assert run.requests > 0
        assert sum(count for _, count in run.histogram) == run.requests
        # wrk's own p99 and ours, from the histogram it printed, agree to its microsecond.
        assert wrk.percentile(run.histogram, 99) / 1000 == pytest.approx(run.p99_ms, abs=0.002)
    pooled = wrk.pooled(runs)
    assert pooled.requests == sum(run.requests for run in runs)
    assert min(run.p99_ms for run in runs) <= pooled.p99_ms <= max(run.p99_ms for run in runs)
    assert wrk.run(hello_url, load, 1, 2, rate=100).histogram == ()
