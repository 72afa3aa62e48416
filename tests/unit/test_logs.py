"""Log lines: JSON for machines and production, plain lines for a developer's terminal, no colour codes in JSON."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from libdib.entrypoints.logs import AccessLog, configure_logging


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def emit(monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, **options: bool) -> str:
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("INFO", **options)
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 42, extra={"color_message": "\x1b[36m42\x1b[0m"}
    )
    return stream.getvalue()


def test_a_terminal_in_development_gets_readable_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    output = emit(monkeypatch, Terminal())
    assert "Started server process [42]" in output
    assert not output.lstrip().startswith("{")
    assert "\x1b" not in output


def test_production_logs_json_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    line = json.loads(emit(monkeypatch, Terminal(), production=True).strip())
    assert line["event"] == "Started server process [42]"
    assert "color_message" not in line


def test_a_pipe_gets_json_without_colour_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    output = emit(monkeypatch, io.StringIO())
    assert json.loads(output.strip())["level"] == "info"
    assert "\x1b" not in output


@pytest.mark.anyio
async def test_a_terminal_in_development_gets_readable_access_lines_too(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    configure_logging("INFO")

    request = {"type": "http", "method": "GET", "path": "/records/1", "client": None}
    AccessLog().log(request, "trace-12345678", status=200, started=1.0, ended=1.0005)

    assert "/records/1" in terminal.getvalue()
    assert not terminal.getvalue().lstrip().startswith("{")
