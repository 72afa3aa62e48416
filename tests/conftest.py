"""Fixtures shared by every tier: settings, services on memory or PostgreSQL, and HTTP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import is_hypothesis_test
from hypothesis import settings as hypothesis_settings
from litestar import Litestar
from litestar.testing import AsyncTestClient

from libdib.bootstrap import Services, build_services
from libdib.config import DEVELOPMENT_JWT_SECRET, Settings
from libdib.entrypoints.http.app import create_app
from libdib.samples import sample_dir
from tests import databases
from tests.fakes import TEST_LEASE_SECONDS, FastHasher, FixedClock

CENSUS_DIR = sample_dir()
"""The real P-8 workbooks (Asian and White), shipped with the package."""


hypothesis_settings.register_profile("fast", max_examples=25)
hypothesis_settings.register_profile("long", max_examples=300)


def in_long_tier(config: pytest.Config) -> bool:
    """Whether this run's ``-m`` expression selects the long tier (``-m long``, ``-m "long and postgres"``)."""
    marks = str(config.getoption("markexpr", ""))
    return "long" in marks and "not long" not in marks


def pytest_configure(config: pytest.Config) -> None:
    """Property tests try 25 examples in the fast tier, 300 in the long one; ``--hypothesis-profile`` overrides."""
    if not config.getoption("hypothesis_profile", None):
        hypothesis_settings.load_profile("long" if in_long_tier(config) else "fast")


SLOW_FIRST = (
    "tests/test_quality.py",
    "tests/e2e/test_served.py",
    "tests/integration/test_workbook_properties.py",
    "tests/integration/test_chart_renderer.py",
    "tests/integration/test_workbook_reader.py",
)
"""Files whose cases take seconds each (mypy on a fresh clone, a served process, drawing charts, big workbooks).

They run first, so that no worker is left with one of them at the end while the others have nothing to do.
"""


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every worker collects the same order: the slow files first, then the rest as they were collected.

    The long tier runs the property tests again, at its own profile's depth.
    """
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in SLOW_FIRST)
    if in_long_tier(config):
        for item in items:
            if is_hypothesis_test(getattr(item, "obj", None)):
                item.add_marker(pytest.mark.long)


def make_settings(**overrides: str) -> Settings:
    """Settings for tests: the development key, a short epoch lease, no .env file, plus ``LIBDIB_*`` overrides."""
    values = {"LIBDIB_JWT_SECRET": DEVELOPMENT_JWT_SECRET, "LIBDIB_EPOCH_LEASE": str(TEST_LEASE_SECONDS)}
    values.update({f"LIBDIB_{key.upper()}": value for key, value in overrides.items()})
    return Settings.load(values, env_file=None)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[None]:
    problem = databases.server_problem()
    if problem and databases.REQUIRED:
        pytest.fail(f"{problem} (LIBDIB_REQUIRE_POSTGRES=1)")
    if problem:
        pytest.skip(problem)
    yield
    databases.drop_template()


@pytest.fixture(scope="session")
def sqlite_template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this run keeps its migrated SQLite template."""
    return tmp_path_factory.mktemp("sqlite-template")


@pytest.fixture
def pg_url(postgres_server: None) -> Iterator[str]:
    """A freshly created and migrated PostgreSQL database, dropped after the test."""
    name = databases.create_database()
    try:
        yield databases.async_url(name)
    finally:
        databases.drop_database(name)


@pytest.fixture
def pg_empty_url(postgres_server: None) -> Iterator[str]:
    """A freshly created PostgreSQL database with no schema yet (for migration tests), dropped after."""
    name = databases.create_database(migrated=False)
    try:
        yield databases.async_url(name)
    finally:
        databases.drop_database(name)


@pytest.fixture
def sqlite_empty_url(tmp_path: Path) -> str:
    """A SQLite database file that does not exist yet (for migration tests)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template_dir: Path) -> str:
    """A migrated SQLite database in the test's temporary folder."""
    return databases.migrated_sqlite(tmp_path / "libdib.sqlite3", sqlite_template_dir)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for the memory backend (the SQLite URL is set but never opened)."""
    return make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}")


@pytest.fixture
def sqlite_settings(sqlite_url: str) -> Settings:
    return make_settings(database_url=sqlite_url)


@pytest.fixture
def memory_services(settings: Settings, clock: FixedClock) -> Services:
    return build_services(settings, backend="memory", hasher=FastHasher(), clock=clock)


@pytest.fixture
async def client(settings: Settings, memory_services: Services) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(settings, memory_services)) as test_client:
        yield test_client


@pytest.fixture
def pg_settings(pg_url: str) -> Settings:
    return make_settings(database_url=pg_url)


@pytest.fixture
def pg_services(pg_settings: Settings, clock: FixedClock) -> Services:
    return build_services(pg_settings, backend="sql", hasher=FastHasher(), clock=clock)


@pytest.fixture
async def pg_client(pg_settings: Settings, pg_services: Services) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(pg_settings, pg_services)) as test_client:
        yield test_client
