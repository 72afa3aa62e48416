"""One repository contract suite for every backend: memory, SQLite and PostgreSQL behave alike."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from libdib.bootstrap import build_services
from libdib.domain.ports import UnitOfWorkFactory
from tests.conftest import make_settings
from tests.fakes import FastHasher

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def uow_factory(request: pytest.FixtureRequest) -> AsyncIterator[UnitOfWorkFactory]:
    """A factory of units of work over a fresh, empty store of the parametrised kind."""
    if request.param == "memory":
        services = build_services(make_settings(), backend="memory", hasher=FastHasher())
    else:
        url = request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url")
        services = build_services(make_settings(database_url=url), backend="sql", hasher=FastHasher())
    async with services.running():
        yield services.unit_of_work
