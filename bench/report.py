"""The benchmark's one table, in markdown: printed, and written to ``bench/results/latest.md``."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import REPO

RESULTS = REPO / "bench" / "results" / "latest.md"
MIB = 1024 * 1024
COLUMNS = ("measurement", "throughput", "p50", "p99", "ratio", "peak memory", "goal", "verdict")


@dataclass(frozen=True)
class Row:
    """One line of the table; empty cells stay empty."""

    measurement: str
    throughput: str = ""
    p50: str = ""
    p99: str = ""
    ratio: str = ""
    peak: str = ""
    goal: str = ""
    met: bool | None = None

    def cells(self) -> tuple[str, ...]:
        """The row's cells in ``COLUMNS`` order."""
        verdict = {True: "met", False: "**missed**", None: ""}[self.met]
        return (self.measurement, self.throughput, self.p50, self.p99, self.ratio, self.peak, self.goal, verdict)


def ms(value: float) -> str:
    """Milliseconds, two significant decimals under 10 ms."""
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def per_second(value: float, unit: str) -> str:
    """A rate with thousands separators."""
    return f"{value:,.0f} {unit}/s"


def mebibytes(value: int) -> str:
    """A memory size in MiB."""
    return f"{value / MIB:,.0f} MiB"


def machine(load_average: float, postgres: str) -> str:
    """The machine, in one line: CPU, cores, memory, versions, and the load average before the run."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory_kib / MIB:.0f} GiB; {platform.system()} {platform.release()};"
        f" Python {platform.python_version()}; PostgreSQL {postgres}; {_version(['wrk', '-v'])};"
        f" 1-minute load average {load_average:.2f} at the start and {os.getloadavg()[0]:.2f} at the end"
    )


def render(rows: list[Row], context: str, notes: list[str]) -> str:
    """The whole report: a heading with date and machine, the table, then the notes."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"### libdib benchmark, {stamp}", "", context, ""]
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|" + "---|" * len(COLUMNS))
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines).rstrip() + "\n"


def publish(text: str) -> Path:
    """Print the report and keep it in ``bench/results/latest.md`` (git-ignored)."""
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    return RESULTS


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return f"{command[0]} not found"
    first = (done.stdout or done.stderr).strip().splitlines()
    # "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) ..." -> "wrk debian/4.1.0-3+b2"
    return first[0].split(" [")[0] if first else command[0]
