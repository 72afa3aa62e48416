"""Datasets, records and comparisons through the HTTP API, with the real P-8 workbooks of the first version."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from libdib.bootstrap import Backend, build_services
from libdib.entrypoints.http.app import create_app
from tests import databases
from tests.conftest import CENSUS_DIR, make_settings
from tests.fakes import FastHasher, FixedClock
from tests.support import p8

pytestmark = pytest.mark.anyio

PASSWORD = "quartz-lantern-migrates-slowly"
ASIAN, WHITE = CENSUS_DIR / "p08a.xlsx", CENSUS_DIR / "p08w.xlsx"
MAX_UPLOAD = 100_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheetml.sheet"
RECORD_FIELDS = [
    "id",
    "dataset_id",
    "race",
    "population",
    "age_range",
    "year",
    "footnote",
    "male_number_with_income",
    "male_median_income_current",
    "male_median_income_constant",
    "female_number_with_income",
    "female_median_income_current",
    "female_median_income_constant",
    "constant_dollar_year",
]


def workbook(race: str = "Black", rows: list[tuple[str, list[p8.Cell]]] | None = None) -> bytes:
    """A small P-8 workbook: one age section (25-34), one population."""
    rows = rows or [("2019", [1, 2, 3, 4, 5, 6]), ("2018", [7, 8, 9, 10, 11, 12])]
    section = p8.AgeSection("25-34", [p8.Population(f"{race} Alone", rows)])
    return p8.p8_workbook(p8.P8Table(race, 2019, (2018, 2019), [section]))


@dataclass
class Api:
    """The app with an admin and a reader; ``more`` is a directory that is part of ``LIBDIB_CENSUS_SOURCE``."""

    client: AsyncTestClient[Any]
    admin: dict[str, str]
    reader: dict[str, str]
    more: Path

    async def load(self) -> httpx.Response:
        return await self.client.post("/datasets/load", headers=self.admin)

    async def get(self, url: str, **params: Any) -> httpx.Response:
        return await self.client.get(url, params=params, headers=self.reader)

    async def upload(self, name: str, content: bytes, media_type: str = XLSX) -> httpx.Response:
        return await self.client.post("/datasets", files={"file": (name, content, media_type)}, headers=self.admin)

    async def snapshot(self) -> tuple[Any, str]:
        """Everything stored: the datasets and every record as CSV."""
        datasets = (await self.get("/datasets")).json()
        records = await self.client.get("/records", headers={**self.reader, "Accept": "text/csv"})
        return datasets, records.text


async def log_in(client: AsyncTestClient[Any], username: str) -> dict[str, str]:
    response = await client.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@asynccontextmanager
async def running_api(backend: str, folder: Path, database_url: str) -> AsyncIterator[Api]:
    """The app on ``backend`` with an admin and a reader; the sources are the sample workbooks and ``folder/more``."""
    more = folder / "more"
    more.mkdir()
    (more / "p08b.xlsx").write_bytes(workbook())
    settings = make_settings(
        database_url=database_url, census_source=f"{ASIAN},{WHITE},{more}", max_upload_bytes=str(MAX_UPLOAD)
    )
    store: Backend = "memory" if backend == "memory" else "sql"
    services = build_services(settings, backend=store, hasher=FastHasher(), clock=FixedClock())
    async with AsyncTestClient(app=create_app(settings, services)) as client:
        # The app runs on the client's own loop, in another thread; the database engine lives there too.
        client.blocking_portal.call(partial(services.users.sign_up, "admin", PASSWORD, is_admin=True))
        client.blocking_portal.call(partial(services.users.sign_up, "reader", PASSWORD))
        yield Api(client, await log_in(client, "admin"), await log_in(client, "reader"), more)


# Every case on memory in the fast tier; on PostgreSQL in the long tier (the contract suite and the series e2e
# keep PostgreSQL in the fast tier).
BACKENDS = ["memory", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.long])]


@pytest.fixture(params=BACKENDS)
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    """An app of its own, empty, for a case that writes."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}"
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    async with running_api(request.param, tmp_path, url) as started:
        yield started


