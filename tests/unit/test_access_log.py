"""The access log: one JSON line per request, in the shape of every other log line, written in batches."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from libdib.entrypoints.logs import ACCESS_LOGGER, FLUSH_SECONDS, AccessLog, configure_logging

pytestmark = pytest.mark.anyio


async def test_a_request_becomes_one_json_line_with_what_a_client_sent_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    log = AccessLog()
    assert log.enabled()

    log.log("GET", '/records/"1"\n', status=404, duration_ms=1.25, request_id="trace-12345678", client=None)
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


async def test_lines_queued_together_are_written_together_and_a_flush_writes_what_is_left(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    log = AccessLog()
    for number in range(3):
        log.log("GET", f"/records/{number}", status=200, duration_ms=0.5, request_id=f"r{number}" * 8, client="::1")

    log.flush()

    assert [json.loads(line)["path"] for line in capsys.readouterr().err.splitlines()] == [
        "/records/0",
        "/records/1",
        "/records/2",
    ]


def test_a_log_level_above_info_turns_the_access_log_off() -> None:
    configure_logging("WARNING", json=True)
    try:
        assert not AccessLog().enabled()
    finally:
        logging.getLogger().setLevel(logging.INFO)
