"""The Scalar docs page: pinned assets libdib can serve itself, and a fallback that works without them."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request
from litestar.openapi.plugins import ScalarRenderPlugin

from libdib.config import Settings

SCALAR_VERSION = "1.72.1"
SCALAR_FILE = f"scalar-api-reference-{SCALAR_VERSION}.js"
"""The bundle's name in the bundle directory and under ``/schema/assets/``: a new version is a new name."""
SCALAR_CDN_URL = f"https://cdn.jsdelivr.net/npm/@scalar/api-reference@{SCALAR_VERSION}/dist/browser/standalone.js"
SCALAR_TARBALL_URL = f"https://registry.npmjs.org/@scalar/api-reference/-/api-reference-{SCALAR_VERSION}.tgz"
SCALAR_SRI = "sha384-U11tb2XnKvmwt8RlTvnwUnYgrN+ur4Xyh9htLhjajWNR/Oyl5AX5DEz00qRmlrmK"
"""Subresource integrity of ``dist/browser/standalone.js`` in that tarball: the browser refuses any other file."""
ASSETS_DIR = Path(__file__).parent / "docs_assets"
"""The favicon and stylesheet shipped with libdib; by default also where ``libdib docs fetch-scalar`` writes."""
ASSETS_PATH = "/schema/assets"
OFFLINE_PATH = "/schema/offline"
OPENAPI_JSON_PATH = "/schema/openapi.json"
FALLBACK_SECONDS = 15
"""How long the page waits for Scalar before it says the script did not load (a blackholed CDN never errors)."""


@dataclass(frozen=True, slots=True)
class ScalarSource:
    """Where the page loads Scalar from, and the integrity the browser checks it against (none for a custom URL)."""

    url: str
    integrity: str | None


def bundle_dir(settings: Settings) -> Path:
    """The directory holding the pinned Scalar bundle, if it has been fetched."""
    return Path(settings.scalar_dir) if settings.scalar_dir else ASSETS_DIR


def scalar_source(settings: Settings) -> ScalarSource:
    """A configured URL as given; else libdib's own copy when fetched; else the pinned CDN file, integrity-checked."""
    if settings.scalar_js_url:
        return ScalarSource(settings.scalar_js_url, None)
    if (bundle_dir(settings) / SCALAR_FILE).is_file():
        return ScalarSource(f"{ASSETS_PATH}/{SCALAR_FILE}", SCALAR_SRI)
    return ScalarSource(SCALAR_CDN_URL, SCALAR_SRI)


def scalar_options(preferred_scheme: str) -> dict[str, Any]:
    """Scalar's configuration: log in first, nothing fetched from or offered by Scalar's hosted services."""
    return {
        "authentication": {"preferredSecurityScheme": preferred_scheme},
        "telemetry": False,
        "withDefaultFonts": False,
        "hideClientButton": True,
        "showDeveloperTools": "never",
        "agent": {"disabled": True},
        "mcp": {"disabled": True},
        "documentDownloadType": "json",
        "customCss": HIDE_CLIENT_CREDENTIALS,
    }


HIDE_CLIENT_CREDENTIALS = """
.scalar-app tr:has([data-placeholder="12345"]),
.scalar-app tr:has(input[placeholder="XYZ123"]),
.scalar-app tr:has(input[placeholder="XYZ123"]) + tr { display: none !important; }
"""
"""Scalar 1.72 always shows Client ID, Client Secret and Credentials Location in the password flow's form, and has
no option to hide them; libdib's login takes neither, and Scalar sends none of them when they are empty. The rows are
found by Scalar's own placeholders (``12345``, ``XYZ123``): if a new version changes them, the rows show again."""

FALLBACK = """
<h1>{title}: API docs</h1>
<p><strong>The interactive docs could not load their script</strong> ({script}), so this page cannot show them.
The network may be offline, or the script blocked.</p>
<ul>
  <li><a href="{offline}">The docs as plain HTML</a>: every route with its parameters and responses, and every
  schema. They need no script and work offline.</li>
  <li><a href="{openapi}">The OpenAPI document</a> ({openapi}), for any OpenAPI tool.</li>
</ul>
<p>To have libdib serve the interactive docs itself, run <code>libdib docs fetch-scalar</code> once (it downloads
Scalar {version} and checks it), then restart the server.</p>
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/svg+xml" href="{assets}/favicon.svg">
<link rel="stylesheet" href="{assets}/docs.css">
</head>
<body>
<div id="docs-fallback" class="docs-fallback" role="alert" hidden>{fallback}</div>
<noscript><div class="docs-fallback">{fallback}</div></noscript>
<script id="api-reference" data-url="{openapi}" data-configuration="{configuration}"></script>
<script>
function libdibDocsFailed() {{ document.getElementById("docs-fallback").hidden = false; }}
function libdibDocsLoaded() {{ window.libdibDocsReady = true; document.getElementById("docs-fallback").hidden = true; }}
window.setTimeout(function () {{ if (!window.libdibDocsReady) libdibDocsFailed(); }}, {timeout_ms});
</script>
<script src="{script}"{integrity} crossorigin="anonymous" onload="libdibDocsLoaded()" onerror="libdibDocsFailed()">
</script>
</body>
</html>
"""


class DocsPage(ScalarRenderPlugin):
    """Litestar's Scalar plugin with libdib's own page: local favicon and stylesheet, a fallback and its links."""

    def __init__(self, source: ScalarSource, preferred_scheme: str) -> None:
        super().__init__(js_url=source.url, path="/", options=scalar_options(preferred_scheme))
        self.source = source

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The page: Scalar's mount point and configuration, its script, and the fallback shown if it fails."""
        title = html.escape(str(openapi_schema["info"]["title"]))
        script = html.escape(self.source.url)
        fallback = FALLBACK.format(
            title=title, script=script, offline=OFFLINE_PATH, openapi=OPENAPI_JSON_PATH, version=SCALAR_VERSION
        )
        integrity = f' integrity="{self.source.integrity}"' if self.source.integrity else ""
        return PAGE.format(
            title=title,
            assets=ASSETS_PATH,
            fallback=fallback,
            openapi=html.escape(self.get_openapi_json_route(request)),
            configuration=html.escape(json.dumps(self.options)),
            timeout_ms=FALLBACK_SECONDS * 1000,
            script=script,
            integrity=integrity,
        ).encode()