@pytest.fixture
async def loaded(api: Api) -> Api:
    response = await api.load()
    assert response.status_code == 200, response.text
    return api


@pytest.fixture(scope="module", params=BACKENDS)
async def reading(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    """One app with the workbooks loaded, shared by a module's cases that only read or are refused a write.

    Loading the workbooks is most of a case's cost, so the readers load once; a case that changes the data
    takes ``loaded`` (its own app) instead, or the cases after it would see its change.
    """
    folder = tmp_path_factory.mktemp("census")
    url, database = f"sqlite+aiosqlite:///{folder / 'unused.sqlite3'}", None
    if request.param == "postgres":
        request.getfixturevalue("postgres_server")
        database = databases.create_database()
        url = databases.async_url(database)
    try:
        async with running_api(request.param, folder, url) as started:
            response = await started.load()
            assert response.status_code == 200, response.text
            yield started
    finally:
        if database:
            databases.drop_database(database)


def assert_problem(response: httpx.Response, statuses: set[int], *details: str) -> None:
    assert response.status_code in statuses, response.text
    body = response.json()
    assert body["status"] == response.status_code
    for detail in details:
        assert re.search(detail, body["detail"]), body["detail"]


# Datasets


async def test_loading_answers_every_dataset_with_its_provenance(api: Api) -> None:
    response = await api.load()

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rows"] == 140 + 140 + 2
    asian, white, black = body["datasets"]
    assert (asian["race"], asian["source"], asian["rows"], asian["years"]) == ("asian", str(ASIAN), 140, [2002, 2019])
    assert asian["sha256"] == hashlib.sha256(ASIAN.read_bytes()).hexdigest()
    assert asian["title"] == "Table P-8. Age--Asian People, by Median Income and Sex: 2002 to 2019"
    assert (white["race"], white["sha256"]) == ("white", hashlib.sha256(WHITE.read_bytes()).hexdigest())
    assert (black["race"], black["source"], black["years"]) == ("black", str(api.more / "p08b.xlsx"), [2018, 2019])
    assert set(asian) == {"id", "race", "title", "source", "sha256", "rows", "years", "loaded_at"}
    listed = (await api.get("/datasets")).json()["items"]
    assert [d["race"] for d in listed] == ["asian", "black", "white"]


async def test_loading_again_replaces_the_rows_instead_of_adding_to_them(loaded: Api) -> None:
    response = await loaded.load()

    assert response.status_code == 200
    assert (await loaded.get("/records")).json()["total"] == 282
    assert len((await loaded.get("/datasets")).json()["items"]) == 3


async def test_the_first_versions_load_route_still_loads_and_is_documented_as_deprecated(api: Api) -> None:
    response = await api.client.post("/data/load_pickle", headers=api.admin)

    assert response.status_code == 200, response.text
    assert response.json()["rows"] == 282
    document = (await api.client.get("/schema/openapi.json")).json()
    assert document["paths"]["/data/load_pickle"]["post"]["deprecated"] is True


@pytest.mark.parametrize(
    ("rows", "detail"),
    [
        ([("2019", [1, "many", 3, 4, 5, 6])], r"p08b\.xlsx, row \d+: .*'many'"),
        ([("2019", [1, 2, 3, 4, 5, 6]), ("2019", [1, 2, 3, 4, 5, 6])], r"p08b\.xlsx: .*lists 2019 twice"),
    ],
)
async def test_a_load_with_a_bad_workbook_names_it_and_changes_nothing(
    loaded: Api, rows: list[tuple[str, list[p8.Cell]]], detail: str
) -> None:
    before = await loaded.snapshot()
    (loaded.more / "p08b.xlsx").write_bytes(workbook(rows=rows))

    response = await loaded.load()

    assert_problem(response, {422}, detail)
    assert await loaded.snapshot() == before


async def test_an_uploaded_workbook_replaces_the_table_of_its_race(loaded: Api) -> None:
    response = await loaded.upload("p08-asian-2.xlsx", workbook("Asian"))

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["race"], body["source"], body["rows"], body["years"]) == ("asian", "p08-asian-2.xlsx", 2, [2018, 2019])
    assert (await loaded.get("/records", race="asian")).json()["total"] == 2
    assert (await loaded.get("/records", race="white")).json()["total"] == 140


