"""Kept answers over HTTP: a repeated census read answers as before without its handler, and never outlives
the data it shows or the token that asked for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from libdib.bootstrap import Services, build_services
from libdib.entrypoints.http.app import create_app
from tests.conftest import CENSUS_DIR, make_settings
from tests.fakes import FastHasher
from tests.support import p8

pytestmark = pytest.mark.anyio

PASSWORD = "quartz-lantern-migrates-slowly"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
READS = (
    "/records?limit=100",
    "/records?race=white&year=2019&limit=5",
    "/comparisons?year=2019&age_range=25-34&races=white,asian&race=asian&base_year=2002",
    "/series?races=asian,white&sex=female&age_range=25-34&compare=difference",
    "/dimensions",
    "/datasets",
)
"""Census reads as a client asks them."""
ALLOWED_ORIGIN = "https://explorer.example"


@dataclass
class Worker:
    """One app (a worker) and its services, with an admin's and a reader's bearer headers."""

    client: AsyncTestClient[Any]
    services: Services
    admin: dict[str, str]
    reader: dict[str, str]

    async def get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.get(url, headers=self.reader if headers is None else headers)


async def log_in(client: AsyncTestClient[Any], username: str) -> dict[str, str]:
    response = await client.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def black_workbook(median: int) -> bytes:
    """A one-row P-8 table of the Black race group whose male median is ``median``."""
    rows: list[tuple[str, list[p8.Cell]]] = [("2019", [1, median, 3, 4, 5, 6])]
    section = p8.AgeSection("25-34", [p8.Population("Black Alone", rows)])
    return p8.p8_workbook(p8.P8Table("Black", 2019, (2019, 2019), [section]))


@asynccontextmanager
async def worker(url: str, backend: str, *, first: bool) -> AsyncIterator[Worker]:
    """A worker over ``url``; the first one creates the users and loads the real sample workbooks."""
    settings = make_settings(
        database_url=url,
        census_source=f"{CENSUS_DIR / 'p08a.xlsx'},{CENSUS_DIR / 'p08w.xlsx'}",
        cors_origins=ALLOWED_ORIGIN,
    )
    services = build_services(settings, backend="memory" if backend == "memory" else "sql", hasher=FastHasher())
    async with AsyncTestClient(app=create_app(settings, services)) as client:
        if first:
            client.blocking_portal.call(partial(services.users.sign_up, "admin", PASSWORD, is_admin=True))
            client.blocking_portal.call(partial(services.users.sign_up, "reader", PASSWORD))
        admin, reader = await log_in(client, "admin"), await log_in(client, "reader")
        if first:
            assert (await client.post("/datasets/load", headers=admin)).status_code == 200
        yield Worker(client, services, admin, reader)


# Every case on memory in the fast tier, on PostgreSQL in the long tier; the two-worker case below runs on
# PostgreSQL in the fast tier.
@pytest.fixture(params=["memory", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.long])])
async def api(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Worker]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}"
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    async with worker(url, request.param, first=True) as one:
        yield one


def counting(target: object, name: str) -> Callable[[], int]:
    """Wrap ``target.name`` to count its calls; the count so far, as a function."""
    method = getattr(target, name)
    calls = 0

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await method(*args, **kwargs)

    object.__setattr__(target, name, counted)
    return lambda: calls


def shown(response: httpx.Response) -> tuple[int, bytes, str | None, str | None]:
    return response.status_code, response.content, response.headers.get("etag"), response.headers.get("content-type")


@pytest.mark.parametrize("path", READS)
async def test_a_repeated_read_answers_the_same_bytes_and_headers(api: Worker, path: str) -> None:
    first = await api.get(path)
    again = await api.get(path)

    assert first.status_code == 200, first.text
    assert shown(again) == shown(first)
    assert again.headers["cache-control"] == "private, no-cache"
    assert again.headers["x-request-id"] != first.headers["x-request-id"], "each answer carries its own request id"


async def test_headers_added_for_one_caller_are_not_kept_for_the_next(api: Worker) -> None:
    """CORS headers are added around the app for the caller's ``Origin``; a kept answer must not carry them on."""
    from_explorer = await api.get("/records/1", {**api.reader, "Origin": ALLOWED_ORIGIN})
    from_elsewhere = await api.get("/records/1")

    assert from_explorer.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "access-control-allow-origin" not in from_elsewhere.headers
    assert from_elsewhere.content == from_explorer.content


