"""``uv run python -m bench.token_check``: what the per-request token check costs, in-process on PostgreSQL.

Times ``TokenService.authenticate`` with the session checked in the database (one query) and remembered by the
worker's ``HonouredTokenMemo``, a record read by id (a hot statement on the raw pooled connection), and units
running ``SELECT 1`` through SQLAlchemy, each over a number of sequential calls against a scratch database.
Prints the mean wall-clock and CPU microseconds per call: the wall time includes the round trips, the CPU
time is what a busy worker pays. The JWT itself is verified by pyjwt once and remembered after, as in a
served worker.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
from collections.abc import Awaitable, Callable

from tests import databases
from tests.conftest import CENSUS_DIR, make_settings

from libdib.bootstrap import Services, build_services, sync_memo_periodically
from libdib.domain.ports import RecordFilter

PASSWORD = "quartz-lantern-migrates-slowly"  # noqa: S105 - a scratch account in a scratch database


async def mean_microseconds(call: Callable[[], Awaitable[object]], calls: int) -> tuple[float, float]:
    """Wall-clock and CPU microseconds per call, after a short warm-up."""
    for _ in range(calls // 10):
        await call()
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - started) / calls * 1e6, (time.process_time() - cpu) / calls * 1e6


def select_one(services: Services, *, read_only: bool) -> Callable[[], Awaitable[None]]:
    """A unit running ``SELECT 1`` through SQLAlchemy: in AUTOCOMMIT when read-only, else in a transaction."""

    async def unit() -> None:
        async with services.unit_of_work(read_only=read_only) as uow:
            await uow.ping()

    return unit


async def measure(services: Services, calls: int) -> dict[str, tuple[float, float]]:
    await services.users.sign_up("bench", PASSWORD)
    pair = await services.tokens.login("bench", PASSWORD, "127.0.0.1")
    await services.datasets.load([str(CENSUS_DIR)])
    record_id = (await services.datasets.records(RecordFilter(), limit=1, offset=0)).items[0].id
    authenticate = functools.partial(services.tokens.authenticate, pair.access_token)
    # No epoch reads yet, so this worker's memo is not trusted: every check asks the database.
    in_database = await mean_microseconds(authenticate, calls)
    syncing = asyncio.create_task(sync_memo_periodically(services.tokens))
    try:
        await services.tokens.sync_memo()
        remembered = await mean_microseconds(authenticate, calls)
    finally:
        syncing.cancel()
    return {
        "TokenService.authenticate, checked in the database": in_database,
        "TokenService.authenticate, remembered by the memo": remembered,
        "DatasetService.get_record (hot statement, raw connection)": await mean_microseconds(
            lambda: services.datasets.get_record(record_id), calls
        ),
        "read-only unit, SELECT 1 through SQLAlchemy": await mean_microseconds(
            select_one(services, read_only=True), calls
        ),
        "read-write unit, SELECT 1 through SQLAlchemy": await mean_microseconds(
            select_one(services, read_only=False), calls
        ),
    }


async def run(url: str, calls: int) -> dict[str, tuple[float, float]]:
    services = build_services(make_settings(database_url=url))
    async with services.running():
        return await measure(services, calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    calls = parser.parse_args().calls
    name = databases.create_database()
    try:
        results = asyncio.run(run(databases.async_url(name), calls))
    finally:
        databases.drop_database(name)
    print(f"{'mean of ' + str(calls) + ' sequential calls':56} {'wall':>8} {'CPU':>8}")
    for label, (wall, cpu) in results.items():
        print(f"{label:56} {wall:5.0f} us {cpu:5.0f} us")


if __name__ == "__main__":
    main()
