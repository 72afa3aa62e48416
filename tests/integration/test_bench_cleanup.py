"""A bench ended by SIGTERM (``timeout``, a CI deadline) leaves nothing behind, as one ended by Ctrl-C does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import asyncpg
import pytest

from tests import databases

pytestmark = pytest.mark.postgres

HOLD_A_SCRATCH_DATABASE = textwrap.dedent(
    """
    import signal, sys
    from bench.harness import scratch_database, stop_cleanly_on_sigterm

    stop_cleanly_on_sigterm()
    with scratch_database(sys.argv[1]) as dsn:
        print(dsn.rsplit("/", 1)[1], flush=True)
        signal.pause()
    """
)


async def _databases_named(name: str) -> int:
    connection = await asyncpg.connect(databases.SERVER_URL, timeout=5)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name))
    finally:
        await connection.close()


def test_a_bench_terminated_by_sigterm_drops_its_scratch_database(postgres_server: None) -> None:
    bench = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_SCRATCH_DATABASE, databases.SERVER_URL],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert bench.stdout is not None
    name = bench.stdout.readline().strip()
    try:
        assert name.startswith("libdib_bench_"), f"the bench printed {name!r}, not its database's name"
        assert databases.outside_loop(lambda: _databases_named(name)) == 1

        bench.send_signal(signal.SIGTERM)

        assert bench.wait(timeout=30) == 128 + signal.SIGTERM, "the bench exits with the shell's code for SIGTERM"
        assert databases.outside_loop(lambda: _databases_named(name)) == 0, "its scratch database was dropped"
    finally:
        bench.kill()
        bench.wait()
        if name.startswith("libdib_bench_"):
            databases.drop_database(name)
