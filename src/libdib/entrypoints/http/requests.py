"""The request class: JSON bodies only as ``application/json``, and undecodable JSON a 400, never a 500."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException, SerializationException
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE

JSON = "application/json"


class StrictJsonRequest(Request[Any, Any, Any]):
    """Every JSON body a handler reads (``data`` or ``request.json()``) comes through ``json`` here.

    Refusing other media types keeps a browser from posting JSON cross-site without a CORS preflight
    (``text/plain`` needs none). msgspec raises ``RecursionError`` for deeply nested JSON and
    ``UnicodeDecodeError`` for invalid UTF-8 inside a string, which Litestar does not turn into a 400.
    """

    async def json(self) -> Any:
        """The decoded JSON body; 415 for another media type, 400 for a body that cannot be decoded."""
        if self.content_type[0] != JSON:
            raise ClientException(
                f"send the body as {JSON} (got {self.content_type[0] or 'no content type'})",
                status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
        try:
            return await super().json()
        except RecursionError:
            raise SerializationException("JSON is nested too deeply") from None
        except UnicodeDecodeError as error:
            raise SerializationException(f"JSON is not valid UTF-8 (byte {error.start})") from None
