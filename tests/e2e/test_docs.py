"""The docs page: pinned assets libdib serves itself, a fallback that says what failed, and an offline view."""

from __future__ import annotations

import gzip
import html
import io
import json
import re
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from libdib.bootstrap import build_services
from libdib.entrypoints.http.app import create_app
from libdib.entrypoints.http.docs_page import SCALAR_FILE, SCALAR_SRI, SCALAR_VERSION
from libdib.entrypoints.scalar_bundle import BUNDLE_MEMBER, BundleError, install_bundle, subresource_integrity
from tests.conftest import make_settings
from tests.fakes import FastHasher, FixedClock

pytestmark = pytest.mark.anyio

Client = AsyncTestClient[Any]
ASSET_REFERENCES = re.compile(r"""\b(?:src|href)="([^"]+)\"""")


async def docs_client(tmp_path: Path, **settings: str) -> AsyncIterator[Client]:
    values = make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}", **settings)
    services = build_services(values, backend="memory", hasher=FastHasher(), clock=FixedClock())
    async with AsyncTestClient(app=create_app(values, services)) as client:
        yield client


@pytest.fixture
async def bundled(tmp_path: Path) -> AsyncIterator[Client]:
    """A server whose bundle directory holds the fetched Scalar bundle."""
    (tmp_path / SCALAR_FILE).write_text("/* the pinned Scalar bundle */")
    async for client in docs_client(tmp_path, scalar_dir=str(tmp_path)):
        yield client


@pytest.fixture
async def unbundled(tmp_path: Path) -> AsyncIterator[Client]:
    """A server that has no copy of the bundle."""
    async for client in docs_client(tmp_path, scalar_dir=str(tmp_path / "empty")):
        yield client


def configuration(page: str) -> dict[str, Any]:
    found = re.search(r'data-configuration="([^"]*)"', page)
    assert found, page
    return dict(json.loads(html.unescape(found.group(1))))


async def test_with_the_bundle_at_hand_the_page_loads_only_libdib_s_own_pinned_assets(bundled: Client) -> None:
    page = (await bundled.get("/schema")).text

    references = ASSET_REFERENCES.findall(page)
    assert all(reference.startswith("/schema/") for reference in references), references
    assert f'src="/schema/assets/scalar-api-reference-{SCALAR_VERSION}.js" integrity="{SCALAR_SRI}"' in page
    assert {"/schema/assets/favicon.svg", "/schema/assets/docs.css"} <= set(references)
    for reference in references:
        assert (await bundled.get(reference)).status_code == 200, reference
    assert "@main" not in page
    assert "latest" not in page


async def test_without_the_bundle_the_page_loads_the_pinned_cdn_file_under_integrity_and_nothing_else(
    unbundled: Client,
) -> None:
    page = (await unbundled.get("/schema")).text

    remote = [reference for reference in ASSET_REFERENCES.findall(page) if not reference.startswith("/")]
    assert remote == [f"https://cdn.jsdelivr.net/npm/@scalar/api-reference@{SCALAR_VERSION}/dist/browser/standalone.js"]
    assert f'integrity="{SCALAR_SRI}" crossorigin="anonymous"' in page
    assert (await unbundled.get(f"/schema/assets/{SCALAR_FILE}")).status_code == 404


async def test_a_page_whose_script_fails_says_so_and_links_to_the_offline_docs_and_the_document(
    unbundled: Client,
) -> None:
    page = (await unbundled.get("/schema")).text

    fallback = page[page.index('<div id="docs-fallback"') : page.index("</div>")]
    assert "hidden" in fallback.split(">")[0], "shown only when the script fails"
    assert "could not load their script" in fallback
    assert 'href="/schema/offline"' in fallback
    assert 'href="/schema/openapi.json"' in fallback
    assert "libdib docs fetch-scalar" in fallback
    assert 'onerror="libdibDocsFailed()"' in page
    assert re.search(r"setTimeout\(.*libdibDocsFailed\(\).*\d{4,}\)", page), "a script that never answers counts too"
    assert "<noscript>" in page


