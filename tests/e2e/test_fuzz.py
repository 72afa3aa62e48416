"""Fuzzing every operation of the served OpenAPI document with schemathesis, authenticated as an admin.

No input may produce a 5xx, and every response must be one the document describes (status, content type,
headers, body schema). The test command runs a short pass; the full run (at least 100 examples per
operation, on the memory backend and on PostgreSQL) is one command, and prints its counts at the end:

    LIBDIB_FUZZ_EXAMPLES=100 uv run pytest tests/e2e/test_fuzz.py -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar import Litestar
from schemathesis import checks
from schemathesis.python import asgi

from libdib.bootstrap import Services, build_services
from libdib.entrypoints.http.app import create_app
from tests.conftest import CENSUS_DIR, make_settings
from tests.fakes import FastHasher

pytestmark = pytest.mark.long

EXAMPLES = int(os.environ.get("LIBDIB_FUZZ_EXAMPLES", "50"))
"""Examples per operation in the fuzzing phase (the long tier); 100 or more for a deeper run."""
ADMIN_USERNAME = "fuzz-admin"
PASSWORD = "quartz-lantern-migrates-slowly"
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
    checks.ignored_auth,
    checks.missing_required_header,
    checks.unsupported_method,
]
"""Every stateless check that holds for libdib; positive_data_acceptance does not (random ids are 404s)."""

pytestmark = pytest.mark.long


@dataclass
class Tally:
    """What a run covered: requests sent per operation and the failing operations, per backend."""

    examples: Counter[str] = field(default_factory=Counter)
    failed: set[str] = field(default_factory=set)

    def line(self, backend: str) -> str:
        fewest = min(self.examples.items(), key=lambda item: item[1], default=("none", 0))
        return (
            f"fuzz [{backend}]: {len(self.examples)} operations, {self.examples.total()} examples"
            f" (max_examples={EXAMPLES}; fewest for one operation: {fewest[1]}, {fewest[0]}),"
            f" {len(self.failed)} failing operations" + (f": {', '.join(sorted(self.failed))}" if self.failed else "")
        )


async def _seed(services: Services) -> int:
    """The admin the fuzzer works as, and the real workbooks loaded, so ids and filters hit real rows."""
    async with services.running():
        admin = await services.users.sign_up(ADMIN_USERNAME, PASSWORD, is_admin=True)
        await services.datasets.load()
    return admin.id


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fuzzed_app(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Litestar]:
    """The app with an admin account and the real workbooks loaded, on memory or PostgreSQL."""
    url = request.getfixturevalue("pg_url") if backend == "postgres" else f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    app_settings = make_settings(database_url=url, census_source=str(CENSUS_DIR))
    services = build_services(app_settings, backend="sql" if backend == "postgres" else "memory", hasher=FastHasher())
    app = create_app(app_settings, services)
    app.state.fuzz_admin_id = asyncio.run(_seed(services))
    yield app
    # schemathesis keeps each app's lifespan running for the whole process; end it while its database exists.
    asgi.shutdown_lifespans()


@pytest.fixture
def tally(backend: str, request: pytest.FixtureRequest) -> Iterator[Tally]:
    counts = Tally()
    yield counts
    capture: Any = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():  # the counts are the point of a full run: always show them
        print(f"\n{counts.line(backend)}")


@pytest.fixture
def api_schema(fuzzed_app: Litestar, request: pytest.FixtureRequest) -> Any:
    """The served OpenAPI document, called with a fresh admin token on every request.

    A fresh login per request, because the fuzzer itself logs the admin out and revokes tokens.
    """
    # schemathesis 4.32's lazy loader renames the test through ``_nodeid``, which pytest 9.2 no longer has.
    request.node._nodeid = request.node.nodeid
    loaded = schemathesis.openapi.from_asgi("/schema/openapi.json", fuzzed_app)
    login = loaded["/auth/login"]["POST"]

    @loaded.auth(refresh_interval=None)
    class AdminBearer:
        def get(self, _case: Any, _context: Any) -> str:
            body: Any = {"username": ADMIN_USERNAME, "password": PASSWORD}
            response = login.Case(body=body, media_type="application/json").call()
            assert response.status_code == 200, response.text
            return str(response.json()["access_token"])

        def set(self, case: Any, data: str, _context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return loaded


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    """Keep the fuzzer from deleting the admin it works as, or locking it out with 10 failed logins.

    Either would turn every later request into a 401 and end the run's usefulness. Every generation phase
    goes through this hook, so it is the one place that sees each request before it is sent.
    """
    admin_id = getattr(getattr(case.operation.app, "state", None), "fuzz_admin_id", None)
    if admin_id is None:
        return
    if case.method == "DELETE" and case.path.startswith("/users/{"):
        for name, value in (case.path_parameters or {}).items():
            if _as_int(value) == admin_id:
                case.path_parameters[name] = admin_id + 1_000_000
    body = case.body if case.path == "/auth/login" and isinstance(case.body, dict) else {}
    if str(body.get("username", "")).strip().lower() == ADMIN_USERNAME and body.get("password") != PASSWORD:
        body["username"] = f"not-{ADMIN_USERNAME}"


def _as_int(value: Any) -> int | None:
    try:
        return int(str(value))  # as a path converter reads it: "01", "+1" and " 1" are all 1
    except ValueError:
        return None


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error_or_an_undocumented_response(case: Any, tally: Tally) -> None:
    tally.examples[case.operation.label] += 1
    try:
        case.call_and_validate(checks=CHECKS)
    except BaseException:
        tally.failed.add(case.operation.label)
        raise