async def test_uploading_the_real_workbook_first_creates_its_dataset(api: Api) -> None:
    response = await api.upload("p08a.xlsx", ASIAN.read_bytes())

    assert response.status_code == 201, response.text
    assert response.json()["sha256"] == hashlib.sha256(ASIAN.read_bytes()).hexdigest()
    assert [d["race"] for d in (await api.get("/datasets")).json()["items"]] == ["asian"]


@pytest.mark.parametrize(
    ("name", "content", "statuses", "detail"),
    [
        ("p08a.xlsx", b"x" * (MAX_UPLOAD + 1), {413}, "larger than the limit"),
        ("records.csv", b"race,year\nasian,2019\n", {415, 422}, r"\.xlsx"),
        ("p08a.xlsx", b"not a zip archive", {422}, "not an .xlsx workbook"),
        ("p08a.xlsx", b"", {422}, r"p08a\.xlsx"),
        ("p08a.xlsx", workbook(rows=[("2019", [-5, 2, 3, 4, 5, 6])]), {422}, r"p08a\.xlsx, row \d+"),
        ("p08a.xlsx", workbook(rows=[("1900", [1, 2, 3, 4, 5, 6])]), {422}, "1900"),
    ],
    ids=["too-large", "csv", "not-a-zip", "empty", "negative-number", "year-1900"],
)
async def test_a_bad_upload_is_refused_and_leaves_the_data_exactly_as_it_was(
    loaded: Api, name: str, content: bytes, statuses: set[int], detail: str
) -> None:
    before = await loaded.snapshot()

    response = await loaded.upload(name, content)

    assert_problem(response, statuses, detail)
    assert await loaded.snapshot() == before


async def test_an_upload_without_a_file_field_names_the_field(api: Api) -> None:
    response = await api.client.post("/datasets", files={"workbook": ("a.xlsx", b"x", XLSX)}, headers=api.admin)

    assert_problem(response, {400, 422}, "file")


def with_heading(heading: str, race: str = "Asian") -> bytes:
    """A small P-8 workbook whose one population heading (row 5) is ``heading``."""
    section = p8.AgeSection("25-34", [p8.Population(heading, [("2019", [1, 2, 3, 4, 5, 6])])])
    return p8.p8_workbook(p8.P8Table(race, 2019, (2019, 2019), [section]))