async def test_a_cross_origin_read_of_a_kept_answer_gets_its_cors_headers(api: Worker) -> None:
    kept = await api.get("/records/1")
    from_explorer = await api.get("/records/1", {**api.reader, "Origin": ALLOWED_ORIGIN})

    assert from_explorer.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert shown(from_explorer) == shown(kept)


async def test_head_of_a_kept_read_sends_its_headers_without_the_body(api: Worker) -> None:
    kept = await api.get("/records/1")
    head = await api.client.head("/records/1", headers=api.reader)

    assert (head.status_code, head.content, head.headers["etag"]) == (200, b"", kept.headers["etag"])
    assert head.headers["content-length"] == kept.headers["content-length"]


async def test_a_repeated_read_does_not_run_its_handler_again(api: Worker) -> None:
    asked = counting(api.services.datasets, "get_record")
    first = await api.get("/records/1")

    again = [await api.get("/records/1") for _ in range(3)]

    assert asked() == 1
    assert {shown(response) for response in again} == {shown(first)}


async def test_query_order_does_not_matter_but_every_parameter_and_the_representation_do(api: Worker) -> None:
    one = await api.get("/records?race=white&year=2019&limit=5")
    reordered = await api.get("/records?limit=5&year=2019&race=white")
    other = await api.get("/records?race=white&year=2018&limit=5")
    as_csv = await api.get("/records?race=white&year=2019&limit=5", {**api.reader, "Accept": "text/csv"})

    assert reordered.content == one.content
    assert other.content != one.content
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["etag"] != one.headers["etag"]


async def test_a_kept_answer_revalidates_with_304_and_its_tag(api: Worker) -> None:
    path = READS[2]
    tag = (await api.get(path)).headers["etag"]

    revalidated = await api.get(path, {**api.reader, "If-None-Match": tag})
    stale = await api.get(path, {**api.reader, "If-None-Match": '"0-00000000"'})

    assert (revalidated.status_code, revalidated.content, revalidated.headers["etag"]) == (304, b"", tag)
    assert (stale.status_code, stale.headers["etag"]) == (200, tag)


async def test_without_a_valid_token_a_kept_path_is_refused(api: Worker) -> None:
    assert (await api.get("/records/1")).status_code == 200

    missing = await api.get("/records/1", {})
    forged = await api.get("/records/1", {"Authorization": "Bearer not-a-token"})

    assert (missing.status_code, forged.status_code) == (401, 401)
    assert b"income" not in missing.content + forged.content


async def test_a_logged_out_token_is_refused_on_a_kept_path(api: Worker) -> None:
    assert (await api.get("/records/1")).status_code == 200
    assert (await api.client.post("/auth/logout", headers=api.reader)).status_code == 204

    assert (await api.get("/records/1")).status_code == 401


async def test_an_unknown_parameter_on_a_kept_path_is_still_refused(api: Worker) -> None:
    assert (await api.get("/records?limit=100")).status_code == 200

    response = await api.get("/records?limit=100&rcae=white")

    assert response.status_code == 400
    assert "rcae" in response.json()["detail"]


async def test_a_write_changes_what_a_kept_read_answers(api: Worker) -> None:
    before = await api.get("/records?race=black")
    uploaded = await api.client.post(
        "/datasets", files={"file": ("p08b.xlsx", black_workbook(2), XLSX)}, headers=api.admin
    )
    assert uploaded.status_code == 201, uploaded.text

    after = await api.get("/records?race=black")
    revalidated = await api.get("/records?race=black", {**api.reader, "If-None-Match": before.headers["etag"]})

    assert (before.json()["total"], after.json()["total"]) == (0, 1)
    assert after.headers["etag"] != before.headers["etag"]
    assert revalidated.status_code == 200


@pytest.mark.postgres
async def test_once_a_load_through_one_worker_answers_the_other_serves_the_new_data(pg_url: str) -> None:
    async with worker(pg_url, "postgres", first=True) as one, worker(pg_url, "postgres", first=False) as two:
        path = "/records?race=black&year=2019"
        assert (
            await two.client.post("/datasets", files={"file": ("b.xlsx", black_workbook(2), XLSX)}, headers=two.admin)
        ).status_code == 201
        kept = await one.get(path)
        assert (await one.get(path)).content == kept.content

        replaced = await two.client.post(
            "/datasets", files={"file": ("b.xlsx", black_workbook(7), XLSX)}, headers=two.admin
        )
        assert replaced.status_code == 201, replaced.text
        now = await one.get(path)

    assert [item["male_median_income_current"] for item in kept.json()["items"]] == [2]
    assert [item["male_median_income_current"] for item in now.json()["items"]] == [7]
    assert now.headers["etag"] != kept.headers["etag"]
