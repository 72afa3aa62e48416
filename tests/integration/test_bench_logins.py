"""The bench's login rows: the reads of one libdib alone, during a storm on it and during one on a second libdib."""

from __future__ import annotations

import secrets

import pytest
from bench import logins
from bench.harness import libdib, run_sql, scratch_database

from tests import databases

pytestmark = [pytest.mark.postgres, pytest.mark.long]


def _sessions(dsn: str) -> int:
    """How many sessions were started on the database of ``dsn``: one per successful login."""
    return int(run_sql(dsn, "SELECT count(*) FROM auth_sessions"))


def test_each_storm_logs_in_to_its_own_server_while_the_first_one_is_read(postgres_server: None) -> None:
    password = secrets.token_urlsafe(18)
    with (
        scratch_database(databases.SERVER_URL) as here_dsn,
        scratch_database(databases.SERVER_URL) as there_dsn,
        libdib(here_dsn, password) as here,
        libdib(there_dsn, password) as there,
    ):
        sessions_before = _sessions(here_dsn), _sessions(there_dsn)

        results = logins.run(here, there, seconds=3)

        sessions_after = _sessions(here_dsn), _sessions(there_dsn)

    for side in (results.alone, results.during, results.elsewhere):
        assert side.reads.requests > 0
        assert side.reads.errors == 0, side.reads
        assert 0 < side.reads.p50_ms <= side.reads.p99_ms
    assert results.logins.logins > 0
    assert results.elsewhere_logins.logins > 0
    assert results.logins.failures == {}
    assert results.elsewhere_logins.failures == {}
    started_here = sessions_after[0] - sessions_before[0]
    started_there = sessions_after[1] - sessions_before[1]
    assert started_here == results.logins.logins, "the storm on the read server logs in there and nowhere else"
    assert started_there == results.elsewhere_logins.logins, "the other storm logs in to the second server only"
    assert results.ratio == results.during.reads.p99_ms / results.alone.reads.p99_ms
    assert results.elsewhere_ratio == results.elsewhere.reads.p99_ms / results.alone.reads.p99_ms