# PostgreSQL in the fast tier: it is the store whose column and text type refused these inside the COPY.
@pytest.mark.parametrize("api", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_an_upload_whose_texts_no_record_could_hold_is_refused_naming_the_row_and_changes_nothing(
    api: Api,
) -> None:
    hostile = [
        (with_heading("B" * 201), r"p08a\.xlsx, row 5: the population heading .* is 201 characters long"),
        (with_heading("Asian\x00Alone"), r"p08a\.xlsx, row 5: the population heading .* control character"),
        (with_heading("Asian Alone", race="Asian\x00"), r"p08a\.xlsx, row 2: the title .* control character"),
    ]
    for content, detail in hostile:  # into an empty store first, where a first load copies into the records
        assert_problem(await api.upload("p08a.xlsx", content), {422}, detail)
        assert (await api.get("/datasets")).json()["items"] == []
    assert (await api.load()).status_code == 200
    before = await api.snapshot()

    for content, detail in hostile:  # then replacing a loaded table
        assert_problem(await api.upload("p08a.xlsx", content), {422}, detail)
        assert await api.snapshot() == before


async def test_deleting_a_dataset_deletes_its_records(loaded: Api) -> None:
    asian = (await loaded.get("/datasets")).json()["items"][0]

    response = await loaded.client.delete(f"/datasets/{asian['id']}", headers=loaded.admin)

    assert response.status_code == 204
    assert (await loaded.get("/records", race="asian")).json()["total"] == 0
    assert_problem(await loaded.client.delete(f"/datasets/{asian['id']}", headers=loaded.admin), {404}, "no dataset")


@pytest.mark.parametrize(
    ("method", "url", "key"),
    [
        ("DELETE", "/datasets/0", "dataset_id"),
        ("DELETE", "/records/0", "record_id"),
        ("GET", "/records/0", "record_id"),
        ("DELETE", "/users/0", "user_id"),
    ],
)
async def test_an_impossible_id_is_a_400_naming_it_as_a_path_parameter(
    loaded: Api, method: str, url: str, key: str
) -> None:
    response = await loaded.client.request(method, url, headers=loaded.admin)

    assert_problem(response, {400}, f"^{key}: ")
    assert response.json()["errors"] == [{"message": "Expected `int` >= 1", "key": key, "source": "path"}]


async def test_only_an_admin_may_load_upload_or_delete(loaded: Api) -> None:
    before = await loaded.snapshot()

    responses = [
        await loaded.client.post("/datasets/load", headers=loaded.reader),
        await loaded.client.post("/data/load_pickle", headers=loaded.reader),
        await loaded.client.post(
            "/datasets", files={"file": ("a.xlsx", workbook("Asian"), XLSX)}, headers=loaded.reader
        ),
        await loaded.client.delete("/datasets/1", headers=loaded.reader),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert await loaded.snapshot() == before


# Records


async def test_records_come_in_pages_with_the_total(reading: Api) -> None:
    everything = (await reading.get("/records", race="asian", limit=1000)).json()["items"]

    page = (await reading.get("/records", race="asian", limit=10, offset=5)).json()

    assert (page["total"], page["limit"], page["offset"]) == (140, 10, 5)
    assert page["items"] == everything[5:15]
    assert set(page["items"][0]) == set(RECORD_FIELDS)
    assert (await reading.get("/records")).json()["limit"] == 100


async def test_footnoted_estimates_of_a_year_are_kept_apart_in_table_order(reading: Api) -> None:
    page = (await reading.get("/records", race="asian", age_range="25-34", year=2017)).json()

    assert [(r["footnote"], r["male_median_income_constant"]) for r in page["items"]] == [("40", 53489), (None, 56313)]
    assert page["items"][0]["population"] == "Asian Alone or in Combination"


async def test_records_filter_by_population(reading: Api) -> None:
    page = (await reading.get("/records", population="White Alone or in Combination", year=2019)).json()

    assert page["total"] == 7
    assert {r["race"] for r in page["items"]} == {"white"}


@pytest.mark.parametrize(
    ("params", "statuses", "detail"),
    [
        ({"race": "martian"}, {400, 422}, "race"),
        ({"age_range": "55+"}, {400, 422}, "age_range"),
        ({"year": 1939}, {400, 422}, "year"),
        ({"year": "last"}, {400, 422}, "year"),
        ({"limit": 0}, {400, 422}, "limit"),
        ({"limit": 1001}, {400, 422}, "limit"),
        ({"offset": -1}, {400, 422}, "offset"),
    ],
)
async def test_a_bad_filter_is_refused_naming_the_parameter(
    reading: Api, params: dict[str, Any], statuses: set[int], detail: str
) -> None:
    assert_problem(await reading.get("/records", **params), statuses, detail)


async def test_records_as_csv_stream_every_matching_record_with_a_header_line(reading: Api) -> None:
    as_json = (await reading.get("/records", race="asian", limit=1000)).json()["items"]

    response = await reading.client.get(
        "/records", params={"race": "asian"}, headers={**reading.reader, "Accept": "text/csv"}
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="records.csv"'
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0] == RECORD_FIELDS
    assert len(lines) == 1 + 140
    assert lines[1:] == [["" if r[field] is None else str(r[field]) for field in RECORD_FIELDS] for r in as_json]


async def test_records_as_csv_with_a_limit_are_that_page(reading: Api) -> None:
    headers = {**reading.reader, "Accept": "text/csv"}

    response = await reading.client.get("/records", params={"limit": 3, "offset": 2}, headers=headers)

    ids = [int(line[0]) for line in list(csv.reader(io.StringIO(response.text)))[1:]]
    assert ids == [r["id"] for r in (await reading.get("/records", limit=3, offset=2)).json()["items"]]


async def test_a_full_csv_export_lists_the_records_as_the_json_pages_do_after_a_record_was_added(loaded: Api) -> None:
    # The added record's id is above every other table's, but it is listed after its own table's rows.
    created = await loaded.client.post("/records", json=new_record(), headers=loaded.admin)
    assert created.status_code == 201, created.text
    pages: list[dict[str, Any]] = []
    while items := (await loaded.get("/records", limit=100, offset=len(pages))).json()["items"]:
        pages.extend(items)

    as_csv = await loaded.client.get("/records", headers={**loaded.reader, "Accept": "text/csv"})
    with_format = await loaded.get("/records", format="csv", race="white,asian")

    as_rows = [["" if r[field] is None else str(r[field]) for field in RECORD_FIELDS] for r in pages]
    assert list(csv.reader(io.StringIO(as_csv.text)))[1:] == as_rows
    in_two_races = [row for row in as_rows if row[2] in {"white", "asian"}]
    assert list(csv.reader(io.StringIO(with_format.text)))[1:] == in_two_races
    ids = [r["id"] for r in pages]
    assert ids != sorted(ids)
    assert pages[ids.index(created.json()["id"]) + 1]["race"] != "asian"


async def test_a_population_a_spreadsheet_would_run_as_a_formula_is_defused_in_csv(loaded: Api) -> None:
    formula = '=HYPERLINK("http://example.invalid","x")'
    created = await loaded.client.post("/records", json=new_record(population=formula), headers=loaded.admin)
    assert created.status_code == 201, created.text

    response = await loaded.client.get(
        "/records", params={"year": 2020}, headers={**loaded.reader, "Accept": "text/csv"}
    )

    (row,) = list(csv.DictReader(io.StringIO(response.text)))
    assert row["population"] == "'" + formula
    assert (await loaded.get(f"/records/{created.json()['id']}")).json()["population"] == formula


async def test_a_csv_export_with_a_bad_filter_is_refused_as_json(reading: Api) -> None:
    response = await reading.client.get(
        "/records", params={"race": "martian"}, headers={**reading.reader, "Accept": "text/csv"}
    )

    assert_problem(response, {422}, "race: 'martian'")


async def test_a_record_is_found_by_id_and_a_missing_one_is_404(reading: Api) -> None:
    first = (await reading.get("/records", limit=1)).json()["items"][0]

    assert (await reading.get(f"/records/{first['id']}")).json() == first
    assert_problem(await reading.get("/records/999999"), {404}, "no record with id 999999")


def new_record(**changes: Any) -> dict[str, Any]:
    record = {
        "race": "asian",
        "population": "Asian Alone or in Combination",
        "age_range": "25-34",
        "year": 2020,
        "footnote": None,
        "male_number_with_income": 1800,
        "male_median_income_current": 53000,
        "male_median_income_constant": 53000,
        "female_number_with_income": None,
        "female_median_income_current": None,
        "female_median_income_constant": None,
    }
    return record | changes


async def test_an_added_record_joins_its_races_dataset_and_can_be_deleted(loaded: Api) -> None:
    asian = (await loaded.get("/datasets")).json()["items"][0]

    created = await loaded.client.post("/records", json=new_record(), headers=loaded.admin)

    assert created.status_code == 201, created.text
    record = created.json()
    assert (record["dataset_id"], record["constant_dollar_year"], record["year"]) == (asian["id"], 2019, 2020)
    assert (await loaded.get(f"/records/{record['id']}")).json() == record
    assert (await loaded.client.delete(f"/records/{record['id']}", headers=loaded.admin)).status_code == 204
    assert_problem(await loaded.get(f"/records/{record['id']}"), {404})
    assert_problem(await loaded.client.delete(f"/records/{record['id']}", headers=loaded.admin), {404})


@pytest.mark.parametrize("footnote", [None, "40"])
async def test_adding_a_record_that_exists_is_409(reading: Api, footnote: str | None) -> None:
    record = new_record(year=2017, footnote=footnote)

    response = await reading.client.post("/records", json=record, headers=reading.admin)

    assert_problem(response, {409}, "race 'asian', population 'Asian Alone or in Combination', age range 25-34")


@pytest.mark.parametrize("api", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_records_population_in_other_case_is_the_tables_sub_section(api: Api) -> None:
    assert (await api.load()).status_code == 200
    spelt = "Asian Alone or in Combination"

    existing = await api.client.post(
        "/records", json=new_record(year=2017, population="ASIAN ALONE or in Combination"), headers=api.admin
    )
    created = await api.client.post(
        "/records", json=new_record(year=2020, population="asian alone or in combination"), headers=api.admin
    )

    assert_problem(existing, {409}, f"population '{spelt}', age range 25-34, year 2017 exists")
    assert created.status_code == 201, created.text
    assert created.json()["population"] == spelt
    found = (await api.get("/records", race="asian", population="ASIAN ALONE OR IN COMBINATION", year=2020)).json()
    assert [record["id"] for record in found["items"]] == [created.json()["id"]]
    asian = (await api.get("/dimensions")).json()["races"][0]
    assert [(p["population"], p["years"]) for p in asian["populations"]] == [(spelt, [2002, 2020])]


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"race": "martian"}, "race"),
        ({"race": "hispanic"}, "no dataset is loaded for race 'hispanic'"),
        ({"age_range": "55+"}, "age_range"),
        ({"year": 1939}, "year"),
        ({"year": 2101}, "year"),
        ({"male_number_with_income": -1}, "male_number_with_income"),
        ({"footnote": "forty"}, "footnote"),
        ({"population": ""}, "population"),
        ({"dataset_id": 1}, "dataset_id"),
    ],
)
async def test_a_record_breaking_a_rule_is_refused_naming_the_field(
    reading: Api, changes: dict[str, Any], detail: str
) -> None:
    response = await reading.client.post("/records", json=new_record(**changes), headers=reading.admin)

    assert_problem(response, {400, 422}, detail)


