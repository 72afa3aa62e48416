"""``uv run python -m bench.token_check``: what the per-request token check costs, in-process on PostgreSQL.

Times ``TokenService.authenticate`` with the session checked in the database (one query) and remembered by the
worker's ``HonouredTokenMemo``, a record read by id, a ``SELECT 1`` unit and empty units, each over a number of
sequential calls against a scratch database, and prints the mean wall-clock microseconds per call. The JWT
itself is verified by pyjwt once and remembered after, as in a served worker.
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


async def mean_microseconds(call: Callable[[], Awaitable[object]], calls: int) -> float:
    for _ in range(calls // 10):
        await call()
    started = time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - started) / calls * 1e6


def empty_unit(services: Services, *, read_only: bool) -> Callable[[], Awaitable[None]]:
    """A unit that checks a connection out and gives it back: what every request pays before its query."""

    async def unit() -> None:
        async with services.unit_of_work(read_only=read_only):
            pass

    return unit


async def measure(services: Services, calls: int) -> dict[str, float]:
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
        "DatasetService.get_record (1 query)": await mean_microseconds(
            lambda: services.datasets.get_record(record_id), calls
        ),
        "unit of work with SELECT 1": await mean_microseconds(services.ping, calls),
        "read-only unit of work, no statement": await mean_microseconds(empty_unit(services, read_only=True), calls),
        "read-write unit of work, no statement": await mean_microseconds(empty_unit(services, read_only=False), calls),
    }


async def run(url: str, calls: int) -> dict[str, float]:
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
    for label, micros in results.items():
        print(f"{label:48} {micros:8.0f} us per call (mean of {calls})")


if __name__ == "__main__":
    main()
