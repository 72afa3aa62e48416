"""libdib served as a real process, for tests; the launcher lives in ``bench.served``, which the benchmark
uses too (the bench must not import the tests)."""

from __future__ import annotations

from bench.served import (
    START_TIMEOUT_SECONDS,
    Server,
    free_port,
    launch,
    served,
    start,
)

__all__ = [
    "START_TIMEOUT_SECONDS",
    "Server",
    "free_port",
    "launch",
    "served",
    "start",
]