async def test_only_an_admin_may_add_or_delete_records(loaded: Api) -> None:
    first = (await loaded.get("/records", limit=1)).json()["items"][0]

    added = await loaded.client.post("/records", json=new_record(), headers=loaded.reader)
    deleted = await loaded.client.delete(f"/records/{first['id']}", headers=loaded.reader)

    assert (added.status_code, deleted.status_code) == (403, 403)
    assert (await loaded.get(f"/records/{first['id']}")).status_code == 200


# Comparisons


async def test_the_golden_comparison_of_2019_at_age_30(reading: Api) -> None:
    response = await reading.get("/comparisons", year=2019, age=30)

    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("year", "age_range", "basis", "races", "race", "base_year")} == {
        "year": 2019,
        "age_range": "25-34",
        "basis": "constant",
        "races": ["white", "asian"],
        "race": None,
        "base_year": None,
    }
    assert body["comparison"]["male"] == {
        "head": "asian",
        "income_difference": 6767,
        "population_difference": 14620,
        "percent_change_income": None,
        "percent_change_pop": None,
        "incomes": {"white": 45361, "asian": 52128},
        "numbers_with_income": {"white": 16367, "asian": 1747},
    }
    assert set(body["comparison"]) == {"male", "female"}


async def test_the_golden_percent_changes_of_asian_since_2010(reading: Api) -> None:
    body = (await reading.get("/comparisons", year=2019, age=30, race="asian", base_year=2010, sex="male")).json()

    assert list(body["comparison"]) == ["male"]
    assert body["comparison"]["male"]["percent_change_income"] == 22.8
    assert body["comparison"]["male"]["percent_change_pop"] == 40.32


