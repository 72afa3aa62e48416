"""One topology per module and layout: a primary and its delayed streaming replica, PgBouncer, three nodes behind
HAProxy; the replica reached directly, then through PgBouncer."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from bench.fleet import Topology, programs_missing, scaled
from bench.pgcluster import unavailable_reason

from tests import databases
from tests.conftest import CENSUS_DIR

ADMIN = ("scale-admin", "quartz-lantern-migrates-slowly")
PASSWORD = ADMIN[1]
"""Every account in these tests uses this password (strong enough for the policy)."""
REPLICA_DELAY_SECONDS = 1.0
"""The replica replays each commit this late: longer than a request, so a read it answered would show the lag."""


def log_in(topology: Topology, username: str = ADMIN[0]) -> dict[str, str]:
    """A token pair for ``username``, asked through the balancer."""
    response = httpx.post(
        f"{topology.fleet.url}/auth/login", json={"username": username, "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module", params=[False, True], ids=["replica direct", "replica behind PgBouncer"])
def topology(request: pytest.FixtureRequest) -> Iterator[Topology]:
    """Every piece started on free loopback ports; everything stopped and deleted after the module's tests.

    Every test runs twice: with the nodes reaching the replica directly, and through PgBouncer as the primary.
    """
    problem = unavailable_reason() or (f"missing: {', '.join(programs_missing())}" if programs_missing() else None)
    if problem and databases.REQUIRED:
        pytest.fail(f"{problem} (the scale tests are mandatory in CI)")
    if problem:
        pytest.skip(problem)
    with scaled(
        3,
        admin=ADMIN,
        census_dir=CENSUS_DIR,
        replica_delay=REPLICA_DELAY_SECONDS,
        replica_behind_pooler=request.param,
    ) as started:
        yield started
