"""Loading a million-row P-8 workbook: parse alone, ``libdib load`` end to end, and a raw COPY as the floor.

Each measurement runs in its own process, so its peak resident memory is its own (``wait4`` reports the
rusage of exactly that child). The children are this module's ``parse`` and ``copy`` modes and
``python -m libdib load``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.harness import child_environment, sqlalchemy_url
from libdib.adapters.workbook import PolarsWorkbookReader
from libdib.domain.census import CensusTable, Observation
from libdib.domain.ports import Workbook

MIB = 1024 * 1024
FLOOR_TABLE = "copy_floor"
FLOOR_COLUMNS = ("dataset_id", "race", "constant_dollar_year", *Observation._fields)
"""Every column libdib writes for a record, in its order (the id comes from the table's own default, as in libdib)."""
MEASURE_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class Measured:
    """Rows handled, wall-clock seconds and the peak resident memory of the process that did it."""

    rows: int
    seconds: float
    peak_bytes: int

    @property
    def rate(self) -> float:
        """Rows per second."""
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class LoadResults:
    """The load measurements of one run."""

    rows: int
    workbook_bytes: int
    parse: Measured
    load: Measured
    """The first load, into a database with no census data yet."""
    beside: Measured
    """A load of another race group's table of the same size into the database that now holds the first."""
    copy: Measured


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run ``command`` to completion: its wall-clock seconds, its own peak RSS in bytes, and its output."""
    environment = child_environment(env)
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=environment, stdout=output, stderr=subprocess.STDOUT)
        watchdog = threading.Timer(MEASURE_TIMEOUT_SECONDS, process.kill)
        watchdog.start()
        # wait4 (not Popen.wait) returns the rusage of this child alone; ru_maxrss is in KiB on Linux.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        watchdog.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}:\n{text[-4000:]}")
    return seconds, usage.ru_maxrss * 1024, text


def child_report(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run one of this module's modes; it times its own work and prints ``{"rows", "seconds"}`` last."""
    _, peak, output = measure(command, env)
    report = json.loads(output.strip().splitlines()[-1])
    return Measured(rows=report["rows"], seconds=report["seconds"], peak_bytes=peak)


def run(rows: int, dsn: str) -> LoadResults:
    """Generate a workbook of ``rows`` year rows and measure parse, ``libdib load`` and COPY on ``dsn``."""
    from bench import p8  # only the parent generates; the measured children stay lean

    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        path, other = Path(folder) / "p08-bench.xlsx", Path(folder) / "p08-bench-white.xlsx"
        p8.write_large_workbook(path, rows=rows)
        p8.write_large_workbook(other, rows=rows, race="white")
        size = path.stat().st_size
        parse = child_report([sys.executable, "-m", "bench.load", "parse", str(path)])
        env = {
            "LIBDIB_DATABASE_URL": sqlalchemy_url(dsn),
            "LIBDIB_LOG_LEVEL": "WARNING",
            # The default 10 MiB limit is for uploads; this workbook is larger on purpose.
            "LIBDIB_MAX_UPLOAD_BYTES": str(max(10 * MIB, 2 * size)),
        }
        measure([sys.executable, "-m", "libdib", "migrate"], env)
        seconds, peak, _ = measure([sys.executable, "-m", "libdib", "load", str(path)], env)
        beside_seconds, beside_peak, _ = measure([sys.executable, "-m", "libdib", "load", str(other)], env)
        copy = child_report([sys.executable, "-m", "bench.load", "copy", str(path), dsn])
    load = Measured(rows=parse.rows, seconds=seconds, peak_bytes=peak)
    beside = Measured(rows=parse.rows, seconds=beside_seconds, peak_bytes=beside_peak)
    return LoadResults(rows=parse.rows, workbook_bytes=size, parse=parse, load=load, beside=beside, copy=copy)


def read(path: Path) -> CensusTable:
    """The workbook as libdib reads it."""
    return PolarsWorkbookReader(max_unpacked_bytes=1024 * MIB).read(Workbook(str(path), path.read_bytes()))


def parse_mode(path: Path) -> None:
    """Child mode: time ``PolarsWorkbookReader`` alone on ``path``."""
    started = time.perf_counter()
    table = read(path)
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": len(table.observations), "seconds": seconds}))


async def copy_mode(path: Path, dsn: str) -> None:
    """Child mode: COPY the parsed rows into a bare table shaped like ``income_records`` (timed from COPY on)."""
    table = read(path)
    head = (1, table.race, table.constant_dollar_year)
    rows = [head + observation for observation in table.observations]
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f"CREATE TABLE {FLOOR_TABLE} (LIKE income_records INCLUDING ALL)")
        started = time.perf_counter()
        async with connection.transaction():
            await connection.copy_records_to_table(FLOOR_TABLE, records=rows, columns=FLOOR_COLUMNS)
        seconds = time.perf_counter() - started
        await connection.execute(f"DROP TABLE {FLOOR_TABLE}")
    finally:
        await connection.close()
    print(json.dumps({"rows": len(rows), "seconds": seconds}))


def main() -> None:
    """Entry point of the child modes (``parse PATH`` and ``copy PATH DSN``)."""
    parser = argparse.ArgumentParser(description="child processes of the load benchmark")
    modes = parser.add_subparsers(dest="mode", required=True)
    modes.add_parser("parse").add_argument("path", type=Path)
    copy = modes.add_parser("copy")
    copy.add_argument("path", type=Path)
    copy.add_argument("dsn")
    arguments = parser.parse_args()
    if arguments.mode == "parse":
        parse_mode(arguments.path)
    else:
        asyncio.run(copy_mode(arguments.path, arguments.dsn))


if __name__ == "__main__":
    main()
