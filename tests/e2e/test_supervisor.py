"""``serve --workers N``: its workers end with it, however it ends, and a worker that cannot start fails it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.served import start

# Each case starts libdib's supervisor and its workers as separate processes: the long tier.
pytestmark = pytest.mark.long

GONE_WITHIN = 10.0
"""A worker checks for its supervisor twice a second; ample on a loaded machine."""


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def gone(pid: int) -> bool:
    """Whether ``pid`` has ended (a zombie no one has reaped yet has ended too)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def test_workers_end_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    server = start(tmp_path, {"LIBDIB_DATABASE_URL": ""}, workers=2)
    try:
        workers = children(server.process.pid)
        assert len(workers) >= 2, server.output()

        os.kill(server.process.pid, signal.SIGKILL)  # the supervisor alone, as a crash or the OOM killer would
        server.process.wait(timeout=10)
        deadline = time.monotonic() + GONE_WITHIN
        while not all(gone(worker) for worker in workers) and time.monotonic() < deadline:
            time.sleep(0.1)

        assert all(gone(worker) for worker in workers), "a worker went on serving without its supervisor"
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{server.url}/health", timeout=2)
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever is left of the group, should the test fail
            os.killpg(server.process.pid, signal.SIGKILL)


def test_workers_that_cannot_start_make_the_supervisor_exit_with_a_failure(tmp_path: Path) -> None:
    run_workers_of_a_broken_app = (
        "import socket, uvicorn\n"
        "from libdib.entrypoints.cli import _serve\n"
        "config = uvicorn.Config('libdib:no_such_app', factory=True, workers=2, log_config=None)\n"
        "listening = socket.socket()\n"
        "listening.bind(('127.0.0.1', 0))\n"
        "_serve(config, listening)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", run_workers_of_a_broken_app],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3, result.stderr
