"""The docs' own assets and their offline view, open to anyone and never fetched from elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.params import PathParameter
from litestar.response import File, Response

from libdib.config import Settings
from libdib.entrypoints.http.docs_page import ASSETS_DIR, ASSETS_PATH, OFFLINE_PATH, SCALAR_FILE, bundle_dir
from libdib.entrypoints.http.offline_docs import render_offline_docs

OFFLINE_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"
"""The offline view runs no script at all and loads only libdib's own stylesheet and favicon."""
AssetName = Annotated[str, PathParameter(max_length=100, description="An asset's file name")]
MEDIA_TYPES = {".svg": "image/svg+xml", ".css": "text/css", ".js": "text/javascript"}


def docs_assets(settings: Settings) -> dict[str, Path]:
    """The files under ``/schema/assets/``: the favicon, the stylesheet and, once fetched, the Scalar bundle."""
    assets = {name: ASSETS_DIR / name for name in ("favicon.svg", "docs.css")}
    bundle = bundle_dir(settings) / SCALAR_FILE
    if bundle.is_file():
        assets[SCALAR_FILE] = bundle
    return assets


class DocsController(Controller):
    """``/schema/offline`` and ``/schema/assets/*`` beside the Scalar page and the OpenAPI document."""

    include_in_schema = False
    opt = {"exclude_from_auth": True}  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(OFFLINE_PATH, cache_control=None)
    async def offline(self, request: Request[Any, Any, Any]) -> Response[str]:
        """Every route, parameter and schema as plain HTML."""
        page = render_offline_docs(request.app.openapi_schema.to_schema(), ASSETS_PATH)
        return Response(page, media_type="text/html", headers={"content-security-policy": OFFLINE_CSP})

    @get(f"{ASSETS_PATH}/{{name:str}}")
    async def asset(self, request: Request[Any, Any, Any], name: AssetName) -> File:
        """A docs asset; the Scalar bundle's name carries its version, so it may be cached for good."""
        path = request.app.state.docs_assets.get(name)
        if path is None:
            raise NotFoundException(f"no docs asset {name!r}")
        cache = "public, max-age=31536000, immutable" if name == SCALAR_FILE else "public, max-age=3600"
        return File(path, media_type=MEDIA_TYPES[path.suffix], headers={"cache-control": cache})
