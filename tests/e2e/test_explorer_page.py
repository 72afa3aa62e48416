"""The explorer page's files as served: open, self-contained, and no way around the API.

What the page does in a browser is in ``tests/browser``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from libdib.bootstrap import build_services
from libdib.entrypoints.http.app import create_app
from tests.conftest import make_settings
from tests.fakes import FastHasher

pytestmark = pytest.mark.anyio

Client = AsyncTestClient[Litestar]
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']*)["']|url\(([^)]*)\)|import\s[^;]*?from\s*["']([^"']+)""")


async def test_the_page_and_its_two_files_are_open_without_a_token_and_typed_for_the_browser(client: Client) -> None:
    page = await client.get("/explore?races=asian,white&sex=female")
    script = await client.get("/explore/explorer.js")
    style = await client.get("/explore/explorer.css")

    assert page.status_code == script.status_code == style.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert script.headers["content-type"].startswith("text/javascript"), "nosniff refuses a module of another type"
    assert style.headers["content-type"].startswith("text/css")
    assert '<script type="module" src="/explore/explorer.js">' in page.text


async def test_a_shared_link_with_every_parameter_of_the_series_query_opens_the_page_titled_with_its_view(
    client: Client,
) -> None:
    view = (
        "races=white,asian&sex=female&age_range=25-34&population=white alone&measure=median_income&dollars=2019"
        "&units=index&base_year=2010&compare=ratio&from=2002&to=2019&editions=first"
    )
    page = await client.get(f"/explore?{view}")
    hostile = await client.get("/explore?races=<script>alert(1)</script>")

    assert page.status_code == 200
    assert "<title>white,asian \u00b7 female \u00b7 25-34 \u00b7 white alone" in page.text
    assert "2010 \u00b7 ratio \u00b7 2002 \u00b7 2019 \u00b7 first: libdib explorer</title>" in page.text
    assert "<script>alert(1)</script>" not in hostile.text
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;: libdib explorer</title>" in hostile.text


async def test_the_page_loads_nothing_from_elsewhere_and_runs_no_inline_script(client: Client) -> None:
    page = await client.get("/explore")
    files = [
        page.text,
        (await client.get("/explore/explorer.js")).text,
        (await client.get("/explore/explorer.css")).text,
    ]

    references = {next(filter(None, found)) for text in files for found in REFERENCE.findall(text)}
    assert references == {"data:,", "/explore/explorer.css", "/explore/explorer.js", "#results"}
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "connect-src 'self';" in policy, "the script talks to this server's API only"
    assert "unsafe-inline" not in policy


async def test_the_page_keeps_tokens_in_the_tabs_session_storage_only(client: Client) -> None:
    script = (await client.get("/explore/explorer.js")).text

    assert "sessionStorage" in script
    assert "localStorage" not in script
    assert "document.cookie" not in script


async def test_the_page_offers_sign_up_only_while_sign_up_is_open(client: Client, tmp_path: Path) -> None:
    open_page = await client.get("/explore")
    closed_settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}", allow_signup="false"
    )
    closed_services = build_services(closed_settings, backend="memory", hasher=FastHasher())
    async with AsyncTestClient(app=create_app(closed_settings, closed_services)) as closed:
        closed_page = await closed.get("/explore")

    assert '<body data-signup="open">' in open_page.text
    assert '<body data-signup="closed">' in closed_page.text


async def test_the_page_is_not_an_operation_of_the_api_document(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()

    assert not [path for path in schema["paths"] if path.startswith("/explore")]
