"""The soak: libdib under a steady half of its peak for minutes, with no errors and no memory growth.

``uv run python -m bench.soak [--minutes 10] [--rate R]`` serves libdib (1 worker) on a scratch PostgreSQL
database, measures its peak on a mix of reads unless ``--rate`` is given, then drives half of it at a
constant rate while sampling the server's resident memory every few seconds. It passes when no request
failed (no socket error, timeout or 4xx/5xx) and the memory at the end is at most 10% above the memory
after the first minute; it exits non-zero otherwise.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from dataclasses import dataclass

from bench import wrk
from bench.harness import (
    COMPARISON_PATH,
    LIST_PATH,
    POSTGRES_URL,
    Libdib,
    libdib,
    resident_bytes,
    scratch_database,
    stop_cleanly_on_sigterm,
)

PEAK_SECONDS = 10
PEAK_CONNECTIONS = 32
SOAK_CONNECTIONS = 32
SAMPLE_SECONDS = 5.0
GROWTH_LIMIT = 0.10
MIB = 1024 * 1024
LONG_TOKEN_TTL = "7200"  # noqa: S105 - a duration, not a secret
"""Seconds an access token lives: long enough for a soak of minutes on one token."""


@dataclass(frozen=True)
class Sample:
    """The server's resident memory at some time into the soak."""

    seconds: float
    rss: int


@dataclass(frozen=True)
class SoakResult:
    """What the soak drove, what came back, and how the server's memory moved."""

    rate: float
    peak: float | None
    load: wrk.Result
    samples: tuple[Sample, ...]
    baseline: Sample
    final: Sample

    @property
    def growth(self) -> float:
        """The final memory relative to the baseline, as a fraction (0.03 is 3% more)."""
        return self.final.rss / self.baseline.rss - 1

    @property
    def passed(self) -> bool:
        """No failed request, and memory at most ``GROWTH_LIMIT`` above the baseline (shrinking is fine)."""
        return self.load.errors == 0 and self.growth <= GROWTH_LIMIT

    def summary(self) -> str:
        """A few lines for a person."""
        verdict = "PASS" if self.passed else "FAIL"
        return "\n".join(
            (
                f"soak {verdict}: {self.load.requests:,} requests in {self.load.seconds:.0f} s"
                f" at a target of {self.rate:.0f} req/s (achieved {self.load.rate:.0f} req/s)"
                + (f", half the measured peak of {self.peak:.0f} req/s" if self.peak else ""),
                f"  errors: {self.load.socket_errors} socket/timeout, {self.load.status_errors} 4xx/5xx",
                f"  latency: p50 {self.load.p50_ms:.1f} ms, p99 {self.load.p99_ms:.1f} ms,"
                f" max {self.load.max_ms:.1f} ms",
                f"  server RSS: {self.baseline.rss / MIB:.1f} MiB at {self.baseline.seconds:.0f} s,"
                f" {self.final.rss / MIB:.1f} MiB at the end ({self.growth:+.1%}; limit +{GROWTH_LIMIT:.0%})",
            )
        )


def mixed_load(app: Libdib) -> wrk.Load:
    """Mostly records by id, with a comparison and a page of records among every ten requests."""
    records = app.record_paths()
    paths: list[str] = []
    for start in range(0, len(records), 8):
        paths += [*records[start : start + 8], COMPARISON_PATH, LIST_PATH]
    return wrk.Load.authenticated(app.token, tuple(paths))


def peak(app: Libdib, seconds: float = PEAK_SECONDS) -> float:
    """Requests per second libdib serves on the mixed load with ``PEAK_CONNECTIONS`` busy connections."""
    return wrk.run(app.url, mixed_load(app), seconds, PEAK_CONNECTIONS).rate


def soak(app: Libdib, seconds: float, rate: float, baseline_after: float, peak: float | None = None) -> SoakResult:
    """Drive ``rate`` req/s for ``seconds``; the memory baseline is the first sample after ``baseline_after``."""
    samples: list[Sample] = []
    with wrk.RunningWrk(app.url, mixed_load(app), seconds, SOAK_CONNECTIONS, rate=rate) as running:
        started = time.monotonic()
        while not running.done() and time.monotonic() - started < seconds + 30:
            time.sleep(SAMPLE_SECONDS - (time.monotonic() - started) % SAMPLE_SECONDS)
            samples.append(Sample(time.monotonic() - started, resident_bytes(app.pid)))
        load = running.result()
    samples.append(Sample(time.monotonic() - started, resident_bytes(app.pid)))
    baseline = next((sample for sample in samples if sample.seconds >= baseline_after), samples[0])
    return SoakResult(rate=rate, peak=peak, load=load, samples=tuple(samples), baseline=baseline, final=samples[-1])


def run(
    seconds: float, rate: float | None = None, baseline_after: float = 60, server_url: str = POSTGRES_URL
) -> SoakResult:
    """Serve libdib on a scratch database and soak it at ``rate`` (default: half the measured peak)."""
    with (
        scratch_database(server_url) as dsn,
        libdib(dsn, password=secrets.token_urlsafe(24), ACCESS_TOKEN_TTL=LONG_TOKEN_TTL) as app,
    ):
        if rate is not None:
            return soak(app, seconds, rate, baseline_after)
        measured = peak(app)
        return soak(app, seconds, measured / 2, baseline_after, measured)


def main() -> None:
    """``python -m bench.soak``: print the summary; exit 1 when the soak failed."""
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10, help="how long to soak (default 10)")
    parser.add_argument("--rate", type=float, help="requests per second (default: half the measured peak)")
    parser.add_argument(
        "--baseline-after", type=float, default=60, help="seconds before the memory baseline is taken (default 60)"
    )
    arguments = parser.parse_args()
    result = run(arguments.minutes * 60, arguments.rate, arguments.baseline_after)
    print(result.summary())
    sys.exit(0 if result.passed else 1)


if __name__ == "__main__":
    main()
