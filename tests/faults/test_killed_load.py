"""A ``libdib load`` killed with SIGKILL while it stores rows leaves the tables exactly as they were."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.faults.conftest import Deployment
from tests.support import p8

pytestmark = [pytest.mark.long, pytest.mark.postgres]

LARGE_WORKBOOK_ROWS = 150_000
"""Enough rows that storing them takes a while, so the kill lands in the middle of it."""
STORING = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'libdib' AND state = 'active'
  AND backend_xid IS NOT NULL AND (query ILIKE 'COPY%income_records%' OR query ILIKE 'INSERT INTO income_records%')
"""
"""A libdib connection in a transaction that has written, now copying or inserting records."""
DIGEST = (
    "SELECT count(*) || ' ' || encode(sha256(convert_to(coalesce(string_agg(t::text, E'\\n' ORDER BY t.id), ''),"
    " 'UTF8')), 'hex') FROM {table} t"
)
LOADER_GONE = """
SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'libdib'
"""


def fingerprint(deployment: Deployment) -> dict[str, str]:
    """Row count and SHA-256 of every stored row, in id order, per table: any change to the data changes it."""
    return {table: deployment.sql(DIGEST.format(table=table)) for table in ("datasets", "income_records")}


def load_killed_while_storing(deployment: Deployment, tmp_path: Path) -> None:
    """Start ``libdib load`` of a large Asian table, SIGKILL it while it writes records, wait for the rollback."""
    workbook = tmp_path / "p08a-large.xlsx"
    p8.write_large_workbook(workbook, race="asian", rows=LARGE_WORKBOOK_ROWS)
    loading = subprocess.Popen(
        deployment.command("load", str(workbook)),
        cwd=tmp_path,
        env={**os.environ, **deployment.env, "LIBDIB_MAX_UPLOAD_BYTES": str(512 * 1024 * 1024)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deployment.cluster.wait_until(STORING, deployment.database, timeout=120, interval=0.02)
    finally:
        os.killpg(loading.pid, signal.SIGKILL)
        output = loading.communicate(timeout=10)[0].decode(errors="replace")
    assert loading.returncode == -signal.SIGKILL, f"the load was killed, not finished:\n{output}"
    # PostgreSQL rolls the transaction back when it notices the client is gone; wait for that.
    deployment.cluster.wait_until(LOADER_GONE, deployment.database, timeout=30)


def test_a_load_killed_while_storing_rows_leaves_the_previous_rows_intact(
    deployment: Deployment, tmp_path: Path
) -> None:
    deployment.run("load")  # the real workbooks from LIBDIB_CENSUS_SOURCE
    before = fingerprint(deployment)
    assert not before["income_records"].startswith("0 "), "the real workbooks were loaded"
    # The same race group as a loaded workbook, so the killed load was replacing rows that must survive.
    load_killed_while_storing(deployment, tmp_path)

    assert fingerprint(deployment) == before
    deployment.run("load")  # nothing the killed load left behind (a lock, a marker) blocks the next one
    assert fingerprint(deployment)["datasets"].split()[0] == before["datasets"].split()[0]


def test_a_first_load_killed_while_copying_into_an_empty_database_leaves_it_empty_with_its_foreign_key(
    deployment: Deployment, tmp_path: Path
) -> None:
    """A first load into an empty database checks the key once, after its COPY; killed before, the key stays."""
    foreign_key = (
        "SELECT string_agg(conname || ' ' || convalidated || ' ' || pg_get_constraintdef(oid), ', ') FROM"
        " pg_constraint WHERE conrelid = 'income_records'::regclass AND contype = 'f'"
    )
    deployment.run("migrate")
    before = {**fingerprint(deployment), "key": deployment.sql(foreign_key)}
    assert before["income_records"].startswith("0 ")
    assert before["key"].startswith("fk_income_records_dataset_id_datasets true FOREIGN KEY (dataset_id)")
    load_killed_while_storing(deployment, tmp_path)

    assert {**fingerprint(deployment), "key": deployment.sql(foreign_key)} == before
