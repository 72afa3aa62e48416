"""The docs redirect and the health check."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.response import Redirect

from libdib.domain.errors import Unavailable
from libdib.entrypoints.http.openapi import DOCS_PATH, PUBLIC

HEALTH_TIMEOUT_SECONDS = 2


class HealthResponse(msgspec.Struct, frozen=True, omit_defaults=True):
    """The service and its database answer."""

    status: str
    database: str
    replica: str | None = None
    """Only with a read replica: ``reading`` when this worker reads the census from it, else ``behind`` or
    ``down`` (the primary answers those reads meanwhile)."""


class SystemController(Controller):
    """Open routes for people and probes."""

    tags = ["system"]  # noqa: RUF012 - Litestar reads it as a class attribute
    security = PUBLIC
    opt = {"exclude_from_auth": True}  # noqa: RUF012

    @get("/", include_in_schema=False)
    async def docs_redirect(self) -> Redirect:
        """Send people to the interactive API docs."""
        return Redirect(DOCS_PATH)

    @get(
        "/health",
        operation_id="GetHealth",
        summary="Is the service up and its database reachable?",
        cache_control=None,
    )
    async def health(self, request: Request[Any, Any, Any]) -> HealthResponse:
        """200 when the database answers within two seconds, 503 when it does not."""
        services = request.app.state.services
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
                await services.ping()
        except TimeoutError:
            raise Unavailable(f"the database did not answer within {HEALTH_TIMEOUT_SECONDS} s") from None
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
                replica = await services.replica_state()
        except TimeoutError:
            replica = "down"
        return HealthResponse(status="ok", database="ok", replica=replica)