async def test_the_docs_offer_the_login_form_first_and_hide_scalar_s_hosted_services(bundled: Client) -> None:
    options = configuration((await bundled.get("/schema")).text)

    assert options["authentication"] == {"preferredSecurityScheme": "OAuth2Password"}
    assert (options["telemetry"], options["withDefaultFonts"], options["hideClientButton"]) == (False, False, True)
    assert options["showDeveloperTools"] == "never"
    assert options["agent"] == options["mcp"] == {"disabled": True}
    assert 'placeholder="XYZ123"' in options["customCss"], "the client id and secret rows are hidden"
    document = (await bundled.get("/schema/openapi.json")).json()
    assert document["security"][0] == {"OAuth2Password": []}


async def test_a_configured_script_url_is_used_as_given(tmp_path: Path) -> None:
    async for client in docs_client(tmp_path, scalar_js_url="/static/scalar/standalone.js"):
        page = (await client.get("/schema")).text

        assert '<script src="/static/scalar/standalone.js" crossorigin="anonymous"' in page


async def test_the_offline_view_lists_every_route_and_schema_and_runs_no_script(unbundled: Client) -> None:
    document = (await unbundled.get("/schema/openapi.json")).json()

    response = await unbundled.get("/schema/offline")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    for path, item in document["paths"].items():
        for method in item.keys() & {"get", "post", "put", "patch", "delete"}:
            assert f"{method.upper()}</span> <code>{html.escape(path)}</code>" in page, (method, path)
    for name in document["components"]["schemas"]:
        assert f"id='schema-{name}'" in page
    assert "<script" not in page
    assert all(reference.startswith(("/", "#")) for reference in re.findall(r"(?:src|href)=['\"]([^'\"]+)", page))


async def test_the_offline_view_shows_a_route_s_parameters_and_responses(unbundled: Client) -> None:
    page = (await unbundled.get("/schema/offline")).text

    records = page[page.index("id='ListRecords'") :]
    records = records[: records.index("</section>")]
    for parameter in ("race", "population", "from", "to", "format", "limit"):
        assert f"<code>{parameter}</code>" in records
    assert "RecordPageResponse" in records


async def test_the_favicon_and_stylesheet_are_served_and_an_unknown_asset_is_404(unbundled: Client) -> None:
    favicon = await unbundled.get("/schema/assets/favicon.svg")
    css = await unbundled.get("/schema/assets/docs.css")
    missing = await unbundled.get("/schema/assets/../../config.py")

    assert (favicon.status_code, favicon.headers["content-type"]) == (200, "image/svg+xml")
    assert css.headers["content-type"].startswith("text/css")
    assert missing.status_code == 404


def npm_tarball(content: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(BUNDLE_MEMBER)
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_fetching_installs_the_bundle_only_when_it_is_the_pinned_build(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="is not the build of @scalar/api-reference"):
        install_bundle(npm_tarball(b"tampered"), tmp_path)
    assert list(tmp_path.iterdir()) == []

    path = install_bundle(npm_tarball(b"pinned"), tmp_path, expected_integrity=subresource_integrity(b"pinned"))

    assert path == tmp_path / SCALAR_FILE
    assert path.read_bytes() == b"pinned"


def test_fetching_from_something_that_is_not_an_npm_tarball_says_so(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not an npm tarball"):
        install_bundle(gzip.compress(b"not a tar"), tmp_path)


async def test_the_offline_view_renders_the_descriptions_inline_markdown_and_only_local_links(
    unbundled: Client,
) -> None:
    page = (await unbundled.get("/schema/offline")).text

    assert "<code>POST /users</code>" in page
    assert "<strong>Authorize</strong>" in page
    assert "<a href='/schema/offline'>The docs as plain HTML</a>" in page
    assert "**" not in page
