"""The series rows: ``GET /series`` as JSON beside the other reads, and the p50 of its SVG chart, uncached.

The question is the issue's: two races, one sex, one bracket, every year, ``compare=difference``. The chart is
asked by one connection at a time, after a warm-up; each request draws anew: no ``If-None-Match`` is sent, and each
carries an ``Accept`` of its own, so no kept answer serves it.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from bench import report, wrk
from bench.harness import Libdib
from bench.report import Row

SERIES_PATH = "/series?races=asian,white&sex=female&age_range=25-34&compare=difference"
SERIES_LABEL = "GET /series (two races, one sex, one bracket, all years, difference, JSON)"
CHART_PATH = f"{SERIES_PATH}&format=svg"
CHART_P50_LIMIT_MS = 50.0
CHART_WARMUP_SECONDS = 10


def chart_row(app: Libdib, seconds: float) -> Row:
    """The SVG chart of the series question: throughput and latency with one connection."""
    print(f"measuring {CHART_PATH} on {app.url}", file=sys.stderr)
    load = replace(wrk.Load.authenticated(app.token, (CHART_PATH,)), unique_accept="image/svg+xml")
    wrk.run(app.url, load, CHART_WARMUP_SECONDS, 1)
    result = wrk.run(app.url, load, seconds, 1)
    if result.errors:
        raise RuntimeError(f"{result.errors} chart requests failed: {result}")
    return Row(
        measurement="GET /series ... &format=svg (the same question as a chart), 1 connection, uncached",
        throughput=report.per_second(result.rate, "req"),
        p50=report.ms(result.p50_ms),
        p99=report.ms(result.p99_ms),
        goal=f"p50 < {CHART_P50_LIMIT_MS:.0f} ms",
        met=result.p50_ms < CHART_P50_LIMIT_MS,
    )
