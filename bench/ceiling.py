"""The ceiling: a bare Litestar handler doing one indexed asyncpg lookup of a record-shaped row, no auth.

It is what libdib's ``GET /records/{id}`` would cost with nothing but the framework and the driver, so the
benchmark reports libdib's throughput as a fraction of it. Run as ``python -m bench.ceiling --port P`` with
``BENCH_CEILING_DSN`` set, under the same uvicorn options as ``libdib serve``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import uvicorn
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException

TABLE = "ceiling_rows"
CREATE_TABLE = (
    f"CREATE TABLE {TABLE} (LIKE income_records INCLUDING ALL)",
    f"INSERT INTO {TABLE} SELECT * FROM income_records",  # noqa: S608 - constant names only
    f"ANALYZE {TABLE}",
)
"""Statements that make the ceiling's table: the shape, indexes and rows of libdib's ``income_records``."""
SELECT_ROW = f"SELECT * FROM {TABLE} WHERE id = $1"  # noqa: S608 - a constant name; the id is a parameter
POOL_SIZE = 10
"""The same as libdib's engine, whose pool holds 10 connections plus 10 of overflow."""


@get("/rows/{row_id:int}")
async def read_row(row_id: int, state: State) -> dict[str, Any]:
    """One row by primary key."""
    row = await state.pool.fetchrow(SELECT_ROW, row_id)
    if row is None:
        raise NotFoundException(f"no row {row_id}")
    return dict(row)


@contextlib.asynccontextmanager
async def _pool(app: Litestar) -> AsyncIterator[None]:
    async with asyncpg.create_pool(
        os.environ["BENCH_CEILING_DSN"],
        min_size=POOL_SIZE,
        max_size=2 * POOL_SIZE,
        server_settings={"application_name": "bench-ceiling", "jit": "off"},
    ) as pool:
        app.state.pool = pool
        yield


def create_app() -> Litestar:
    """The ceiling app; its pool opens with the app's lifespan."""
    return Litestar(route_handlers=[read_row], lifespan=[_pool], openapi_config=None, logging_config=None)


def main() -> None:
    """Serve the ceiling on 127.0.0.1 with libdib's uvicorn options (1 worker, no access log)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    uvicorn.run(
        "bench.ceiling:create_app",
        factory=True,
        host="127.0.0.1",
        port=arguments.port,
        workers=1,
        log_config=None,
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
