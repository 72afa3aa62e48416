"""The access log: one JSON line per request, in the shape of every other log line, written in batches."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from libdib.entrypoints.logs import ACCESS_LOGGER, FLUSH_SECONDS, AccessLog, configure_logging

pytestmark = pytest.mark.anyio


def scope(path: str, client: tuple[str, int] | None = None) -> dict[str, Any]:
    """The parts of an HTTP request's ASGI scope the access line reads."""
    return {"type": "http", "method": "GET", "path": path, "client": client}


async def test_a_request_becomes_one_json_line_with_what_a_client_sent_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    log = AccessLog()
    assert log.enabled()

    ended = time.perf_counter()
    log.log(scope('/records/"1"\n'), "trace-12345678", status=404, started=ended - 0.00125, ended=ended)
    assert capsys.readouterr().err == "", "the line waits for the lines after it"
    await asyncio.sleep(FLUSH_SECONDS * 2)

    (line,) = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert (
        entry
        | {
            "event": "request",
            "method": "GET",
            "path": '/records/"1"\n',
            "status": 404,
            "duration_ms": 1.25,
            "request_id": "trace-12345678",
            "client": None,
            "level": "info",
            "logger": ACCESS_LOGGER,
        }
        == entry
    )
    assert entry["timestamp"].endswith("Z")
    written = datetime.fromisoformat(entry["timestamp"].removesuffix("Z")).replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - written).total_seconds()) < 5, "the time the request ended, on the wall clock"


async def test_lines_queued_together_are_written_together_and_a_flush_writes_what_is_left(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    log = AccessLog()
    for number in range(3):
        request = scope(f"/records/{number}", client=("::1", 51000))
        log.log(request, f"r{number}" * 8, status=200, started=1.0, ended=1.5)

    log.flush()

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["path"] for line in lines] == ["/records/0", "/records/1", "/records/2"]
    assert {(line["client"], line["duration_ms"]) for line in lines} == {("::1", 500.0)}


def test_a_log_level_above_info_turns_the_access_log_off() -> None:
    configure_logging("WARNING", json=True)
    try:
        assert not AccessLog().enabled()
    finally:
        logging.getLogger().setLevel(logging.INFO)


def test_on_a_developers_terminal_a_request_is_one_readable_line_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=False)
    log = AccessLog()

    log.log(scope("/records/7", client=("10.0.0.5", 40000)), "trace-87654321", status=201, started=2.0, ended=2.25)

    (line,) = capsys.readouterr().err.splitlines()
    assert "request" in line
    for field in ("method=GET", "path=/records/7", "status=201", "duration_ms=250.0", "request_id=trace-87654321"):
        assert field in line, line
    assert "client=10.0.0.5" in line
