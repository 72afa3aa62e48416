"""``libdib docs fetch-scalar``: the pinned Scalar bundle, checked, where the docs page serves it from."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import tempfile
from pathlib import Path

import httpx

from libdib.entrypoints.http.docs_page import SCALAR_FILE, SCALAR_SRI, SCALAR_TARBALL_URL, SCALAR_VERSION

BUNDLE_MEMBER = "package/dist/browser/standalone.js"
"""The self-contained build in the npm tarball (it imports none of the chunks beside it)."""
MAX_TARBALL_BYTES = 64 * 1024 * 1024


class BundleError(Exception):
    """The bundle could not be fetched or is not the pinned one; the message says which."""


def subresource_integrity(content: bytes) -> str:
    """The ``sha384-...`` value a browser checks a script's ``integrity`` attribute against."""
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


def download_tarball(url: str = SCALAR_TARBALL_URL, transport: httpx.BaseTransport | None = None) -> bytes:
    """The npm tarball of the pinned version, at most ``MAX_TARBALL_BYTES``."""
    try:
        with (
            httpx.Client(transport=transport, timeout=60, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            response.raise_for_status()
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_TARBALL_BYTES:
                    raise BundleError(f"{url} is larger than {MAX_TARBALL_BYTES} bytes")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise BundleError(f"could not download {url}: {exc}") from None


def install_bundle(tarball: bytes, target_dir: Path, expected_integrity: str = SCALAR_SRI) -> Path:
    """Take the bundle out of ``tarball``, check it is the pinned build, and write it into ``target_dir``.

    The file appears whole or not at all (written beside, then renamed), so a server never serves half of it.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            member = archive.getmember(BUNDLE_MEMBER)
            extracted = archive.extractfile(member) if member.isfile() else None
            content = extracted.read() if extracted else b""
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise BundleError(f"not an npm tarball of @scalar/api-reference with {BUNDLE_MEMBER}: {exc}") from None
    if subresource_integrity(content) != expected_integrity:
        raise BundleError(
            f"{BUNDLE_MEMBER} is not the build of @scalar/api-reference {SCALAR_VERSION} libdib pins"
            f" (integrity {subresource_integrity(content)}, expected {expected_integrity})",
        )
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / SCALAR_FILE
    with tempfile.NamedTemporaryFile(dir=target_dir, prefix=".scalar-", delete=False) as partial:
        partial.write(content)
    os.chmod(partial.name, 0o644)
    Path(partial.name).replace(target)
    return target
