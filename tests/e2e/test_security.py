"""Security tests generated from the OpenAPI document, on the memory backend and on PostgreSQL.

Every protected operation refuses a missing or bad token with 401; every admin operation refuses a normal
user with 403; hostile values (SQL injection, NUL bytes, huge strings and numbers) in every parameter and
body field are refused or treated as plain data, never a 5xx, and change nothing; no response shows a stack
trace, a source path, SQL or the server software; the docs page sends protective headers.
"""

from __future__ import annotations

import re
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
from litestar.testing import AsyncTestClient

from libdib.bootstrap import build_services
from libdib.config import DEVELOPMENT_JWT_SECRET
from libdib.entrypoints.http.app import create_app
from tests import databases
from tests.conftest import CENSUS_DIR, make_settings
from tests.e2e.served import served
from tests.fakes import FastHasher, FixedClock

pytestmark = pytest.mark.anyio

PASSWORD = "quartz-lantern-migrates-slowly"
ADMIN, USER, TARGET = "sec-admin", "sec-user", "sec-target"
"""An admin, a normal user, and an account whose logins the attacks hammer (it ends up throttled)."""
METHODS = ("get", "put", "post", "patch", "delete")
PUBLIC: list[dict[str, list[str]]] = [{}]
JSON = "application/json"
SLOW_ANSWER_SECONDS = 2.9
"""An answer this slow to the ``pg_sleep(3)`` injection means the SQL ran."""
LEAKS = re.compile(
    r"Traceback|File \"|site-packages|/src/libdib|\.py\b|sqlalchemy|asyncpg|psycopg|aiosqlite|\[SQL:|"
    r"\bUPDATE \w+ SET\b|\bINSERT INTO\b|\bFROM income_records\b|uvicorn|litestar/\d|Python/\d",
    re.IGNORECASE,
)
"""What an error body must never show: stack traces, source files, SQL, driver or server names."""


def _document() -> dict[str, Any]:
    """The OpenAPI document the app serves, built once at collection from a memory-backed app."""
    app_settings = make_settings()
    return create_app(app_settings, build_services(app_settings, backend="memory")).openapi_schema.to_schema()


DOCUMENT = _document()