async def test_a_footnoted_year_is_compared_on_its_first_listed_estimate(reading: Api) -> None:
    first = {
        race: (await reading.get("/records", race=race, age_range="35-44", year=2013)).json()["items"][0]
        for race in ("white", "asian")
    }

    body = (await reading.get("/comparisons", year=2013, age_range="35-44", basis="current")).json()

    incomes = [first[race]["female_median_income_current"] for race in ("white", "asian")]
    assert first["asian"]["footnote"] == "39"
    assert body["comparison"]["female"]["income_difference"] == abs(incomes[0] - incomes[1])


@pytest.mark.parametrize(("age", "bracket"), [(55, "55-64"), (64, "55-64"), (70, "65-74"), (75, "75+"), (101, "75+")])
async def test_ages_over_54_map_to_their_brackets(reading: Api, age: int, bracket: str) -> None:
    response = await reading.get("/comparisons", year=2019, age=age)

    assert response.status_code == 200, response.text
    assert response.json()["age_range"] == bracket


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"year": 1990, "age": 30, "races": "asian,white"}, "race 'asian' has no data for 1990"),
        ({"year": 2019, "age": 30, "race": "asian", "base_year": 1995}, "race 'asian' has no data for 1995"),
        ({"year": 2019, "age": 40, "races": "white,black"}, "race 'black' has no data for 2019 at ages 35-44"),
    ],
)
async def test_a_race_without_data_for_the_year_is_404_naming_the_race_and_year(
    reading: Api, params: dict[str, Any], detail: str
) -> None:
    assert_problem(await reading.get("/comparisons", **params), {404}, detail)


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"age": 30}, "year"),
        ({"year": 2019, "age": 14}, "age"),
        ({"year": 2019}, "age"),
        ({"year": 2019, "age": 30, "age_range": "25-34"}, "age"),
        ({"year": 2019, "age_range": "55+"}, "age_range"),
        ({"year": 2019, "age": 30, "sex": "other"}, "sex"),
        ({"year": 2019, "age": 30, "basis": "real"}, "basis"),
        ({"year": 2019, "age": 30, "races": "white"}, "races"),
        ({"year": 2019, "age": 30, "races": "white,white"}, "races"),
        ({"year": 2019, "age": 30, "races": "white,martian"}, "races"),
        ({"year": 2019, "age": 30, "race": "black"}, "race"),
        ({"year": 2019, "age": 30, "race": "asian", "base_year": 1900}, "base_year"),
        ({"year": 3000, "age": 30}, "year"),
    ],
)
async def test_bad_comparison_parameters_are_refused_naming_them(
    reading: Api, params: dict[str, Any], detail: str
) -> None:
    assert_problem(await reading.get("/comparisons", **params), {400, 422}, detail)


