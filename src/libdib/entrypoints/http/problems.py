"""Every error becomes an RFC 9457 problem document here, from one table of domain errors to statuses."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from libdib.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    Throttled,
    TooLarge,
    Unauthenticated,
    Unavailable,
)
from libdib.entrypoints.http.openapi import PROBLEM_MEDIA_TYPE
from libdib.entrypoints.http.requests import EMPTY_BODY

logger = logging.getLogger("libdib.http")

STATUS_OF: tuple[tuple[type[DomainError], HTTPStatus], ...] = (
    (TooLarge, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    (InvalidInput, HTTPStatus.UNPROCESSABLE_ENTITY),
    (NotFound, HTTPStatus.NOT_FOUND),
    (Conflict, HTTPStatus.CONFLICT),
    (Unauthenticated, HTTPStatus.UNAUTHORIZED),
    (Forbidden, HTTPStatus.FORBIDDEN),
    (Throttled, HTTPStatus.TOO_MANY_REQUESTS),
    (Unavailable, HTTPStatus.SERVICE_UNAVAILABLE),
)
"""The one mapping from domain errors to HTTP statuses; the first matching class wins."""
BODY = "data"
"""The handler argument a body is decoded into: Litestar's key for an error about the body as a whole."""
NO_BODY = "'data'"
"""Litestar leaves an empty body out of the handler's arguments, then reports the missing argument like this."""
BODY_FIELD = re.compile(r"Object (?P<what>missing required|contains unknown) field `(?P<field>[^`]+)`")
NOT_AN_OBJECT = re.compile(r"Expected `object`, got `(?P<got>[^`]+)`")


def problem(
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Response[dict[str, Any]]:
    """An RFC 9457 problem response with the status's phrase as title and a human-readable detail."""
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    body["detail"] = detail or HTTPStatus(status).description
    if errors:
        body["errors"] = errors
    if status == HTTPStatus.UNAUTHORIZED:
        headers = {"WWW-Authenticate": 'Bearer realm="libdib"', **(headers or {})}
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def from_domain_error(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    """A domain error as the status its kind maps to."""
    status = next((code for kind, code in STATUS_OF if isinstance(exc, kind)), HTTPStatus.INTERNAL_SERVER_ERROR)
    if status == HTTPStatus.SERVICE_UNAVAILABLE:
        logger.warning("service unavailable: %s", exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Throttled) else None
    return problem(status, str(exc), headers)


def from_validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    """A request that failed validation: the detail names each field and what is wrong with it."""
    errors = [e for e in exc.extra if isinstance(e, dict)] if isinstance(exc.extra, list) else []
    errors = [_readable(_with_public_name(request, error)) for error in errors]
    messages = [_field_message(e) for e in errors]
    return problem(HTTPStatus.BAD_REQUEST, "; ".join(messages) or exc.detail, errors=errors or None)


def from_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Litestar's own errors (404 route, 405, 413, 415...) in the same shape."""
    headers = dict(exc.headers) if exc.headers else None
    detail = exc.detail
    if isinstance(exc, RequestEntityTooLarge) and (limit := request.route_handler.resolve_request_max_body_size()):
        detail = (
            f"the request body is larger than the limit of {limit:,} bytes"
            " (LIBDIB_MAX_UPLOAD_BYTES, plus 1 MiB for multipart framing)"
        )
    return problem(exc.status_code, detail, headers)


def from_serialization_error(_: Request[Any, Any, Any], exc: SerializationException) -> Response[dict[str, Any]]:
    """A body that is not valid JSON (or form) at all."""
    return problem(HTTPStatus.BAD_REQUEST, f"the request body could not be decoded: {exc}")


def from_unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A bug: logged with its traceback and request id; the client gets no internals."""
    request_id = request.scope.get("state", {}).get("request_id", "")
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error; quote request id {request_id} when reporting it")


def _with_public_name(request: Request[Any, Any, Any], error: dict[str, Any]) -> dict[str, Any]:
    """The error keyed by the parameter's name in the URL (``from``), not by the handler's argument (``year_from``).

    Litestar takes any argument whose name starts with ``data`` for the body; a path parameter (``dataset_id``)
    is given its own source back.
    """
    key = str(error.get("key"))
    parameter = request.route_handler.parsed_fn_signature.parameters.get(key)
    if parameter is None:
        return error
    name = getattr(parameter.kwarg_definition, "name", None)
    named = {**error, "key": name} if name else error
    return {**named, "source": "path"} if key != BODY and key in request.path_params else named


def _readable(error: dict[str, Any]) -> dict[str, Any]:
    """An error about the body as a whole said in words, keyed by the field it names, if any (never by ``data``)."""
    if error.get("key") != BODY:
        return error
    message, rest = str(error.get("message", "")), {"source": "body"}
    if message == NO_BODY:
        return {"message": EMPTY_BODY, **rest}
    if found := BODY_FIELD.fullmatch(message):
        said = "a required field is missing" if found["what"] == "missing required" else "not a field of this body"
        return {"message": said, "key": found["field"], **rest}
    if found := NOT_AN_OBJECT.fullmatch(message):
        return {"message": f"the request body must be a JSON object, not `{found['got']}`", **rest}
    return {"message": message, **rest}


def _field_message(error: dict[str, Any]) -> str:
    key, message = error.get("key"), str(error.get("message", "invalid value"))
    return message if key in (None, "", "data") else f"{key}: {message}"


EXCEPTION_HANDLERS = {
    DomainError: from_domain_error,
    ValidationException: from_validation_error,
    SerializationException: from_serialization_error,
    HTTPException: from_http_exception,
    Exception: from_unexpected_error,
}
