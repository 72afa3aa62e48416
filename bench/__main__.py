"""``uv run python -m bench``: measure libdib against its ceiling and floors, and print one table.

Starts a scratch PostgreSQL database, libdib (1 worker) and a ceiling app on 127.0.0.1, drives them with
wrk from a separate process, and prints the table (also written to ``bench/results/latest.md``).
``--only http|load|logins`` runs one part. The machine should be otherwise idle: by default the suite
first waits (up to 10 minutes) for the 1-minute load average to fall below 0.7.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import load, logins, nodes, report, series, wrk
from bench.harness import (
    COMPARISON_PATH,
    LIST_PATH,
    Libdib,
    ceiling,
    libdib,
    run_sql,
    scratch_database,
    stop_cleanly_on_sigterm,
)
from bench.report import Row

ACCESS_LOG_BUDGET = 0.10
"""The most of a cached read's throughput the access log may cost."""
ACCESS_LOG_PAIRS = 6
"""Pairs of servers (one logging, one not) the access log's cost is measured on; their median is the figure.
An even number, so each side is started first as often."""
ACCESS_LOG_ROUNDS = 4
"""Alternating rounds per side and pair; an even number, so each side goes first as often."""
WARMUP_SECONDS = 3
IDLE_LOAD = 0.7
IDLE_WAIT_SECONDS = 600
ACCEPT_JSON = ("Accept", "application/json")
"""Sent with every read, so that the entity tag fetched for a revalidation is the one the reads get."""
STEAL_SPELLS = {
    "alone": "while the reads ran alone",
    "during": "during the logins",
    "elsewhere": "during the logins to the second libdib",
}
REVALIDATED_GOAL = 2.0
"""Any read revalidated with a matching ``If-None-Match`` (304, no body): at least this many times the ceiling."""


@dataclass(frozen=True)
class Read:
    """One read the table measures against the ceiling, plain and revalidated."""

    label: str
    paths: Callable[[Libdib], tuple[str, ...]]
    goal: float
    """Throughput at least this many times the ceiling's, with a p99 no worse than the ceiling's."""


READS = [
    Read("GET /records/{id}", Libdib.record_paths, 1.5),
    Read("GET /comparisons (one year, one age, with percent change)", lambda _: (COMPARISON_PATH,), 1.5),
    Read("GET /records?limit=100", lambda _: (LIST_PATH,), 0.8),
    Read(series.SERIES_LABEL, lambda _: (series.SERIES_PATH,), 0.8),
]
"""The reads of the table, in order; a new read (such as ``GET /series``) is one more entry here."""


