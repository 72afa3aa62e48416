"""Each fault test module gets its own PostgreSQL cluster, which its tests may stop, start or crash into."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from libdib.config import DEVELOPMENT_JWT_SECRET
from tests import databases
from tests.conftest import CENSUS_DIR
from tests.e2e.served import Server, start
from tests.support.pgcluster import PgCluster, unavailable_reason

ADMIN_USERNAME = "fault-admin"
PASSWORD = "quartz-lantern-migrates-slowly"
"""Every account in these tests uses this password (strong enough for the policy; argon2 makes it slow)."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL server for this module, destroyed even when a test fails."""
    problem = unavailable_reason()
    if problem and databases.REQUIRED:
        pytest.fail(f"{problem} (fault tests are mandatory in CI)")
    if problem:
        pytest.skip(problem)
    created = PgCluster.create()
    try:
        yield created
    finally:
        created.destroy()


@pytest.fixture
def database(cluster: PgCluster) -> Iterator[str]:
    """A fresh, migrated database on the module's cluster; yields its name. The cluster is running after the test."""
    if not cluster.running:
        cluster.start()  # a previous test may have left it stopped when it failed
    name = f"libdib_fault_{uuid.uuid4().hex[:12]}"
    cluster.sql(f'CREATE DATABASE "{name}"')
    databases.migrate(cluster.url(name))
    try:
        yield name
    finally:
        if not cluster.running:
            cluster.start()
        cluster.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Deployment:
    """libdib configured for one database of the cluster: servers, CLI runs and logins, cleaned up after."""

    cluster: PgCluster
    database: str
    workdir: Path
    servers: list[Server] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            "LIBDIB_DATABASE_URL": self.cluster.url(self.database),
            "LIBDIB_JWT_SECRET": DEVELOPMENT_JWT_SECRET,
            "LIBDIB_ADMIN_USERNAME": ADMIN_USERNAME,
            "LIBDIB_ADMIN_PASSWORD": PASSWORD,
            "LIBDIB_CENSUS_SOURCE": str(CENSUS_DIR),
        }

    def serve(self) -> Server:
        """Start ``libdib serve`` (migrates, ensures the admin) and wait until it is healthy."""
        server = start(self.workdir, self.env)
        self.servers.append(server)
        return server

    def command(self, *arguments: str) -> list[str]:
        """The command line of ``libdib ARGUMENTS`` (through this interpreter, so it runs the tree under test)."""
        return [sys.executable, "-m", "libdib", *arguments]

    def run(self, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``libdib ARGUMENTS`` to completion and fail the test if it does not succeed."""
        result = subprocess.run(
            self.command(*arguments),
            cwd=self.workdir,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, f"libdib {' '.join(arguments)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def log_in(self, server: Server, username: str = ADMIN_USERNAME) -> dict[str, str]:
        """A token pair for ``username``."""
        response = httpx.post(f"{server.url}/auth/login", json={"username": username, "password": PASSWORD}, timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def sql(self, statement: str) -> str:
        """Run a statement in this deployment's database."""
        return self.cluster.sql(statement, self.database)


@pytest.fixture
def deployment(cluster: PgCluster, database: str, tmp_path: Path) -> Iterator[Deployment]:
    """libdib on a fresh database of the module's cluster; its servers are stopped after the test."""
    deployed = Deployment(cluster, database, tmp_path)
    try:
        yield deployed
    finally:
        for server in deployed.servers:
            server.stop()