@dataclass(frozen=True)
class Operation:
    """One documented operation and what the document says about it."""

    method: str
    path: str
    spec: dict[str, Any] = field(repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def public(self) -> bool:
        return self.spec.get("security", DOCUMENT.get("security")) == PUBLIC

    @property
    def admin_only(self) -> bool:
        return not self.public and "403" in self.spec.get("responses", {})

    def parameters(self, location: str) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p["in"] == location]

    def media_types(self) -> list[str]:
        return list(self.spec.get("requestBody", {}).get("content", {}))

    def body_schema(self, media_type: str) -> dict[str, Any]:
        return resolve(self.spec["requestBody"]["content"][media_type].get("schema", {}))


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (and a one-member ``oneOf``/``allOf``) to the schema it names."""
    while True:
        if "$ref" in schema:
            schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        elif len(members := schema.get("allOf", schema.get("oneOf", []))) == 1:
            schema = members[0]
        else:
            return schema


OPERATIONS = [
    Operation(method, path, spec)
    for path, item in DOCUMENT["paths"].items()
    for method, spec in item.items()
    if method in METHODS
]
PROTECTED = [op for op in OPERATIONS if not op.public]
ADMIN_ONLY = [op for op in OPERATIONS if op.admin_only]


@dataclass
class Api:
    """The app under attack, seeded with an admin, a normal user and the real workbooks."""

    client: AsyncTestClient[Any]
    ids: dict[str, int]
    tokens: dict[str, dict[str, str]]
    base_body: dict[str, Any]

    async def log_in(self, username: str) -> dict[str, str]:
        response = await self.client.post("/auth/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def state(self) -> tuple[Any, ...]:
        """What an attack must not change: datasets, records, and both accounts."""
        admin = {"Authorization": f"Bearer {(await self.log_in(ADMIN))['access_token']}"}
        datasets = (await self.client.get("/datasets", headers=admin)).json()
        records = (await self.client.get("/records", params={"limit": 1000}, headers=admin)).json()
        user = (await self.client.get("/users/me", headers=self.bearer(USER))).json()
        return datasets, records["total"], records["items"], user

    def bearer(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]['access_token']}"}

    def url(self, op: Operation, overrides: dict[str, str] | None = None) -> str:
        """The operation's path with existing resources' ids (the admin's for users) unless overridden."""
        resource = op.path.strip("/").split("/")[0]
        values = {p["name"]: str(self.ids.get(resource, 1)) for p in op.parameters("path")} | (overrides or {})
        return re.sub(r"\{(\w+)\}", lambda m: quote(values[m.group(1)], safe=""), op.path)


async def _seed(admin_id: int, client: AsyncTestClient[Any], clock: FixedClock) -> Api:
    for username in (USER, TARGET):
        created = await client.post("/users", json={"username": username, "password": PASSWORD})
        assert created.status_code == 201, created.text
    api = Api(client, {"users": admin_id}, {}, {})
    api.tokens = {ADMIN: await api.log_in(ADMIN), USER: await api.log_in(USER)}
    loaded = await client.post("/datasets/load", headers=api.bearer(ADMIN))
    assert loaded.status_code == 200, loaded.text
    api.ids["datasets"] = loaded.json()["datasets"][0]["id"]
    record = (await client.get("/records", params={"limit": 1}, headers=api.bearer(ADMIN))).json()["items"][0]
    api.ids["records"] = record["id"]
    record |= {"population": "Security Test Population", "year": 2031}
    accepted_fields = Operation("post", "/records", DOCUMENT["paths"]["/records"]["post"]).body_schema(JSON)
    api.base_body = {key: value for key, value in record.items() if key in accepted_fields.get("properties", {})}
    now = clock.current
    clock.current = now - timedelta(days=2)  # tokens issued two days ago have long expired
    api.tokens["expired"] = await api.log_in(USER)
    clock.current = now
    return api


@pytest.fixture(scope="module", params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    """One seeded app per backend for the whole module (seeding loads real workbooks, so once)."""
    database = None
    if request.param == "postgres":
        request.getfixturevalue("postgres_server")
        database = databases.create_database()
        url = databases.async_url(database)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('security') / 'unused.sqlite3'}"
    app_settings = make_settings(database_url=url, census_source=str(CENSUS_DIR))
    clock = FixedClock()
    services = build_services(app_settings, backend="sql" if database else "memory", hasher=FastHasher(), clock=clock)
    try:
        # Before the client starts: it runs the app (and so the engine) on a loop in another thread.
        async with services.running():
            admin = await services.users.sign_up(ADMIN, PASSWORD, is_admin=True)
        async with AsyncTestClient(app=create_app(app_settings, services)) as client:
            yield await _seed(admin.id, client, clock)
    finally:
        if database:
            databases.drop_database(database)


def assert_no_leak(response: httpx.Response, sent: str = "") -> None:
    """No stack trace, source path, SQL or server name in the body (beyond what the request itself sent)."""
    leaks = {m.group(0) for m in LEAKS.finditer(response.text)} - {m.group(0) for m in LEAKS.finditer(sent)}
    assert not leaks, f"{response.request.method} {response.request.url.path} leaks {leaks}: {response.text[:500]}"
    for header in ("server", "x-powered-by", "via"):
        assert header not in response.headers, f"the {header} header announces {response.headers[header]!r}"


def forged(token: str, key: str | None, algorithm: str) -> str:
    """The same claims and header, signed with another key or algorithm."""
    claims = jwt.decode(token, options={"verify_signature": False})
    header = {k: v for k, v in jwt.get_unverified_header(token).items() if k not in ("alg",)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)  # the point is to be refused
        return jwt.encode(claims, key, algorithm=algorithm, headers=header)


CREDENTIALS: dict[str, Callable[[Api], dict[str, str]]] = {
    "no token": lambda _: {},
    "garbage": lambda _: {"Authorization": "Bearer not.a.jwt"},
    "empty bearer": lambda _: {"Authorization": "Bearer "},
    "oversized": lambda _: {"Authorization": "Bearer " + "A" * 100_000},
    "expired": lambda api: {"Authorization": f"Bearer {api.tokens['expired']['access_token']}"},
    "basic scheme": lambda api: {"Authorization": f"Basic {api.tokens[USER]['access_token']}"},
    "no scheme": lambda api: {"Authorization": api.tokens[USER]["access_token"]},
    "refresh as access": lambda api: {"Authorization": f"Bearer {api.tokens[USER]['refresh_token']}"},
    "another key": lambda api: {
        "Authorization": f"Bearer {forged(api.tokens[ADMIN]['access_token'], 'k' * 48, 'HS256')}"
    },
    "alg none": lambda api: {"Authorization": f"Bearer {forged(api.tokens[ADMIN]['access_token'], None, 'none')}"},
    "HS512": lambda api: {
        "Authorization": f"Bearer {forged(api.tokens[ADMIN]['access_token'], DEVELOPMENT_JWT_SECRET, 'HS512')}"
    },
}
TAKES_REFRESH = {"/auth/refresh", "/auth/revoke"}
"""Where a refresh token is a valid credential (revoke takes any token)."""


def credential_cases() -> list[Any]:
    return [
        pytest.param(op, name, id=f"{op}-{name}")
        for op in PROTECTED
        for name in CREDENTIALS
        if not (name == "refresh as access" and op.path in TAKES_REFRESH)
    ]


@pytest.mark.parametrize(("op", "credential"), credential_cases())
async def test_a_protected_operation_answers_401_to_a_missing_or_bad_token(
    api: Api, op: Operation, credential: str
) -> None:
    response = await api.client.request(op.method, api.url(op), headers=CREDENTIALS[credential](api))
    assert response.status_code == 401, f"{op} with {credential}: {response.status_code} {response.text[:300]}"
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert response.json()["detail"]
    assert_no_leak(response)


async def test_an_access_token_is_refused_where_a_refresh_token_is_expected(api: Api) -> None:
    response = await api.client.post("/auth/refresh", headers=api.bearer(USER))
    assert response.status_code == 401


def test_every_data_changing_operation_is_documented_as_admin_only() -> None:
    changing = {str(op) for op in PROTECTED if op.method != "get" and op.path.split("/")[1] in ("datasets", "data")}
    changing |= {str(op) for op in PROTECTED if op.method != "get" and op.path.startswith("/records")}
    assert changing, "the document has data-changing operations"
    assert changing <= {str(op) for op in ADMIN_ONLY}


@pytest.mark.parametrize("op", ADMIN_ONLY, ids=str)
async def test_an_admin_operation_answers_403_to_a_normal_user_and_changes_nothing(api: Api, op: Operation) -> None:
    before = await api.state()
    kwargs: dict[str, Any] = {}
    if JSON in op.media_types():
        kwargs["json"] = api.base_body
    elif "multipart/form-data" in op.media_types():
        kwargs["files"] = {"file": ("p08a.xlsx", (CENSUS_DIR / "p08a.xlsx").read_bytes())}
    response = await api.client.request(op.method, api.url(op), headers=api.bearer(USER), **kwargs)
    assert response.status_code == 403, f"{op}: {response.status_code} {response.text[:300]}"
    assert response.json()["detail"]
    assert_no_leak(response)
    assert await api.state() == before


HOSTILE: dict[str, Any] = {
    "sql tautology": "' OR 1=1 --",
    "sql stacked": "1; DROP TABLE users; --",
    "sql union": "0 UNION SELECT username, password_hash FROM users --",
    "sql sleep": "1' AND (SELECT 1 FROM pg_sleep(3)) IS NULL --",
    "unicode": "Ünïcødé ☃ \U0001d518\U0001d52b\U0001d526 \u202egnp.exe",
    "nul byte": "abc\x00def",
    "100 kB": "A" * 100_000,
    "60 kB": "B" * 60_000,
    "huge integer": 10**30,
    "huge negative": -(10**30),
    "int64 overflow": 2**63,
    "int32 overflow": 2**31,
    "not a number": "NaN",
}
PLAIN_DATA = {"sql tautology", "sql stacked", "sql union", "sql sleep", "unicode", "not a number"}
"""Hostile strings a free-text field may store as they are (they are data, not code)."""
BASE_QUERY = {"year": "2015", "age": "30", "age_range": "25-34", "race": "asian", "races": "white,asian"}
"""Valid values for required query parameters, so that each hostile value is the only thing wrong."""
NOT_IN_URLS = {"100 kB"}
"""Clients refuse URLs over 64 kB (httpx does); in paths and queries the 60 kB value stands in for it."""


@dataclass
class Attack:
    """One hostile value in one place of one request."""

    op: Operation
    place: str
    name: str
    value: Any
    kwargs: dict[str, Any]
    url: str

    def __str__(self) -> str:
        return f"{self.op} {self.place}={self.name}"


def attacks(api: Api, op: Operation) -> list[Attack]:
    """Every hostile value in every path and query parameter and every body field of ``op``."""
    found: list[Attack] = []
    required = {p["name"]: BASE_QUERY.get(p["name"], "1") for p in op.parameters("query") if p.get("required")}
    for name, value in HOSTILE.items():
        for media_type in op.media_types():
            found += body_attacks(api, op, media_type, name, value)
        if name in NOT_IN_URLS:
            continue
        for parameter in op.parameters("path"):
            found.append(Attack(op, parameter["name"], name, value, {}, api.url(op, {parameter["name"]: str(value)})))
        for parameter in op.parameters("query"):
            query = required | {parameter["name"]: str(value)}
            found.append(Attack(op, parameter["name"], name, value, {"params": query}, api.url(op)))
    return found


def body_attacks(api: Api, op: Operation, media_type: str, name: str, value: Any) -> list[Attack]:
    schema = op.body_schema(media_type)
    if media_type == "multipart/form-data":
        content = value.encode() if isinstance(value, str) else str(value).encode()
        as_file = {"files": {"file": ("p08a.xlsx", content)}}
        as_name = {"files": {"file": (str(value)[:1000], (CENSUS_DIR / "p08a.xlsx").read_bytes())}}
        return [
            Attack(op, "file", name, value, as_file, api.url(op)),
            Attack(op, "filename", name, value, as_name, api.url(op)),
        ]
    base = base_body(api, op)
    found = []
    for prop in schema.get("properties", {}):
        body = base | {prop: value}
        kwargs = {"json": body} if media_type == JSON else {"data": {k: str(v) for k, v in body.items()}}
        found.append(Attack(op, f"{media_type.rsplit('/', 1)[-1]}:{prop}", name, value, kwargs, api.url(op)))
    return found


def base_body(api: Api, op: Operation) -> dict[str, Any]:
    """A body the operation would accept, so each hostile value is the only thing wrong with it."""
    if op.path == "/users":
        return {"username": f"u{uuid.uuid4().hex[:12]}", "password": PASSWORD}
    if op.path.startswith("/auth/login"):
        return {"username": TARGET, "password": PASSWORD}
    return dict(api.base_body)


async def launch(api: Api, attack: Attack) -> list[str]:
    """Send one attack as the admin; return what is wrong with the answer (nothing, ideally)."""
    started = time.monotonic()
    response = await api.client.request(attack.op.method, attack.url, headers=api.bearer(ADMIN), **attack.kwargs)
    elapsed = time.monotonic() - started
    problems = []
    if response.status_code >= 500:
        problems.append(f"{attack}: {response.status_code} {response.text[:300]}")
    if elapsed > SLOW_ANSWER_SECONDS:
        problems.append(f"{attack}: took {elapsed:.1f} s (did the injected SQL run?)")
    try:
        assert_no_leak(response, sent=str(attack.value))
    except AssertionError as exc:
        problems.append(f"{attack}: {exc}")
    if 200 <= response.status_code < 300:
        problems += await accepted(api, attack, response)
    return problems


async def accepted(api: Api, attack: Attack, response: httpx.Response) -> list[str]:
    """A 2xx to a hostile value is fine only for an empty listing, or a free-text field storing it verbatim."""
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else None
    if attack.op.method == "get":
        if isinstance(body, dict) and body.get("items") == []:
            return []
        return [f"{attack}: {response.status_code} for a hostile value: {response.text[:300]}"]
    field_name = attack.place.split(":")[-1]
    if attack.op.path in ("/users", "/records") and isinstance(body, dict) and "id" in body:
        # Created (as plain data, if the check below passes): remove it again, so the data stays as seeded.
        removed = await api.client.delete(f"{attack.op.path}/{body['id']}", headers=api.bearer(ADMIN))
        assert removed.status_code == 204, removed.text
    if attack.name in PLAIN_DATA and (not isinstance(body, dict) or body.get(field_name, attack.value) == attack.value):
        return []
    return [f"{attack}: {response.status_code} for a hostile value: {response.text[:300]}"]


@pytest.mark.parametrize(
    "op", [op for op in OPERATIONS if op.parameters("path") or op.parameters("query") or op.media_types()], ids=str
)
async def test_hostile_values_in_every_parameter_are_refused_or_kept_as_data_never_a_5xx(
    api: Api, op: Operation
) -> None:
    before = await api.state()
    problems = [problem for attack in attacks(api, op) for problem in await launch(api, attack)]
    assert not problems, "\n".join(problems)
    assert await api.state() == before, "hostile values changed the data"


async def test_docs_page_and_schema_send_protective_headers(api: Api) -> None:
    for path in ("/schema", "/schema/openapi.json"):
        response = await api.client.get(path)
        assert response.status_code == 200
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        frame_ancestors = "frame-ancestors" in headers.get("content-security-policy", "")
        assert headers.get("x-frame-options", "").upper() in ("DENY", "SAMEORIGIN") or frame_ancestors
        assert headers["referrer-policy"] in ("no-referrer", "same-origin", "strict-origin-when-cross-origin")
        assert headers["cross-origin-opener-policy"] == "same-origin"
        assert_no_leak(response)


@pytest.mark.long
def test_a_served_libdib_names_no_server_software_in_any_answer(tmp_path: Path) -> None:
    with served(tmp_path, env={"LIBDIB_DATABASE_URL": ""}) as server:
        answers = [
            httpx.get(f"{server.url}/health"),
            httpx.get(f"{server.url}/schema"),
            httpx.get(f"{server.url}/no/such/route"),
            httpx.get(f"{server.url}/users/me"),
            httpx.post(f"{server.url}/auth/login", content=b"{not json", headers={"content-type": "application/json"}),
            httpx.request("TRACE", f"{server.url}/health"),
        ]
    for response in answers:
        assert_no_leak(response)
        assert not any("uvicorn" in value.lower() for value in response.headers.values())
    assert [r.status_code for r in answers[:4]] == [200, 200, 404, 401]
    assert 400 <= answers[4].status_code < 500
    assert answers[5].status_code == 405


async def test_token_responses_are_never_cached(api: Api) -> None:
    login = await api.client.post("/auth/login", json={"username": USER, "password": PASSWORD})
    refreshed = await api.client.post(
        "/auth/refresh", headers={"Authorization": f"Bearer {login.json()['refresh_token']}"}
    )
    for response in (login, refreshed):
        assert response.status_code == 200
        assert "no-store" in response.headers.get("cache-control", ""), "RFC 6749 §5.1: tokens must not be cached"
