"""The ceiling: a bare Litestar handler doing one indexed asyncpg lookup of a record-shaped row, no auth.

It is what libdib's ``GET /records/{id}`` would cost with nothing but the framework and the driver, so the
benchmark reports libdib's throughput as a fraction of it. Run as ``python -m bench.ceiling --port P`` with
``BENCH_CEILING_DSN`` set, under the same uvicorn options as ``libdib serve``.

``--layer`` puts one more of libdib's per-request costs in front of the handler, each including the ones
before it, so ``python -m bench.ladder`` can show what each costs (``LAYERS``).
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
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from libdib.adapters.jwt_codec import PyJwtTokenCodec
from libdib.adapters.sql.identity import ACTIVE_USER
from libdib.domain.identity import TokenKind
from libdib.domain.tokens import InvalidToken

TABLE = "ceiling_rows"
CREATE_TABLE = (
    f"CREATE TABLE {TABLE} (LIKE income_records INCLUDING ALL)",
    f"INSERT INTO {TABLE} SELECT * FROM income_records",  # noqa: S608 - constant names only
    f"ANALYZE {TABLE}",
)
"""Statements that make the ceiling's table: the shape, indexes and rows of libdib's ``income_records``."""
SELECT_ROW = f"SELECT * FROM {TABLE} WHERE id = $1"  # noqa: S608 - a constant name; the id is a parameter
POOL_SIZE = 10
"""Kept open from the start; the pool grows to twice this, the 20 connections libdib's engine holds by default."""
READY_PATH = "/ready"
_SESSION_QUERY = ACTIVE_USER.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
SESSION_SQL, SESSION_PARAMETERS = str(_SESSION_QUERY), tuple(_SESSION_QUERY.positiontup or ())
"""libdib's token check as asyncpg runs it, with its parameters in ``$n`` order."""
LAYERS = {
    "none": "nothing: the ceiling itself",
    "auth": "a Litestar authentication middleware that accepts every request",
    "jwt": "that middleware checking the bearer token with libdib's PyJwtTokenCodec (verified once, then remembered)",
    "revocation": "and then running libdib's session query on every request (one asyncpg fetchrow, nothing held)",
}
"""What each ``--layer`` adds in front of the handler; each includes the ones listed before it."""


@get("/rows/{row_id:int}")
async def read_row(row_id: int, state: State) -> dict[str, Any]:
    """One row by primary key."""
    row = await state.pool.fetchrow(SELECT_ROW, row_id)
    if row is None:
        raise NotFoundException(f"no row {row_id}")
    return dict(row)


@get(READY_PATH)
async def ready() -> str:
    """Answers once the app has started (open under every layer)."""
    return "ready"


class LayeredAuth(AbstractAuthenticationMiddleware):
    """Authenticates as far as ``app.state.layer`` says (see ``LAYERS``)."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        """Accept, or check the token's signature and claims, then also its session, as libdib does."""
        state = connection.app.state
        if state.layer == "auth":
            return AuthenticationResult(user=None, auth=None)
        token = connection.headers.get("authorization", "").partition(" ")[2]
        try:
            claims = state.codec.decode(token, TokenKind.ACCESS)
        except InvalidToken as error:
            raise NotAuthorizedException(str(error)) from None
        if state.layer == "revocation":
            parameters = {"user_id": claims.user_id, "sid": claims.sid, "jti": claims.jti}
            arguments = [parameters[name] for name in SESSION_PARAMETERS]
            if await state.pool.fetchrow(SESSION_SQL, *arguments) is None:
                raise NotAuthorizedException("revoked")
        return AuthenticationResult(user=claims.sub, auth=claims)


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
    """The ceiling app with ``BENCH_CEILING_LAYER`` in front of it; its pool opens with the app's lifespan."""
    layer = os.environ.get("BENCH_CEILING_LAYER", "none")
    middleware = [] if layer == "none" else [DefineMiddleware(LayeredAuth, exclude=[f"^{READY_PATH}$"])]
    app = Litestar(
        route_handlers=[read_row, ready],
        lifespan=[_pool],
        middleware=middleware,
        openapi_config=None,
        logging_config=None,
    )
    app.state.layer = layer
    if layer in {"jwt", "revocation"}:
        app.state.codec = PyJwtTokenCodec(os.environ["BENCH_CEILING_JWT_SECRET"])
    return app


def main() -> None:
    """Serve the ceiling on 127.0.0.1 with libdib's uvicorn options (1 worker, no access log)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--layer", choices=LAYERS, default="none", help="what to put in front of the handler")
    arguments = parser.parse_args()
    os.environ["BENCH_CEILING_LAYER"] = arguments.layer
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
