"""The request class: JSON bodies only as ``application/json``, and undecodable JSON a 400, never a 500."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, SerializationException, ValidationException
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE

JSON = "application/json"
EMPTY_BODY = "the request body is empty; send a JSON object"
OUT_OF_RANGE = "Number out of range"
"""msgspec's message for a JSON number too large for a float (``1e400``); it cannot say which field it is in."""


class StrictJsonRequest(Request[Any, Any, Any]):
    """Every JSON body a handler reads (``data`` or ``request.json()``) comes through ``json`` here.

    Refusing other media types keeps a browser from posting JSON cross-site without a CORS preflight
    (``text/plain`` needs none). msgspec raises ``RecursionError`` for deeply nested JSON and
    ``UnicodeDecodeError`` for invalid UTF-8 inside a string, which Litestar does not turn into a 400.
    """

    async def json(self) -> Any:
        """The decoded JSON body; 415 for another media type, 400 for a body that is empty or cannot be decoded."""
        if self.content_type[0] != JSON:
            raise ClientException(
                f"send the body as {JSON} (got {self.content_type[0] or 'no content type'})",
                status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
        body = await self.body()
        if not body:
            raise ClientException(EMPTY_BODY)
        try:
            return await super().json()
        except RecursionError:
            raise SerializationException("JSON is nested too deeply") from None
        except UnicodeDecodeError as error:
            raise SerializationException(f"JSON is not valid UTF-8 (byte {error.start})") from None
        except SerializationException as error:
            if not str(error).startswith(OUT_OF_RANGE):
                raise
            field = _out_of_range(body)
            message = "a number out of range (at most about 1.8e308)"
            extra = [{"message": message, "key": field, "source": "body"}] if field else None
            raise ValidationException(f"{field}: {message}" if field else message, extra=extra) from None


def _out_of_range(body: bytes) -> str:
    """The path of the first number in ``body`` that no float holds (walked without recursion), or ``""``."""
    try:
        stack: list[tuple[str, object]] = [("", msgspec.json.Decoder(float_hook=Decimal).decode(body))]
    except RecursionError:
        return ""
    while stack:
        path, value = stack.pop()
        if isinstance(value, Decimal) and not math.isfinite(float(value)):
            return path
        if isinstance(value, dict):
            stack.extend((f"{path}.{key}" if path else str(key), item) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in reversed(list(enumerate(value))))
    return ""
