"""``/explore``: a page that signs in and draws ``GET /series``, served from the package (no CDN, no build step).

The page is only HTML, one script and one stylesheet; every piece of data it shows comes through the public API
with the visitor's bearer token, so it opens no door the API keeps shut.
"""

from __future__ import annotations

import html
from functools import cache
from importlib.resources import files
from typing import Annotated

from litestar import Controller, MediaType, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from libdib.config import Settings

ASSETS = "libdib.entrypoints.http.explorer"
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self';"
    " form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
"""Only the page's own script and stylesheet run; the chart is an image from a blob of the API's SVG."""
SIGNUP_MARK = "{{signup}}"
VIEW_MARK = "{{view}}"
View = Annotated[str | None, QueryParameter(max_length=200)]
"""A part of the page's view, spelled as the ``/series`` query; the page's script reads it, the API judges it."""
NO_CACHE = {"cache-control": "no-cache"}


@cache
def _asset(name: str) -> str:
    """A file of the page, read once per process."""
    return files(ASSETS).joinpath(name).read_text(encoding="utf-8")


class ExplorerController(Controller):
    """The explorer page and its two assets; open to anyone, as they hold no data."""

    path = "/explore"
    include_in_schema = False
    opt = {"exclude_from_auth": True}  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", media_type=MediaType.HTML)
    async def page(
        self,
        *,
        settings: NamedDependency[Settings],
        races: View = None,
        sex: View = None,
        age_range: View = None,
        population: View = None,
        measure: View = None,
        dollars: View = None,
        units: View = None,
        base_year: View = None,
        compare: View = None,
        from_: Annotated[str | None, QueryParameter(name="from", max_length=200)] = None,
        to: View = None,
        editions: View = None,
    ) -> Response[str]:
        """The page, titled with the view its link shares; it offers sign-up only while ``POST /users`` is open.

        The view's parameters are declared so that a route taking only what it defines takes a shared link.
        """
        view = (races, sex, age_range, population, measure, dollars, units, base_year, compare, from_, to, editions)
        title = " \u00b7 ".join(part for part in view if part)
        html_page = (
            _asset("index.html")
            .replace(SIGNUP_MARK, "open" if settings.allow_signup else "closed")
            .replace(VIEW_MARK, html.escape(f"{title}: " if title else ""))
        )
        return Response(html_page, media_type=MediaType.HTML, headers={**NO_CACHE, "content-security-policy": PAGE_CSP})

    @get("/explorer.js", media_type="text/javascript")
    async def script(self) -> Response[str]:
        """The page's one script (an ES module)."""
        return Response(_asset("explorer.js"), media_type="text/javascript", headers=NO_CACHE)

    @get("/explorer.css", media_type="text/css")
    async def stylesheet(self) -> Response[str]:
        """The page's one stylesheet."""
        return Response(_asset("explorer.css"), media_type="text/css", headers=NO_CACHE)
