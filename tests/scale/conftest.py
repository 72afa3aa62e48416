"""One topology per module: a primary and its delayed streaming replica, PgBouncer, three nodes behind HAProxy."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from bench.fleet import Daemon, Fleet, node_env, pgbouncer, programs_missing
from bench.pgcluster import PgCluster, unavailable_reason

from tests import databases
from tests.conftest import CENSUS_DIR

DATABASE = "libdib"
ADMIN = ("scale-admin", "quartz-lantern-migrates-slowly")
PASSWORD = ADMIN[1]
"""Every account in these tests uses this password (strong enough for the policy)."""
REPLICA_DELAY_SECONDS = 1.0
"""The replica replays each commit this late: longer than a request, so a read it answered would show the lag."""


@dataclass
class Topology:
    primary: PgCluster
    replica: PgCluster
    pooler: Daemon
    fleet: Fleet

    @property
    def url(self) -> str:
        return self.fleet.url

    def log_in(self, username: str = ADMIN[0], url: str | None = None) -> dict[str, str]:
        response = httpx.post(
            f"{url or self.url}/auth/login", json={"username": username, "password": PASSWORD}, timeout=30
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    """Every piece started on free loopback ports; everything stopped and deleted after the module."""
    problem = unavailable_reason() or (f"missing: {', '.join(programs_missing())}" if programs_missing() else None)
    if problem and databases.REQUIRED:
        pytest.fail(f"{problem} (the scale tests are mandatory in CI)")
    if problem:
        pytest.skip(problem)
    workdir = Path(tempfile.mkdtemp(prefix="libdib-fleet-"))
    primary = PgCluster.create()
    replica: PgCluster | None = None
    pooler: Daemon | None = None
    fleet: Fleet | None = None
    try:
        primary.sql(f"CREATE DATABASE {DATABASE}")
        # Off for the whole database: behind the pooler, libdib cannot send it as a startup parameter.
        primary.sql(f"ALTER DATABASE {DATABASE} SET jit = off")
        replica = primary.standby(apply_delay=REPLICA_DELAY_SECONDS)
        pooler = pgbouncer(primary, [DATABASE])
        pooler.start()
        env = node_env(
            primary.url(DATABASE).replace(f":{primary.port}/", f":{pooler.port}/"),
            replica.url(DATABASE),
            admin=ADMIN,
            census_dir=CENSUS_DIR,
        )
        fleet = Fleet(workdir, env)
        fleet.start(3)
        yield Topology(primary, replica, pooler, fleet)
    finally:
        if fleet is not None:
            fleet.stop()
        if pooler is not None:
            pooler.destroy()
        if replica is not None:
            replica.destroy()
        primary.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
