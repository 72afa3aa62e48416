"""WorkbookFetcher: workbooks from files, directories and a local HTTP server, and what it refuses."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import suppress
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from libdib.adapters.sources import WorkbookFetcher
from libdib.domain.errors import SourceUnavailable
from libdib.domain.ports import Workbook
from tests.support.http_server import threaded_http_server

pytestmark = pytest.mark.anyio

WORKBOOK = b"PK\x03\x04 stands in for a workbook; the fetcher never opens it"
LIMIT = 1_000
RELEASE_SLOW_ANSWERS = threading.Event()


class Handler(BaseHTTPRequestHandler):
    """Answers /p08a.xlsx, /moved (a redirect to it), /big (over LIMIT, unannounced), /slow and 404 otherwise."""

    def do_GET(self) -> None:
        if self.path == "/p08a.xlsx":
            self.answer(200, WORKBOOK)
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/p08a.xlsx")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big":
            self.send_response(200)
            self.end_headers()  # no Content-Length to warn the client: the body runs until the connection ends
            with suppress(ConnectionError):
                for _ in range(10):
                    self.wfile.write(b"x" * 400)
        elif self.path == "/slow":
            RELEASE_SLOW_ANSWERS.wait(10)
            with suppress(ConnectionError):
                self.answer(200, WORKBOOK)
        else:
            self.answer(404, b"no such workbook")

    def answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The base URL of an HTTP server on 127.0.0.1 running in a thread."""
    with threaded_http_server(Handler) as url:
        try:
            yield url
        finally:
            # Before the server shuts down: it waits for the handlers still answering slowly.
            RELEASE_SLOW_ANSWERS.set()


def fetcher(timeout_seconds: float = 5, transport: httpx.AsyncBaseTransport | None = None) -> WorkbookFetcher:
    return WorkbookFetcher(timeout_seconds=timeout_seconds, max_bytes=LIMIT, transport=transport)


async def refusal(locations: list[str], timeout_seconds: float = 5) -> str:
    with pytest.raises(SourceUnavailable) as caught:
        await fetcher(timeout_seconds).fetch(locations)
    return str(caught.value)


async def test_a_file_path_gives_its_bytes_under_the_path_as_given(tmp_path: Path) -> None:
    (tmp_path / "p08a.xlsx").write_bytes(WORKBOOK)

    assert await fetcher().fetch([str(tmp_path / "p08a.xlsx")]) == [Workbook(str(tmp_path / "p08a.xlsx"), WORKBOOK)]


async def test_a_directory_gives_its_xlsx_files_sorted_by_name_and_nothing_else(tmp_path: Path) -> None:
    for name in ("p08w.xlsx", "p08a.XLSX", "notes.txt", "~$p08a.xlsx"):
        (tmp_path / name).write_bytes(name.encode())
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "p08b.xlsx").write_bytes(b"nested")

    workbooks = await fetcher().fetch([str(tmp_path)])

    assert workbooks == [
        Workbook(str(tmp_path / "p08a.XLSX"), b"p08a.XLSX"),
        Workbook(str(tmp_path / "p08w.xlsx"), b"p08w.xlsx"),
    ]


async def test_locations_are_fetched_in_the_order_given(tmp_path: Path, server: str) -> None:
    (tmp_path / "z.xlsx").write_bytes(b"z")

    workbooks = await fetcher().fetch([str(tmp_path / "z.xlsx"), f"{server}/p08a.xlsx"])

    assert [workbook.name for workbook in workbooks] == [str(tmp_path / "z.xlsx"), f"{server}/p08a.xlsx"]


async def test_a_missing_path_is_unavailable_by_name(tmp_path: Path) -> None:
    missing = str(tmp_path / "p08x.xlsx")

    assert await refusal([missing]) == f"{missing}: no such file or directory"


async def test_an_empty_directory_is_unavailable_by_name(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no workbooks here")

    assert await refusal([str(tmp_path)]) == f"{tmp_path}: the directory holds no .xlsx workbooks"


async def test_a_file_over_the_size_limit_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "huge.xlsx").write_bytes(b"x" * (LIMIT + 1))

    message = await refusal([str(tmp_path / "huge.xlsx")])

    assert message == f"{tmp_path / 'huge.xlsx'}: the workbook is 1,001 bytes, more than the limit of 1,000"


@pytest.mark.parametrize("location", ["", "ftp://example.org/p08a.xlsx"])
async def test_a_location_that_is_neither_path_nor_web_address_is_unavailable(location: str) -> None:
    assert await refusal([location]) == f"'{location}': expected a file path, a directory or an http(s) URL"


async def test_a_url_gives_the_downloaded_bytes_under_the_url(server: str) -> None:
    assert await fetcher().fetch([f"{server}/p08a.xlsx"]) == [Workbook(f"{server}/p08a.xlsx", WORKBOOK)]


async def test_a_redirect_is_followed(server: str) -> None:
    assert await fetcher().fetch([f"{server}/moved"]) == [Workbook(f"{server}/moved", WORKBOOK)]


async def test_a_url_answered_with_an_error_status_is_unavailable_naming_url_and_status(server: str) -> None:
    assert await refusal([f"{server}/p08q.xlsx"]) == f"{server}/p08q.xlsx: the server answered 404 Not Found"


async def test_a_download_growing_past_the_size_limit_is_stopped(server: str) -> None:
    assert await refusal([f"{server}/big"]) == f"{server}/big: the workbook is larger than the limit of 1,000 bytes"


async def test_a_server_slower_than_the_timeout_is_unavailable(server: str) -> None:
    message = await refusal([f"{server}/slow"], timeout_seconds=0.3)

    assert message == f"{server}/slow: no complete answer within 0.3 seconds"


async def test_a_server_that_refuses_connections_is_unavailable(server: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(SourceUnavailable) as caught:
        await fetcher(transport=httpx.MockTransport(refuse)).fetch(["https://www2.census.gov/p08a.xlsx"])

    assert str(caught.value) == "https://www2.census.gov/p08a.xlsx: cannot be downloaded (connection refused)"
