"""Headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driving the explorer of a served libdib."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.e2e.served import Server, served

READER = ("journalist", "tabulated median incomes since 1967")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
CHROMIUM_BINARIES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome")
"""Debian's real binary first (``/usr/bin/chromium`` is a wrapper script), then whatever is on PATH."""
BRIEF_REFRESH_SECONDS = 4
"""Long enough for the page's next request to renew the session on a busy machine, short enough to wait out."""
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
"""Where the runs leave their screenshots (``var/`` is ignored by git)."""


@dataclass
class Explorer:
    """A served libdib with the sample workbooks loaded and a reader account."""

    server: Server
    username: str = READER[0]
    password: str = READER[1]

    @property
    def url(self) -> str:
        return self.server.url

    def token(self) -> str:
        """A fresh access token of the reader, for asking the API directly."""
        answer = httpx.post(f"{self.url}/auth/login", json={"username": self.username, "password": self.password})
        answer.raise_for_status()
        return str(answer.json()["access_token"])


def _chromium() -> tuple[str, str] | None:
    binary = next((found for name in CHROMIUM_BINARIES if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    return (binary, driver) if binary and driver else None


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    found = _chromium()
    if found is None:
        pytest.skip("no Chromium here: install Debian's chromium and chromium-driver to run the browser tests")
    return found


def _serve_loaded(workdir: Path, env: dict[str, str]) -> Iterator[Explorer]:
    """``libdib serve`` on a new embedded database, which a development server fills with the samples."""
    settings = {"LIBDIB_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'explorer.sqlite3'}", **env}
    with served(workdir, settings) as server:
        signed_up = httpx.post(f"{server.url}/users", json={"username": READER[0], "password": READER[1]})
        assert signed_up.status_code == 201, signed_up.text
        explorer = Explorer(server)
        token = {"Authorization": f"Bearer {explorer.token()}"}
        loaded = httpx.get(f"{server.url}/datasets", headers=token).json()["items"]
        assert {dataset["race"] for dataset in loaded} == {"asian", "white"}, "the samples were not loaded"
        # A process's first chart is slow (the plotting library loads its fonts): draw it before any test's
        # tokens start to count.
        chart = httpx.get(f"{server.url}/series?races=asian&format=svg", headers=token, timeout=60)
        if chart.status_code != 200:
            pytest.fail(f"GET /series answered {chart.status_code}: the explorer draws the series routes (issue 13)")
        yield explorer


@pytest.fixture(scope="module")
def explorer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Explorer]:
    """libdib with the samples loaded and the default token lifetimes."""
    yield from _serve_loaded(tmp_path_factory.mktemp("explorer"), {})


@pytest.fixture(scope="module")
def brief_explorer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Explorer]:
    """libdib whose access tokens last one second and refresh tokens ``BRIEF_REFRESH_SECONDS`` (plus leeway)."""
    yield from _serve_loaded(
        tmp_path_factory.mktemp("brief"),
        {"LIBDIB_ACCESS_TOKEN_TTL": "1", "LIBDIB_REFRESH_TOKEN_TTL": str(BRIEF_REFRESH_SECONDS)},
    )


@pytest.fixture
def browser(chromium: tuple[str, str], tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium (its own profile, so its own sessionStorage), downloading into ``tmp_path``."""
    binary, driver = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument("--window-size=1400,1000")
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(tmp_path), "download.prompt_for_download": False}
    )
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    chrome.set_page_load_timeout(30)
    try:
        yield chrome
    finally:
        chrome.quit()
