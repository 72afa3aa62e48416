"""Structured logs: JSON lines, or readable lines on a developer's terminal; one setup for the CLI and the server."""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import time
from datetime import UTC, datetime

import msgspec
import structlog


def _drop_color_message(
    _logger: object, _method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Uvicorn passes a copy of its message with ANSI colour codes as ``extra``; the plain one is enough."""
    event_dict.pop("color_message", None)
    return event_dict


RENDERING = {"json": True}
"""How ``configure_logging`` last chose to render lines; the access log follows it."""
SHARED_PROCESSORS: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    _drop_color_message,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str = "INFO", *, production: bool = False, json: bool | None = None) -> None:
    """Route stdlib and structlog records through one renderer.

    JSON lines for machines: in production, and wherever stderr is not a terminal; readable lines for a
    developer at a terminal.
    """
    if json is None:
        json = production or not sys.stderr.isatty()
    RENDERING["json"] = json
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=SHARED_PROCESSORS,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        ),
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore", "alembic"):
        # One line per request comes from libdib's own middleware (with the request id); alembic says every step.
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # libdib says itself, in one plain line, that it is waiting for the database; stamina would repeat it.
    logging.getLogger("stamina").setLevel(logging.ERROR)
    structlog.configure(
        # Drop a record below the level first, before the processors stamp a line the handler would discard.
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


ACCESS_LOGGER = "libdib.access"
FLUSH_SECONDS = 0.05
"""How long an access line may wait to be written with the lines after it."""


class AccessLog:
    """The per-request access line: the shape of every other log line, without their processor chain.

    Its fields are fixed, so the line is laid out directly (only the values a client chooses are JSON-encoded),
    its timestamp reuses the formatted second it falls in, and lines are written together at most
    ``FLUSH_SECONDS`` after the first of them, one write for many requests. The stdlib logger
    ``libdib.access`` still decides whether it is on (``LIBDIB_LOG_LEVEL`` above INFO turns it off). Where
    lines are rendered for a developer's terminal, access lines go through structlog like the others.
    """

    def __init__(self) -> None:
        self._switch = logging.getLogger(ACCESS_LOGGER)
        self._lines: list[str] = []
        self._encode = msgspec.json.Encoder().encode
        self._second = -1
        self._second_text = ""
        atexit.register(self.flush)

    def enabled(self) -> bool:
        """Whether access lines are logged at the configured level."""
        return self._switch.isEnabledFor(logging.INFO)

    def log(
        self, method: str, path: str, *, status: int, duration_ms: float, request_id: str, client: str | None
    ) -> None:
        """Queue one line; it is written on the next flush."""
        if not RENDERING["json"]:
            fields = {"status": status, "duration_ms": duration_ms, "request_id": request_id, "client": client}
            structlog.get_logger(ACCESS_LOGGER).info("request", method=method, path=path, **fields)
            return
        encode = self._encode
        if not self._lines:
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
        self._lines.append(
            f'{{"event":"request","method":{encode(method).decode()},"path":{encode(path).decode()},'
            f'"status":{status},"duration_ms":{duration_ms},"request_id":{encode(request_id).decode()},'
            f'"client":{encode(client).decode()},"level":"info","logger":"{ACCESS_LOGGER}",'
            f'"timestamp":"{self._timestamp()}"}}'
        )

    def flush(self) -> None:
        """Write every queued line to standard error."""
        if self._lines:
            lines, self._lines = self._lines, []
            sys.stderr.write("\n".join(lines) + "\n")
            sys.stderr.flush()

    def _timestamp(self) -> str:
        """The time in ISO 8601, UTC, to the microsecond, as structlog's ``TimeStamper`` writes it."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._second_text}.{int((now - second) * 1_000_000):06d}Z"