def wait_for_idle(limit_seconds: float) -> float:
    """Wait until the 1-minute load average is below ``IDLE_LOAD`` (at most ``limit_seconds``); return it."""
    deadline = time.monotonic() + limit_seconds
    while os.getloadavg()[0] >= IDLE_LOAD and time.monotonic() < deadline:
        print(f"waiting for an idle machine: load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
        time.sleep(15)
    return os.getloadavg()[0]


def measured(base_url: str, target: wrk.Load, arguments: argparse.Namespace) -> wrk.Result:
    """A short warm-up, then the measured run; a run with any error is refused."""
    print(f"measuring {target.paths[0]} ... on {base_url}", file=sys.stderr)
    wrk.run(base_url, target, WARMUP_SECONDS, arguments.connections)
    result = wrk.run(base_url, target, arguments.duration, arguments.connections)
    if result.errors:
        raise RuntimeError(f"{result.errors} requests to {base_url} failed: {result}")
    return result


def warmed(app: Libdib, paths: tuple[str, ...]) -> None:
    """Ask every path once, so that the measured reads are the cached reads a worker serves once warm."""
    headers = {"Authorization": f"Bearer {app.token}", ACCEPT_JSON[0]: ACCEPT_JSON[1]}
    with httpx.Client(base_url=app.url, headers=headers, timeout=30) as client:
        for path in paths:
            client.get(path).raise_for_status()


def entity_tag(app: Libdib, path: str) -> str:
    """The ``ETag`` libdib answers ``path`` with, asked as the measured reads ask."""
    headers = {"Authorization": f"Bearer {app.token}", ACCEPT_JSON[0]: ACCEPT_JSON[1]}
    response = httpx.get(app.url + path, headers=headers, timeout=30)
    response.raise_for_status()
    return response.headers["etag"]


def http_rows(app: Libdib, dsn: str, arguments: argparse.Namespace) -> list[Row]:
    """The ceiling, then each read and its revalidation with their ratio to the ceiling."""
    with ceiling(dsn) as bare:
        paths = tuple(f"/rows/{record_id}" for record_id in app.record_ids)
        top = measured(bare.url, wrk.Load(paths=paths), arguments)
    rows = [http_row("ceiling: bare Litestar + asyncpg, GET /rows/{id}, no auth", top, top)]
    for read in READS:
        paths = read.paths(app)
        warmed(app, paths)
        result = measured(app.url, wrk.Load.authenticated(app.token, paths, ACCEPT_JSON), arguments)
        rows.append(http_row(read.label, result, top, read.goal))
        revalidation = ("If-None-Match", entity_tag(app, paths[0]))
        revalidated = measured(app.url, wrk.Load.authenticated(app.token, paths, ACCEPT_JSON, revalidation), arguments)
        rows.append(http_row(f"{read.label}, revalidated: 304", revalidated, top, REVALIDATED_GOAL))
    rows.append(series.chart_row(app, arguments.duration))
    return rows


def http_row(label: str, result: wrk.Result, ceiling: wrk.Result, goal: float | None = None) -> Row:
    """A read's throughput, latency and ratio to the ceiling; with its goal and verdict if it has one."""
    ratio = result.rate / ceiling.rate
    return Row(
        measurement=label,
        throughput=report.per_second(result.rate, "req"),
        p50=report.ms(result.p50_ms),
        p99=report.ms(result.p99_ms),
        ratio=f"{ratio:.2f}x ceiling",
        goal=f"≥ {goal:.1f}x ceiling, p99 ≤ ceiling's" if goal else "",
        met=(ratio >= goal and result.p99_ms <= ceiling.p99_ms) if goal else None,
    )


def log_off_row(dsn: str, password: str, arguments: argparse.Namespace) -> tuple[Row, str]:
    """``GET /records/{id}`` with the access log (as shipped) and with ``LIBDIB_LOG_LEVEL=WARNING``: what it costs.

    The cost is judged on the worker's CPU time per request: one busy worker serves at most one request per
    that much CPU, and unlike requests per wall second on a machine that wrk and the other server share, it
    does not swing with what else ran in a round. Two servers of the same code differ by several percent
    (their memory layouts and hash seeds differ), so ``ACCESS_LOG_PAIRS`` pairs are started one after the
    other, each measured in alternating rounds (on, off, off, on...), and the median pair's cost is the figure.
    """
    costs: list[float] = []
    results: dict[str, list[wrk.Result]] = {"on": [], "off": []}
    for pair in range(ACCESS_LOG_PAIRS):
        with contextlib.ExitStack() as servers:
            # Each side is started first in every other pair, so that starting first or second weighs on both.
            sides = ("on", "off") if pair % 2 == 0 else ("off", "on")
            settings = {"on": {}, "off": {"LOG_LEVEL": "WARNING"}}
            started = {side: servers.enter_context(libdib(dsn, password, **settings[side])) for side in sides}
            costs.append(_access_log_cost({"on": started["on"], "off": started["off"]}, results, arguments))
    cost = statistics.median(costs)
    with_log, without = (wrk.pooled(results[side]) for side in ("on", "off"))
    row = Row(
        measurement="GET /records/{id} with LIBDIB_LOG_LEVEL=WARNING (no access log)",
        throughput=report.per_second(without.rate, "req"),
        p50=report.ms(without.p50_ms),
        p99=report.ms(without.p99_ms),
        ratio=f"access log costs {cost:.1%} of CPU per request",
        goal="access log ≤ 10%",
        met=cost <= ACCESS_LOG_BUDGET,
    )
    note = (
        f"The access log (one line per request, on by default) costs {cost:.1%} of the worker's CPU per"
        f" GET /records/{{id}}: the median of {ACCESS_LOG_PAIRS} pairs of servers"
        f" ({', '.join(f'{each:.1%}' for each in costs)}), {ACCESS_LOG_ROUNDS} alternating rounds each."
        f" In requests per wall second, over all rounds: {report.per_second(with_log.rate, 'req')} with it,"
        f" {report.per_second(without.rate, 'req')} without; p99 {report.ms(with_log.p99_ms)} with it,"
        f" {report.ms(without.p99_ms)} without (over every round's requests)."
    )
    return row, note


def _access_log_cost(
    servers: dict[str, Libdib], results: dict[str, list[wrk.Result]], arguments: argparse.Namespace
) -> float:
    """One pair's cost: 1 - the quiet server's CPU per request / the logging one's, over alternating rounds."""
    loads = {side: wrk.Load.authenticated(app.token, app.record_paths(), ACCEPT_JSON) for side, app in servers.items()}
    for side, app in servers.items():
        wrk.run(app.url, loads[side], WARMUP_SECONDS, arguments.connections)
    cpu = dict.fromkeys(servers, 0.0)
    requests = dict.fromkeys(servers, 0)
    seconds = arguments.duration / ACCESS_LOG_ROUNDS
    for round_number in range(ACCESS_LOG_ROUNDS):
        for side in ("on", "off") if round_number % 2 == 0 else ("off", "on"):
            app = servers[side]
            before = cpu_seconds(app.pid)
            result = wrk.run(app.url, loads[side], seconds, arguments.connections, histogram=True)
            cpu[side] += cpu_seconds(app.pid) - before
            if result.errors:
                raise RuntimeError(f"{result.errors} requests to {app.url} failed: {result}")
            requests[side] += result.requests
            results[side].append(result)
    return 1 - (cpu["off"] / requests["off"]) / (cpu["on"] / requests["on"])


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time ``pid`` has used so far, all its threads included (Linux's ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def login_rows(app: Libdib, password: str, arguments: argparse.Namespace) -> tuple[list[Row], str]:
    """Read latency alone, during the login storm and during one on a second libdib; a note on how it was measured.

    The second libdib serves a scratch database of its own, its admin with ``password``.
    """
    print(
        f"measuring reads alone, then during {logins.LOGIN_CLIENTS} clients' logins here and elsewhere", file=sys.stderr
    )
    with scratch_database() as other_dsn, libdib(other_dsn, password) as elsewhere:
        results = logins.run(app, elsewhere, arguments.duration)
    sides = {"alone": results.alone, "during": results.during, "elsewhere": results.elsewhere}
    if any(side.reads.errors for side in sides.values()):
        raise RuntimeError(f"reads failed during the login benchmark: {results}")
    read = f"GET /records/{{id}} at {logins.READ_RATE} req/s"
    steal = ", ".join(f"{side.steal:.1%} {STEAL_SPELLS[name]}" for name, side in sides.items())
    note = (
        f"The reads alone, the reads while {logins.LOGIN_CLIENTS} clients log in and the reads while the same"
        f" clients log in to a second libdib on this machine take turns in {logins.ROUNDS} rounds of"
        f" {arguments.duration / logins.ROUNDS:.0f} s each, and each p99 is over all its rounds' reads. The second"
        " libdib's row shows what the logins cost the reads through the shared CPUs alone (hashing, clients,"
        " database); the gap to the row above it is the serving worker's own part. The host took this share of"
        f" the CPUs' time (steal): {steal}."
    )
    rows = [
        _reads_row(f"{read}, alone", results.alone.reads),
        _reads_row(
            f"{read}, while {logins.LOGIN_CLIENTS} clients log in back to back",
            results.during.reads,
            ratio=f"{results.ratio:.2f}x p99 alone",
            goal="p99 ≤ 2x alone",
            met=results.ratio <= 2,
        ),
        _storm_row("the logins themselves", results.logins),
        _reads_row(
            f"{read}, while the same clients log in to a second libdib on this machine",
            results.elsewhere.reads,
            ratio=f"{results.elsewhere_ratio:.2f}x p99 alone",
        ),
        _storm_row("the logins to the second libdib", results.elsewhere_logins),
    ]
    return rows, note


def _reads_row(measurement: str, reads: wrk.Result, ratio: str = "", goal: str = "", met: bool | None = None) -> Row:
    """The paced reads of one side: their rate and latencies, and its ratio and goal if it has them."""
    return Row(
        measurement=measurement,
        throughput=report.per_second(reads.rate, "req"),
        p50=report.ms(reads.p50_ms),
        p99=report.ms(reads.p99_ms),
        ratio=ratio,
        goal=goal,
        met=met,
    )


def _storm_row(what: str, storm: logins.StormResult) -> Row:
    """A storm's logins: their rate and times, and how many failed."""
    return Row(
        measurement=f"{what} ({storm.errors} failed)",
        throughput=report.per_second(storm.rate, "login"),
        p50=report.ms(storm.p50_ms),
        p99=report.ms(storm.p99_ms),
    )


def load_rows(results: load.LoadResults) -> list[Row]:
    """Parse, end-to-end load and the raw COPY floor of the generated workbook."""
    size = f"{results.rows:,} year rows, {results.workbook_bytes / report.MIB:.0f} MiB workbook"
    ratio = results.load.rate / results.copy.rate
    return [
        Row(
            measurement=f"parse ({size}): PolarsWorkbookReader alone",
            throughput=report.per_second(results.parse.rate, "row"),
            peak=report.mebibytes(results.parse.peak_bytes),
        ),
        Row(
            measurement="end-to-end `libdib load` into PostgreSQL, the first table of an empty database",
            throughput=report.per_second(results.load.rate, "row"),
            ratio=f"{ratio:.2f} of COPY",
            peak=report.mebibytes(results.load.peak_bytes),
            goal="≥ 0.50 of COPY, ≤ 1 GiB",
            met=ratio >= 0.5 and results.load.peak_bytes <= 1024 * report.MIB,
        ),
        Row(
            measurement="the same size of table for another race group, into the database that holds the first",
            throughput=report.per_second(results.beside.rate, "row"),
            ratio=f"{results.beside.rate / results.copy.rate:.2f} of COPY",
            peak=report.mebibytes(results.beside.peak_bytes),
        ),
        Row(
            measurement="floor: asyncpg COPY of the same rows into a bare table of the same shape",
            throughput=report.per_second(results.copy.rate, "row"),
            peak=report.mebibytes(results.copy.peak_bytes),
        ),
    ]


def main() -> None:
    """Run the chosen parts and publish the table."""
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--duration", type=float, default=15, help="seconds per HTTP measurement (default 15)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="year rows in the load workbook (default 1e6)")
    parser.add_argument("--only", choices=("http", "load", "logins", "nodes"), help="run one part only")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for an idle machine first")
    arguments = parser.parse_args()
    parts = {arguments.only} if arguments.only else {"http", "logins", "load"}
    wrk.executable()
    load_average = os.getloadavg()[0] if arguments.no_wait else wait_for_idle(IDLE_WAIT_SECONDS)
    rows: list[Row] = []
    notes: list[str] = []
    if parts == {"nodes"}:
        rows, notes = nodes.measure(arguments.duration, arguments.connections)
        context = (
            f"{report.machine(load_average, nodes.postgres_version())}. 1-3 `libdib serve --workers 2` nodes"
            f" behind HAProxy, PgBouncer (transaction mode) before the primary, a streaming replica; wrk: 1 thread,"
            f" {arguments.connections} connections, {arguments.duration:.0f} s per row after a 3 s warm-up."
        )
        report.publish(report.render(rows, context, notes))
        return
    with scratch_database() as dsn:
        postgres = run_sql(dsn, "SHOW server_version")
        password = secrets.token_urlsafe(24)
        if parts & {"http", "logins"}:
            with libdib(dsn, password) as app:
                if "http" in parts:
                    http = http_rows(app, dsn, arguments)
                    rows += http
                if "logins" in parts:
                    storm, note = login_rows(app, password, arguments)
                    rows += storm
                    notes.append(note)
            if "http" in parts:
                row, note = log_off_row(dsn, password, arguments)
                rows.insert(len(http), row)
                notes.append(note)
    if "load" in parts:
        print(f"generating a {arguments.rows:,}-row workbook, then parse, load and COPY", file=sys.stderr)
        with scratch_database() as dsn:
            rows += load_rows(load.run(arguments.rows, dsn))
    context = (
        f"{report.machine(load_average, postgres)}. libdib: `libdib serve --workers 1` on PostgreSQL with default"
        f" settings (access log on); wrk: 1 thread, {arguments.connections} connections,"
        f" {arguments.duration:.0f} s per HTTP row after a {WARMUP_SECONDS} s warm-up; the login rows read at a"
        f" steady {logins.READ_RATE} req/s over {logins.READ_CONNECTIONS} connections."
    )
    report.publish(report.render(rows, context, notes))


if __name__ == "__main__":
    main()
