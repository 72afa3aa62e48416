"""uvicorn's httptools protocol with the limits it lacks: header size and count, and request deadlines.

httptools, as uvicorn runs it, buffers a request's headers without bound (a worker grew by 1 MiB per MiB
sent), and uvicorn gives no deadline for receiving them. This protocol counts the bytes of an unfinished
request head and its header fields, answers 431 past the limits, and closes a connection whose head is
not complete within ``request_timeout`` seconds or whose body pauses longer than that. Its refusals, and
uvicorn's own 400s, are RFC 9457 JSON like every other error.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PROBLEM_MEDIA_TYPE = b"application/problem+json"
LINGER_SECONDS = 2.0
"""How long a refused connection is read and dropped before it is closed."""


@dataclass(frozen=True)
class RequestLimits:
    """What one request may cost before it is refused or its connection closed."""

    max_header_bytes: int = 8192
    max_headers: int = 100
    request_timeout: float = 10.0


class HeadersTooLarge(Exception):
    """Raised from a parser callback to stop parsing a request whose head is over the limits."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with bounded request heads, deadlines and JSON refusals."""

    def __init__(self, *args: Any, limits: RequestLimits = RequestLimits(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._head_bytes = 0
        self._header_bytes = 0
        self._reading_head = True
        self._reading_body = False
        self._completed = 0
        """Requests completed on this connection: a chunk that completed one is no unfinished head."""
        self._refusal = HTTPStatus.BAD_REQUEST
        self._refusal_detail = "the request is not valid HTTP/1.1"
        self._deadline: asyncio.TimerHandle | None = None
        self._lingering = False
        """After a refusal: what the client still sends is read and dropped until the connection closes."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's head."""
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser, counting the bytes of a head that is still incomplete afterwards."""
        if self._lingering:
            return
        if self._reading_body:
            self._arm()  # the body's pause deadline starts again with every chunk
        elif self._deadline is None:
            self._arm()
        completed = self._completed
        super().data_received(data)
        unfinished = self._reading_head and completed == self._completed
        if unfinished and not self._lingering and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    f"the request line and headers exceed {self.limits.max_header_bytes:,} bytes",
                )

    def on_message_begin(self) -> None:
        """A new request: count its head from zero."""
        super().on_message_begin()
        self._reading_head = True
        self._head_bytes = self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        """Count the URL against the head's limit."""
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count each header field and its bytes; stop the parser past either limit."""
        self._count(len(name) + len(value))
        if len(self.headers) >= self.limits.max_headers:
            self._refusal = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
            self._refusal_detail = f"the request has more than {self.limits.max_headers} header fields"
            raise HeadersTooLarge
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """The head is complete: from now on only pauses in the body are timed."""
        self._reading_head = False
        self._reading_body = True
        self._arm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The request is complete: nothing is awaited from the client until its next request."""
        self._reading_body = False
        self._completed += 1
        self._disarm()
        super().on_message_complete()
        self._reading_head = True

    def send_400_response(self, msg: str) -> None:
        """Uvicorn's answer to a request it cannot parse, as a problem document (431 past our limits)."""
        status, detail = self._refusal, self._refusal_detail
        if status == HTTPStatus.BAD_REQUEST:
            detail = f"{detail}: {msg.rstrip('.').lower()}"
        body = json.dumps(
            {"type": "about:blank", "title": status.phrase, "status": int(status), "detail": detail}
        ).encode()
        head = [f"HTTP/1.1 {int(status)} {status.phrase}".encode()]
        head += [name + b": " + value for name, value in self.server_state.default_headers]
        head += [
            b"content-type: " + PROBLEM_MEDIA_TYPE,
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        # Closing at once, with the client's bytes unread, would make the kernel reset the connection and the
        # client lose the answer: end our side, drop what still comes for a moment, then close.
        self._disarm()
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.limits.max_header_bytes:
            self._refusal = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
            self._refusal_detail = f"the request line and headers exceed {self.limits.max_header_bytes:,} bytes"
            raise HeadersTooLarge

    def _refuse(self, status: HTTPStatus, detail: str) -> None:
        self._refusal, self._refusal_detail = status, detail
        self._disarm()
        self.send_400_response(detail)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.limits.request_timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        """The client took too long: answer 408 if no response has started, and close the connection."""
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._reading_head:
            self._refuse(
                HTTPStatus.REQUEST_TIMEOUT, f"the request was not received within {self.limits.request_timeout:g} s"
            )
        else:
            # The handler may be reading the body: closing makes uvicorn tell it the client disconnected.
            self.transport.close()
