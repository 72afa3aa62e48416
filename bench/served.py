"""Run ``libdib serve`` as a real process for end-to-end tests, and stop it (gently or with SIGKILL)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from libdib.config import DEVELOPMENT_JWT_SECRET

START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A running ``libdib serve`` process."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: no graceful shutdown, as in a crash."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def launch(
    command: list[str], cwd: Path, environment: dict[str, str], port: int, ready_path: str = "/health"
) -> Server:
    """Start ``command`` in its own process group and wait until ``GET ready_path`` answers 200."""
    log = cwd / f"serve-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=cwd, env=environment, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{' '.join(command)} exited with {process.returncode}:\n{server.output()}")
        try:
            if httpx.get(server.url + ready_path, timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"{' '.join(command)} did not become ready in {START_TIMEOUT_SECONDS} s:\n{server.output()}")


def start(cwd: Path, env: dict[str, str], workers: int = 1, port: int | None = None) -> Server:
    """Start ``python -m libdib serve`` in ``cwd`` and wait until ``/health`` answers 200."""
    port = port or free_port()
    environment = {**os.environ, "LIBDIB_JWT_SECRET": DEVELOPMENT_JWT_SECRET, **env}
    command = [sys.executable, "-m", "libdib", "serve", "--port", str(port), "--workers", str(workers)]
    return launch(command, cwd, environment, port)


@contextmanager
def served(cwd: Path, env: dict[str, str], workers: int = 1) -> Iterator[Server]:
    """A server for the duration of the block."""
    server = start(cwd, env, workers)
    try:
        yield server
    finally:
        server.stop()
