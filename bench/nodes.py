"""``--only nodes``: cached reads through HAProxy with 1, 2 and 3 ``libdib serve`` nodes (2 workers each).

The topology of ``tests/scale`` (a primary with a streaming replica, PgBouncer in transaction mode, nodes behind
HAProxy), all on this machine. More nodes cannot add CPU to a 2-core machine, so beside throughput each row
says where the CPU went (nodes, PostgreSQL, PgBouncer, HAProxy, wrk) and what the shared pieces did: the
primary's transactions per second (the epoch reads, mostly) and how long clients waited for PgBouncer.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import httpx

from bench import report, wrk
from bench.fleet import DATABASE, Daemon, haproxy, scaled
from bench.pgcluster import SUPERUSER, find_binaries
from bench.report import Row
from libdib.samples import sample_dir

ADMIN = ("bench-admin", "quartz-lantern-measures-slowly")
NODE_COUNTS = (1, 2, 3)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def postgres_version() -> str:
    """The major version of the PostgreSQL binaries the throwaway clusters run."""
    binaries = find_binaries()
    return binaries.parent.name if binaries else "not installed"


def _cpu_by_part(node_groups: set[int], postmaster: int) -> dict[str, float]:
    """CPU seconds used so far by each part of the topology (processes still alive)."""
    parts: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        parent, group = int(fields[1]), int(fields[2])
        seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        if group in node_groups:
            part = "nodes"
        elif int(entry.name) == postmaster or parent == postmaster:
            part = "PostgreSQL primary"
        elif command in ("pgbouncer", "haproxy"):
            part = command
        else:
            continue
        parts[part] = parts.get(part, 0.0) + seconds
    return parts


def _children_cpu() -> float:
    """CPU seconds of this process's finished children: wrk, which has exited by the time it is read."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _pooler_stats(pooler: Daemon) -> tuple[int, int]:
    """PgBouncer's total transactions and microseconds clients waited for a server connection, for the database."""
    command = ["psql", "-X", "-A", "-t", "-F", "|", "-h", "127.0.0.1", "-p", str(pooler.port), "-U", SUPERUSER]
    output = subprocess.run(
        [*command, "-d", "pgbouncer", "-c", "SHOW STATS"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    header = ["database", "total_xact_count", "total_query_count", "total_received", "total_sent",
              "total_xact_time", "total_query_time", "total_wait_time"]  # fmt: skip
    for line in output.splitlines():
        cells = dict(zip(header, line.split("|"), strict=False))
        if cells.get("database") == DATABASE:
            return int(cells["total_xact_count"]), int(cells["total_wait_time"])
    return 0, 0


def _record_paths(url: str, token: str) -> tuple[str, ...]:
    response = httpx.get(
        f"{url}/records?limit=100", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).raise_for_status()
    return tuple(f"/records/{item['id']}" for item in response.json()["items"])


def measure(duration: float, connections: int) -> tuple[list[Row], list[str]]:
    """One row per node count, and notes on where the CPU went."""
    rows: list[Row] = []
    notes: list[str] = []
    with scaled(max(NODE_COUNTS), admin=ADMIN, census_dir=sample_dir()) as running:
        fleet = running.fleet
        first = fleet.nodes[0].url
        token = (
            httpx.post(f"{first}/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}, timeout=30)
            .raise_for_status()
            .json()["access_token"]
        )
        headers = {"Authorization": f"Bearer {token}"}
        httpx.post(f"{first}/datasets/load", headers=headers, timeout=300).raise_for_status()
        paths = _record_paths(first, token)
        postmaster = int((running.primary.data_dir / "postmaster.pid").read_text().split()[0])
        groups = {node.process.pid for node in fleet.nodes}
        baseline: float | None = None
        for count in NODE_COUNTS:
            balancer = haproxy([int(node.url.rsplit(":", 1)[1]) for node in fleet.nodes[:count]])
            balancer.start()
            try:
                url = f"http://127.0.0.1:{balancer.port}"
                load = wrk.Load.authenticated(token, paths, ("Accept", "application/json"))
                print(f"measuring {count} node(s) through HAProxy", file=sys.stderr)
                wrk.run(url, load, 3, connections)
                cpu_before, pooled_before = _cpu_by_part(groups, postmaster), _pooler_stats(running.pooler)
                wrk_before = _children_cpu()
                result = wrk.run(url, load, duration, connections)
                cpu_after = {**_cpu_by_part(groups, postmaster), "wrk": _children_cpu() - wrk_before}
                pooled_after = _pooler_stats(running.pooler)
            finally:
                balancer.destroy()
            baseline = baseline or result.rate
            transactions = (pooled_after[0] - pooled_before[0]) / result.seconds
            waited_ms = (pooled_after[1] - pooled_before[1]) / 1000 / max(1, pooled_after[0] - pooled_before[0])
            rows.append(
                Row(
                    # Reported, not refused: on a shared machine a request may time out; the count says so.
                    measurement=f"GET /records/{{id}} through HAProxy, {count} node(s) x 2 workers"
                    f" ({result.errors} errors)",
                    throughput=report.per_second(result.rate, "req"),
                    p50=report.ms(result.p50_ms),
                    p99=report.ms(result.p99_ms),
                    ratio=f"{result.rate / baseline:.2f}x one node",
                )
            )
            cpu = ", ".join(
                f"{part} {(cpu_after[part] - cpu_before.get(part, 0.0)) / result.seconds:.2f}"
                for part in sorted(cpu_after)
            )
            notes.append(
                f"{count} node(s): CPU cores busy by part: {cpu}. Through PgBouncer: {transactions:.0f} transactions/s"
                f" (mostly the epoch polls of all {len(fleet.nodes) * 2} workers, balanced to or not),"
                f" {waited_ms:.3f} ms average wait for a server connection."
            )
    return rows, notes
