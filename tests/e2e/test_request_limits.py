"""Issue 14, item 1: request heads are bounded in size, count and time on a served ``libdib serve``."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.e2e.served import Server, served

pytestmark = pytest.mark.long

LIMITS = {"LIBDIB_MAX_HEADER_BYTES": "4096", "LIBDIB_MAX_HEADERS": "50", "LIBDIB_REQUEST_TIMEOUT": "1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cwd = tmp_path_factory.mktemp("limits")
    env = {"LIBDIB_DATABASE_URL": f"sqlite+aiosqlite:///{cwd / 'libdib.sqlite3'}", **LIMITS}
    with served(cwd, env) as running:
        yield running


def exchange(server: Server, request: bytes, *, pause: float = 0) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` raw (in two halves when ``pause``), and read the answer until the server closes."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        try:
            if pause:
                connection.sendall(request[: len(request) // 2])
                time.sleep(pause)
                connection.sendall(request[len(request) // 2 :])
            else:
                connection.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and b"connection: close" not in answer.lower() and b"content-length" in answer:
                head, _, body = answer.partition(b"\r\n\r\n")
                length = int(
                    next(
                        line.split(b":")[1]
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    )
                )
                if len(body) >= length:
                    break
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def get(path: str, *headers: str) -> bytes:
    return ("\r\n".join([f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *headers]) + "\r\n\r\n").encode()


def test_a_plain_request_is_answered(server: Server) -> None:
    status, _, body = exchange(server, get("/health", "Connection: close"))

    assert status == 200, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(get("/health", "X-Big: " + "a" * 2_000_000), id="one-2-MB-header"),
        pytest.param(get("/health", *(f"X-{i}: {i}" for i in range(20_000))), id="20000-headers"),
        pytest.param(get("/health", *(f"X-{i}: {i}" for i in range(51))), id="51-headers"),
        pytest.param(get("/health?" + "q" * 5000), id="a-5-KB-url"),
    ],
)
def test_an_oversized_request_head_is_a_431_problem_document(server: Server, request_bytes: bytes) -> None:
    status, headers, body = exchange(server, request_bytes)

    assert status == 431, body
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == 431
    assert "exceed" in json.loads(body)["detail"] or "more than 50 header fields" in json.loads(body)["detail"]


def test_a_request_head_just_under_the_limits_is_answered(server: Server) -> None:
    status, _, body = exchange(server, get("/health", *(f"X-{i}: {'v' * 40}" for i in range(48)), "Connection: close"))

    assert status == 200, body


def test_a_request_that_is_not_http_is_a_400_problem_document(server: Server) -> None:
    status, headers, body = exchange(server, b"GARBAGE\x00\x01 / HTTP/9.9\r\n\r\n")

    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["detail"].startswith("the request is not valid HTTP/1.1")


def test_a_request_head_sent_too_slowly_is_a_408_and_the_connection_closes(server: Server) -> None:
    status, _, body = exchange(server, get("/health"), pause=3)

    assert status == 408, body


def test_a_connection_that_sends_nothing_is_closed_after_the_timeout(server: Server) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        started = time.monotonic()
        answer = connection.recv(65536)

    assert answer.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < 5


def test_a_body_that_stalls_closes_the_connection(server: Server) -> None:
    request = (
        b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"username": '
    )
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        started = time.monotonic()
        answer = connection.recv(65536)
        while chunk := connection.recv(65536):
            answer += chunk

    assert time.monotonic() - started < 5
    assert not answer.startswith(b"HTTP/1.1 2")


def test_no_refusal_logged_an_error(server: Server) -> None:
    exchange(server, get("/health", "X-Big: " + "a" * 200_000))

    assert '"level": "error"' not in server.output()
