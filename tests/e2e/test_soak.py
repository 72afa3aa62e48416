"""A half-minute soak of a served libdib on PostgreSQL: a steady load, every request answered, flat memory.

The command-line soak (``python -m bench.soak``) runs ten minutes at half the measured peak; this is its
short version at a modest fixed rate, so that it holds on a busy two-core CI machine.
"""

from __future__ import annotations

import pytest
from bench import soak

from tests import databases

pytestmark = [pytest.mark.long, pytest.mark.postgres]

RATE = 200
"""Requests per second: a few percent of one worker's peak, so a busy machine still keeps up."""
SECONDS = 30
BASELINE_AFTER = 10
"""Memory is compared between 10 s (warm: pools filled, code paths run) and the end."""


def test_thirty_seconds_of_steady_reads_fail_no_request_and_do_not_grow_the_server_memory(
    postgres_server: None,
) -> None:
    result = soak.run(SECONDS, rate=RATE, baseline_after=BASELINE_AFTER, server_url=databases.SERVER_URL)
    print(result.summary())
    assert result.load.requests >= RATE * SECONDS * 0.9, "the load generator kept (nearly) to its rate"
    assert result.load.socket_errors == 0
    assert result.load.status_errors == 0
    assert result.growth <= soak.GROWTH_LIMIT, result.summary()