# Entity tags

DATA_GETS = [
    "/records",
    "/records/{id}",
    "/comparisons?year=2019&age_range=25-34",
    "/datasets",
    "/series?races=asian,white&sex=female&age_range=25-34",
    "/dimensions",
]


async def data_urls(api: Api) -> list[str]:
    first = (await api.get("/records", limit=1)).json()["items"][0]["id"]
    return [url.format(id=first) for url in DATA_GETS]


async def test_every_data_get_sends_a_strong_etag_that_a_revalidation_answers_with_304_and_no_body(
    reading: Api,
) -> None:
    for url in await data_urls(reading):
        response = await reading.client.get(url, headers=reading.reader)
        assert response.status_code == 200, (url, response.text)
        etag = response.headers["etag"]
        assert re.fullmatch(r'"[^"]+"', etag), (url, etag)  # strong: no W/ prefix
        assert response.headers["cache-control"] == "private, no-cache"

        again = await reading.client.get(url, headers={**reading.reader, "If-None-Match": etag})
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag), url
        other = await reading.client.get(url, headers={**reading.reader, "If-None-Match": '"something-else"'})
        assert other.status_code == 200, url


async def test_json_and_csv_of_the_same_records_have_different_etags(reading: Api) -> None:
    as_json = await reading.get("/records")
    as_csv = await reading.client.get("/records", headers={**reading.reader, "Accept": "text/csv"})

    assert as_json.headers["etag"] != as_csv.headers["etag"]
    assert "Accept" in as_json.headers["vary"]


