"""The app factory: ``create_app(settings, services)``; nothing is built at import time.

uvicorn runs ``libdib.entrypoints.http.app:create_app`` with ``factory=True``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router

from libdib.bootstrap import Services, build_services, purge_periodically
from libdib.config import MIB, Settings
from libdib.entrypoints.http.answers import KeptAnswersBeforeRouting, KeptAnswerStore, kept_answers
from libdib.entrypoints.http.auth import bearer_auth_middleware, requires_admin
from libdib.entrypoints.http.clients import trusting_proxies
from libdib.entrypoints.http.controllers import CONTROLLERS
from libdib.entrypoints.http.controllers.docs import docs_assets
from libdib.entrypoints.http.dependencies import provide_all
from libdib.entrypoints.http.methods import MethodsMiddleware
from libdib.entrypoints.http.middleware import RequestContextMiddleware
from libdib.entrypoints.http.openapi import document_errors, openapi_config
from libdib.entrypoints.http.problems import EXCEPTION_HANDLERS
from libdib.entrypoints.http.query_check import UnknownQueryParameters
from libdib.entrypoints.http.requests import StrictJsonRequest
from libdib.entrypoints.logs import AccessLog, configure_logging

MULTIPART_OVERHEAD = MIB
"""Room for multipart boundaries and headers above the workbook size limit."""


def create_app(settings: Settings | None = None, services: Services | None = None) -> Litestar:
    """The libdib ASGI app; tests pass their own settings and services (e.g. the memory backend)."""
    if settings is None:
        settings = services.settings if services else Settings.load()
        configure_logging(settings.log_level, production=settings.is_production)
    services = services or build_services(settings)
    handlers: list[object] = list(CONTROLLERS)
    if settings.static_dir:
        handlers.append(
            create_static_files_router(
                path="/static", directories=[Path(settings.static_dir)], include_in_schema=False
            ),
        )
    kept = KeptAnswerStore()
    app = Litestar(
        route_handlers=handlers,  # type: ignore[arg-type]
        dependencies=provide_all(services),
        # Authentication first: a caller without a token learns nothing about a route's parameters. Kept answers
        # last, so a kept answer is only ever sent to an authenticated request with known parameters.
        middleware=[bearer_auth_middleware(), UnknownQueryParameters, kept_answers(kept)],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=openapi_config(settings),
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins)) if settings.cors_origins else None,
        request_max_body_size=settings.max_upload_bytes + MULTIPART_OVERHEAD,
        state=State({"services": services, "docs_assets": docs_assets(settings)}),
        lifespan=[_running(services)],
        logging_config=None,
        request_class=StrictJsonRequest,
    )
    document_errors(app.openapi_schema, _admin_operations(app))
    # Wrapped around the whole handler, not in the route middleware, so that requests no route matches (404, 405)
    # are logged and get a request id and the security headers too.
    access_log = AccessLog()
    # Kept answers are sent before routing (a repeated read needs no router, only its token checked).
    routed = KeptAnswersBeforeRouting(
        app.asgi_handler,
        kept,
        data_version=services.datasets.data_version,
        authenticate=services.tokens.authenticate,
        cors=bool(settings.cors_origins),
    )
    app.asgi_handler = trusting_proxies(
        RequestContextMiddleware(MethodsMiddleware(routed, app), access_log), settings.forwarded_allow_ips
    )
    app.on_shutdown.append(access_log.flush)
    return app


def _admin_operations(app: Litestar) -> set[str]:
    """Operation ids of the handlers guarded by ``requires_admin`` (documented with a 403)."""
    return {
        str(handler.operation_id)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if requires_admin in handler.resolve_guards()
    }


def _running(services: Services) -> contextlib.AbstractAsyncContextManager[None]:
    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with services.running():
            services.start_serving()
            # Everything built at start-up lives as long as the process: keep it out of every later collection,
            # whose pauses were the p99 tail under load (bench profile).
            gc.collect()
            gc.freeze()
            purging = asyncio.create_task(purge_periodically(services))
            try:
                yield
            finally:
                purging.cancel()

    return lifespan  # type: ignore[return-value]
