"""Structured logs: JSON lines, or readable lines on a developer's terminal; one setup for the CLI and the server."""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

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


class AccessLine(msgspec.Struct, gc=False):
    """An access line's fields, in the order structlog writes the other lines' (event first, timestamp last)."""

    event: str
    method: str
    path: str
    status: int
    duration_ms: float
    request_id: str
    client: str | None
    level: str
    logger: str
    timestamp: str


Pending = tuple[str, str, tuple[str, int] | None, str, int, float, float]
"""What a request leaves to be logged: method, path, client address, request id, status, and when it started
and ended on ``time.perf_counter``'s clock. Plain values, not the scope: a queued scope would keep its whole
request alive into older garbage-collector generations. The line is made from these at the flush."""


class AccessLog:
    """The per-request access line: the shape of every other log line, without their processor chain.

    A request only queues what it already holds (a tuple and an append); its line is made and written at
    most ``FLUSH_SECONDS`` later with the lines after it: one encoder call and one write for many requests.
    The stdlib logger ``libdib.access`` still decides whether it is on (``LIBDIB_LOG_LEVEL`` above INFO turns
    it off). Where lines are rendered for a developer's terminal, access lines go through structlog like the
    others, at once.
    """

    def __init__(self) -> None:
        self._switch = logging.getLogger(ACCESS_LOGGER)
        self._pending: list[Pending] = []
        self._encode_lines = msgspec.json.Encoder().encode_lines
        self._second = -1
        self._second_text = ""
        atexit.register(self.flush)

    def enabled(self) -> bool:
        """Whether access lines are logged at the configured level."""
        return self._switch.isEnabledFor(logging.INFO)

    def log(self, scope: Mapping[str, Any], request_id: str, *, status: int, started: float, ended: float) -> None:
        """Queue the line of the request ``scope`` describes; it is written on the next flush."""
        request = (scope["method"], scope["path"], scope.get("client"), request_id, status, started, ended)
        if not RENDERING["json"]:
            structlog.get_logger(ACCESS_LOGGER).info(**dict(zip(FIELDS, _fields(request), strict=True)))
            return
        if not self._pending:
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
        self._pending.append(request)

    def flush(self) -> None:
        """Write every queued line to standard error."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        # A line's wall-clock time: its request's end on the monotonic clock, moved onto the wall clock.
        to_wall = time.time() - time.perf_counter()
        lines = [
            AccessLine(*_fields(request), "info", ACCESS_LOGGER, self._timestamp(to_wall + request[-1]))
            for request in pending
        ]
        sys.stderr.write(self._encode_lines(lines).decode())
        sys.stderr.flush()

    def _timestamp(self, now: float) -> str:
        """``now`` in ISO 8601, UTC, to the microsecond, as structlog's ``TimeStamper`` writes it."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._second_text}.{int((now - second) * 1_000_000):06d}Z"


FIELDS = AccessLine.__struct_fields__[:7]
"""A request's own fields of its access line: ``AccessLine``'s but the last three (level, logger, timestamp)."""


def _fields(request: Pending) -> tuple[str, str, str, int, float, str, str | None]:
    """A request's values of ``FIELDS``, in order: never a body, a header or a token.

    A tuple, not a mapping: at the flush the line is built from it positionally, with no dictionary per line.
    """
    method, path, client, request_id, status, started, ended = request
    return (
        "request",
        method,
        path,
        status,
        round((ended - started) * 1000, 2),
        request_id,
        client[0] if client else None,
    )
