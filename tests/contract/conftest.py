"""One repository contract suite for every backend: memory, SQLite and PostgreSQL behave alike."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from libdib.adapters.lease import ReadEpochs
from libdib.bootstrap import Services, build_services
from libdib.domain.ports import UnitOfWorkFactory
from tests.conftest import make_settings
from tests.fakes import FastHasher

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Services]:
    """Running services over a fresh, empty store of the parametrised kind."""
    if request.param == "memory":
        services = build_services(make_settings(), backend="memory", hasher=FastHasher())
    else:
        url = request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url")
        services = build_services(make_settings(database_url=url), backend="sql", hasher=FastHasher())
    async with services.running():
        yield services


@pytest.fixture
def uow_factory(store: Services) -> UnitOfWorkFactory:
    """A factory of units of work over the store."""
    return store.unit_of_work


@pytest.fixture
def epochs(store: Services) -> ReadEpochs:
    """The store's epochs, read as a worker's lease reads them."""
    return store.read_epochs