async def test_a_tag_revalidates_only_the_url_it_was_given_for(reading: Api) -> None:
    first, second = (await reading.get("/records", limit=2)).json()["items"]
    etag = (await reading.get(f"/records/{first['id']}")).headers["etag"]

    for url, status in [(f"/records/{second['id']}", 200), ("/records/999999", 404), ("/records?race=martian", 422)]:
        response = await reading.client.get(url, headers={**reading.reader, "If-None-Match": etag})
        assert response.status_code == status, (url, response.text)


async def test_if_none_match_any_answers_304_only_where_there_is_a_current_answer(reading: Api) -> None:
    star = {**reading.reader, "If-None-Match": "*"}
    url = f"/records/{(await reading.get('/records', limit=1)).json()['items'][0]['id']}"
    etag = (await reading.get(url)).headers["etag"]

    for _ in range(2):  # answered by the handler, then from what the worker kept
        response = await reading.client.get(url, headers=star)
        assert (response.status_code, response.content, response.headers["etag"]) == (304, b"", etag)
    for missing, status in [("/records/999999", 404), ("/records?race=martian", 422)]:
        response = await reading.client.get(missing, headers=star)
        assert response.status_code == status, (missing, response.text)


@pytest.mark.parametrize("write", ["load", "upload", "add-record", "delete-record", "delete-dataset"])
async def test_once_a_write_has_answered_every_data_get_has_a_new_etag(loaded: Api, write: str) -> None:
    urls = await data_urls(loaded)
    before = {url: (await loaded.client.get(url, headers=loaded.reader)).headers["etag"] for url in urls}
    record = (await loaded.get("/records", limit=1)).json()["items"][0]
    dataset = (await loaded.get("/datasets")).json()["items"][0]

    if write == "load":
        response = await loaded.load()
    elif write == "upload":
        response = await loaded.upload("p08b.xlsx", workbook(rows=[("2019", [9, 9, 9, 9, 9, 9])]))
    elif write == "add-record":
        body = {**{k: v for k, v in record.items() if k not in {"id", "dataset_id", "constant_dollar_year"}}}
        response = await loaded.client.post("/records", json={**body, "year": 1999}, headers=loaded.admin)
    elif write == "delete-record":
        response = await loaded.client.delete(f"/records/{record['id']}", headers=loaded.admin)
    else:
        response = await loaded.client.delete(f"/datasets/{dataset['id']}", headers=loaded.admin)
    assert response.status_code < 300, response.text

    for url, etag in before.items():
        if write != "load" and url.startswith("/records/"):
            continue  # the record may be gone (404, no tag)
        again = await loaded.client.get(url, headers={**loaded.reader, "If-None-Match": etag})
        assert again.status_code in {200, 404}, (write, url)
        if again.status_code == 200:
            assert again.headers["etag"] != etag, (write, url)


async def test_reloading_the_same_workbooks_keeps_every_record_id_and_a_saved_link(loaded: Api) -> None:
    before = (await loaded.get("/records", limit=1000)).json()["items"]

    assert (await loaded.load()).status_code == 200

    after = (await loaded.get("/records", limit=1000)).json()["items"]
    assert [item["id"] for item in after] == [item["id"] for item in before]
    saved = await loaded.get(f"/records/{before[7]['id']}")
    assert saved.json() == before[7]
