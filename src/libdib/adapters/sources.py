"""Fetches workbooks named by file paths, directories or http(s) URLs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anyio
import anyio.to_thread
import httpx

from libdib.domain.datasets import public_source
from libdib.domain.errors import SourceUnavailable
from libdib.domain.ports import Workbook, WorkbookSource

WEB_SCHEMES = ("http://", "https://")


class WorkbookFetcher(WorkbookSource):
    """Reads workbooks from the file system (off the event loop) and downloads them with httpx.

    ``timeout_seconds`` bounds each download as a whole; ``max_bytes`` bounds each workbook. Tests can
    pass an httpx ``transport`` to answer downloads without a network.
    """

    def __init__(
        self, timeout_seconds: float, max_bytes: int, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._timeout_seconds = timeout_seconds
        self._max_bytes = max_bytes
        self._transport = transport

    async def fetch(self, locations: Sequence[str]) -> list[Workbook]:
        """Every workbook the locations name, in their order; a directory gives its ``*.xlsx`` files by name."""
        workbooks: list[Workbook] = []
        for location in locations:
            if location.lower().startswith(WEB_SCHEMES):
                workbooks.append(await self._download(location))
            elif "://" in location or not location.strip():
                raise SourceUnavailable(f"'{location}': expected a file path, a directory or an http(s) URL")
            else:
                workbooks.extend(await anyio.to_thread.run_sync(self._read_files, location))
        return workbooks

    async def _download(self, url: str) -> Workbook:
        """The workbook at ``url``, named (in messages too) without the URL's credentials or query."""
        name = public_source(url)
        try:
            with anyio.fail_after(self._timeout_seconds):
                async with (
                    httpx.AsyncClient(
                        timeout=self._timeout_seconds, follow_redirects=True, transport=self._transport
                    ) as client,
                    client.stream("GET", url) as response,
                ):
                    if not response.is_success:
                        raise SourceUnavailable(
                            f"{name}: the server answered {response.status_code} {response.reason_phrase}"
                        )
                    return Workbook(name, await self._body(name, response))
        except (TimeoutError, httpx.TimeoutException) as error:
            raise SourceUnavailable(f"{name}: no complete answer within {self._timeout_seconds:g} seconds") from error
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise SourceUnavailable(f"{name}: cannot be downloaded ({str(error).replace(url, name)})") from error

    async def _body(self, url: str, response: httpx.Response) -> bytes:
        """The response body, refused as soon as it grows past ``max_bytes``."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise SourceUnavailable(f"{url}: the workbook is larger than the limit of {self._max_bytes:,} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _read_files(self, location: str) -> list[Workbook]:
        """The workbook at a path, or every ``*.xlsx`` workbook in a directory, sorted by name."""
        path = Path(location)
        try:
            if path.is_dir():
                # Excel leaves '~$name.xlsx' lock files next to the workbooks it has open; they are not workbooks.
                files = sorted(
                    entry
                    for entry in path.iterdir()
                    if entry.suffix.lower() == ".xlsx" and not entry.name.startswith("~$") and entry.is_file()
                )
                if not files:
                    raise SourceUnavailable(f"{location}: the directory holds no .xlsx workbooks")
                return [self._read_file(str(file), file) for file in files]
            if not path.exists():
                raise SourceUnavailable(f"{location}: no such file or directory")
            if not path.is_file():
                raise SourceUnavailable(f"{location}: is neither a file nor a directory")
            return [self._read_file(location, path)]
        except OSError as error:
            raise SourceUnavailable(f"{location}: cannot be read ({error.strerror or error})") from error

    def _read_file(self, name: str, path: Path) -> Workbook:
        size = path.stat().st_size
        if size > self._max_bytes:
            raise SourceUnavailable(
                f"{name}: the workbook is {size:,} bytes, more than the limit of {self._max_bytes:,}"
            )
        return Workbook(name, path.read_bytes())
