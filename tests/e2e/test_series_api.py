"""GET /series and /dimensions through HTTP on the real P-8 workbooks, on memory, SQLite and PostgreSQL.

The samples are loaded once per backend (module scope): every test here only reads.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from PIL import Image

from libdib.bootstrap import Backend, build_services
from libdib.entrypoints.http.app import create_app
from tests import databases
from tests.conftest import CENSUS_DIR, make_settings
from tests.fakes import FastHasher, FixedClock

pytestmark = pytest.mark.anyio

PASSWORD = "quartz-lantern-migrates-slowly"
YEARS = range(2002, 2020)


def by_year(cells: str) -> dict[int, int]:
    return dict(zip(YEARS, map(int, cells.split()), strict=True))


# Women aged 25-34, median income in 2019 (constant) dollars, as the workbooks print them; the first-listed
# estimate of 2013 and 2017, then the second-listed one.
ASIAN_WOMEN = by_year(
    "31831 35641 35569 36209 37668 39880 38633 36635 36791 34270 39607 30463 34160 37265 38021 40735 42077 45525"
)
WHITE_WOMEN = by_year(
    "31212 31127 30104 30487 31602 32503 30660 30566 30755 30008 29767 28635 29244 32294 33037 32641 33080 36024"
)
ASIAN_SECOND = {2013: (35908, "38"), 2017: (37942, None)}
WHITE_SECOND = {2013: (29752, "38"), 2017: (32474, None)}
WOMEN_25_34 = {"sex": "female", "age_range": "25-34"}


@dataclass
class Api:
    client: AsyncTestClient[Any]
    headers: dict[str, str]

    async def series(self, accept: str | None = None, **params: Any) -> httpx.Response:
        headers = {**self.headers, **({"Accept": accept} if accept else {})}
        return await self.client.get("/series", params=params, headers=headers)

    async def ok(self, **params: Any) -> dict[str, Any]:
        response = await self.series(**params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def by_key(body: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {series["key"]: series["points"] for series in body["series"]}


def values(points: list[dict[str, Any]]) -> dict[int, Any]:
    return {point["year"]: point["value"] for point in points}


@pytest.fixture(scope="module", params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    folder = tmp_path_factory.mktemp("series")
    url, database = f"sqlite+aiosqlite:///{folder / 'libdib.sqlite3'}", None
    if request.param == "sqlite":
        databases.migrate(url)
    if request.param == "postgres":
        request.getfixturevalue("postgres_server")
        database = databases.create_database()
        url = databases.async_url(database)
    settings = make_settings(database_url=url, census_source=str(CENSUS_DIR))
    backend: Backend = "memory" if request.param == "memory" else "sql"
    services = build_services(settings, backend=backend, hasher=FastHasher(), clock=FixedClock())
    try:
        async with AsyncTestClient(app=create_app(settings, services)) as client:
            client.blocking_portal.call(partial(services.users.sign_up, "reader", PASSWORD))
            client.blocking_portal.call(services.datasets.load)
            login = await client.post("/auth/login", json={"username": "reader", "password": PASSWORD})
            yield Api(client, {"Authorization": f"Bearer {login.json()['access_token']}"})
    finally:
        if database:
            databases.drop_database(database)


async def test_the_asian_and_white_series_of_women_25_34_in_2019_dollars_match_the_published_cells(api: Api) -> None:
    body = await api.ok(races="asian,white", dollars="2019", compare="difference", **WOMEN_25_34, to=2019)

    series = by_key(body)
    assert body["unit"] == "2019 dollars"
    assert list(series) == ["asian,white:difference:female:25-34", "asian:female:25-34", "white:female:25-34"]
    assert values(series["asian:female:25-34"]) == ASIAN_WOMEN
    assert values(series["white:female:25-34"]) == WHITE_WOMEN
    assert values(series["asian,white:difference:female:25-34"]) == {
        year: ASIAN_WOMEN[year] - WHITE_WOMEN[year] for year in YEARS
    }
    assert {s["unit"] for s in body["series"]} == {"2019 dollars"}


async def test_2013_and_2017_show_the_first_listed_estimate_and_with_editions_all_both(api: Api) -> None:
    first = by_key(await api.ok(races="asian", **WOMEN_25_34))["asian:female:25-34"]
    every = by_key(await api.ok(races="asian", editions="all", **WOMEN_25_34))["asian:female:25-34"]

    twice = [point for point in first if point["edition"] is not None]
    assert [(p["year"], p["value"], p["footnote"], p["edition"]) for p in twice] == [
        (2013, 30463, "39", 1),
        (2017, 40735, "40", 1),
    ]
    both = [(p["year"], p["value"], p["footnote"], p["edition"]) for p in every if p["year"] in ASIAN_SECOND]
    assert both == [(2013, 30463, "39", 1), (2013, 35908, "38", 2), (2017, 40735, "40", 1), (2017, 37942, None, 2)]
    assert len(every) == len(first) + 2
    assert {p["population"] for p in every} == {"Asian Alone or in Combination"}


async def test_changes_run_between_comparable_estimates_of_the_years_listed_twice(api: Api) -> None:
    change = values(by_key(await api.ok(races="asian", units="change", **WOMEN_25_34))["asian:female:25-34"])

    assert change[2002] is None
    assert change[2013] == ASIAN_SECOND[2013][0] - ASIAN_WOMEN[2012]
    assert change[2014] == ASIAN_WOMEN[2014] - ASIAN_WOMEN[2013]
    assert change[2017] == ASIAN_SECOND[2017][0] - ASIAN_WOMEN[2016]
    assert change[2018] == ASIAN_WOMEN[2018] - ASIAN_WOMEN[2017]


async def test_an_index_chains_the_changes_and_the_since_units_agree_with_it(api: Api) -> None:
    query = {"races": "white", **WOMEN_25_34, "base_year": 2010}
    index = values((await api.ok(**query, units="index"))["series"][0]["points"])
    since = values((await api.ok(**query, units="percent_change_since"))["series"][0]["points"])
    change_since = values((await api.ok(**query, units="change_since"))["series"][0]["points"])

    w = WHITE_WOMEN
    # 2010 to 2019 crosses 2013 and 2017: the chain skips the gap between their two estimates.
    chained = w[2012] / w[2010] * WHITE_SECOND[2013][0] / w[2012] * w[2016] / w[2013] * WHITE_SECOND[2017][0] / w[2016]
    chained *= w[2019] / w[2017]
    assert index[2010] == 100
    assert index[2019] == round(100 * chained, 2)
    assert index[2005] == round(100 * w[2005] / w[2010], 2)
    assert since[2019] == round(100 * chained - 100, 2)
    breaks = (w[2013] - WHITE_SECOND[2013][0]) + (w[2017] - WHITE_SECOND[2017][0])
    assert change_since[2019] == w[2019] - w[2010] - breaks


async def test_percent_changes_have_two_decimals_and_ratios_four(api: Api) -> None:
    percent = values((await api.ok(races="asian", units="percent_change", **WOMEN_25_34))["series"][0]["points"])
    ratio = await api.ok(races="asian,white", compare="ratio", **WOMEN_25_34)

    assert percent[2019] == round((45525 - 42077) / 42077 * 100, 2)
    assert ratio["unit"] == "ratio"
    assert values(ratio["series"][0]["points"])[2019] == round(45525 / 36024, 4)
    assert ratio["series"][1]["unit"] == "2019 dollars"


async def test_current_dollars_and_another_years_dollars_use_the_tables_own_columns(api: Api) -> None:
    current = values((await api.ok(races="asian", dollars="current", **WOMEN_25_34))["series"][0]["points"])
    rebased = await api.ok(races="asian", dollars="2010", **WOMEN_25_34)

    assert current[2018] == 41328
    rows = (await api.client.get("/records", params={"race": "asian", "year": 2010}, headers=api.headers)).json()
    firsts = {(r["age_range"], r["population"]): r for r in reversed(rows["items"])}  # the first listed wins
    cells = [
        (r[f"{s}_median_income_current"], r[f"{s}_median_income_constant"])
        for r in firsts.values()
        for s in ("male", "female")
    ]
    k = sum(c for c, _ in cells) / sum(k for _, k in cells)
    assert rebased["unit"] == "2010 dollars"
    assert values(rebased["series"][0]["points"])[2019] == round(45525 * k)


async def test_numbers_with_income_are_in_thousands_and_bounds_and_populations_select(api: Api) -> None:
    body = await api.ok(
        races="asian", measure="number_with_income", population="ASIAN alone or in combination", **WOMEN_25_34
    )
    bounded = await api.ok(races="asian", **WOMEN_25_34, **{"from": 2010, "to": 2012})

    assert body["unit"] == "thousands of people"
    assert values(body["series"][0]["points"])[2019] == 1603
    assert body["query"]["population"] == "ASIAN alone or in combination"
    assert [point["year"] for point in bounded["series"][0]["points"]] == [2010, 2011, 2012]


async def test_without_sex_or_age_range_there_is_a_series_for_each(api: Api) -> None:
    body = await api.ok(races="asian,white")

    assert len(body["series"]) == 2 * 2 * 7
    assert body["query"] == {
        "races": ["asian", "white"],
        "sex": None,
        "age_range": "all",
        "population": None,
        "measure": "median_income",
        "dollars": "constant",
        "from": None,
        "to": None,
        "compare": None,
        "units": "level",
        "base_year": None,
        "editions": "first",
    }


async def test_csv_has_one_line_per_point_by_accept_header_or_format(api: Api) -> None:
    by_header = await api.series(accept="text/csv", races="asian,white", compare="difference", **WOMEN_25_34)
    by_format = await api.series(format="csv", races="asian,white", compare="difference", **WOMEN_25_34)
    body = await api.ok(races="asian,white", compare="difference", **WOMEN_25_34)

    assert by_header.status_code == 200
    assert by_header.headers["content-type"].startswith("text/csv")
    assert by_header.text == by_format.text
    lines = list(csv.DictReader(io.StringIO(by_header.text)))
    assert len(lines) == sum(len(series["points"]) for series in body["series"])
    first = next(line for line in lines if line["key"] == "asian:female:25-34" and line["year"] == "2013")
    assert (first["value"], first["footnote"], first["edition"], first["unit"]) == ("30463", "39", "1", "2019 dollars")


async def test_an_svg_chart_names_the_series_years_unit_and_source(api: Api) -> None:
    response = await api.series(
        format="svg", races="asian,white", compare="difference", dollars="2019", **WOMEN_25_34, to=2019
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.content)  # noqa: S314 - our own output
    text = " ".join("".join(element.itertext()) for element in root.iter())
    for name in ("Asian minus White, women 25-34", "Asian, women 25-34", "White, women 25-34"):
        assert name in text
    assert "2019 dollars" in text
    assert "2002-2019" in text
    assert "Source: U.S. Census Bureau, Current Population Survey, Table P-8" in text
    assert "year listed twice" in text


async def test_png_charts_decode_for_one_series_and_for_fourteen(api: Api) -> None:
    one = await api.series(accept="image/png", races="asian", **WOMEN_25_34)
    fourteen = await api.series(format="png", races="asian,white", sex="female")
    ratio = await api.series(format="svg", races="asian,white", compare="ratio", sex="male", age_range="45-54")

    for response in (one, fourteen):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(response.content))
        image.verify()
    assert Image.open(io.BytesIO(fourteen.content)).height > Image.open(io.BytesIO(one.content)).height
    assert ratio.status_code == 200
    assert b"ratio" in ratio.content


async def test_dimensions_list_the_loaded_races_with_their_sections_and_years_listed_twice(api: Api) -> None:
    response = await api.client.get("/dimensions", headers=api.headers)

    assert response.status_code == 200
    body = response.json()
    assert body["age_ranges"] == ["15-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75+"]
    assert body["sexes"] == ["male", "female"]
    assert body["measures"] == ["median_income", "number_with_income"]
    asian = body["races"][0]
    assert {key: asian[key] for key in ("race", "constant_dollar_year", "years", "listed_twice")} == {
        "race": "asian",
        "constant_dollar_year": 2019,
        "years": [2002, 2019],
        "listed_twice": [2013, 2017],
    }
    assert asian["title"].startswith("Table P-8. Age--Asian People")
    assert asian["populations"] == [
        {"population": "Asian Alone or in Combination", "age_ranges": body["age_ranges"], "years": [2002, 2019]}
    ]
    assert [race["race"] for race in body["races"]] == ["asian", "white"]


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"races": "martian"}, 422, "races"),
        ({"races": "asian,asian"}, 422, "races"),
        ({"races": "asian,white,black,all,hispanic,white-not-hispanic,asian"}, 422, "races"),
        ({"races": "asian", "age_range": "20-29"}, 422, "age_range"),
        ({"races": "asian", "sex": "other"}, 422, "sex"),
        ({"races": "asian", "measure": "mean_income"}, 422, "measure"),
        ({"races": "asian", "units": "log"}, 422, "units"),
        ({"races": "asian", "compare": "difference"}, 422, "compare"),
        ({"races": "asian,white", "compare": "sum"}, 422, "compare"),
        ({"races": "asian", "units": "index"}, 422, "base_year"),
        ({"races": "asian", "units": "change_since", "base_year": 1990}, 422, "base_year.*1990"),
        ({"races": "asian", "units": "change", "editions": "all"}, 422, "editions"),
        ({"races": "asian", "editions": "some"}, 422, "editions"),
        ({"races": "asian", "measure": "number_with_income", "dollars": "2019"}, 422, "dollars"),
        ({"races": "asian", "dollars": "yen"}, 422, "dollars"),
        ({"races": "asian", "dollars": "\u00b9\u00b2\u00b3\u2074"}, 422, "dollars"),
        ({"races": "asian", "dollars": "1990"}, 422, "dollars.*1990"),
        ({"races": "asian", "from": 2015, "to": 2010}, 422, "from"),
        ({"races": "asian,black"}, 404, "black"),
        ({"races": "asian", "population": "Asian Alone"}, 404, "population"),
        ({"races": "asian", "from": 2030}, 404, "from.*2030"),
        ({"races": "asian", "to": 1950, "format": "png"}, 404, "to.*1950"),
        ({"races": "asian", "format": "xml"}, 400, "format"),
        ({"races": "asian", "from": 1800}, 400, "from"),
        ({}, 400, "races"),
        ({"races": "asian", "year": 2019}, 400, "year"),
    ],
)
async def test_bad_questions_get_a_4xx_naming_what_is_wrong(
    api: Api, params: dict[str, Any], status: int, detail: str
) -> None:
    response = await api.series(**params)

    assert response.status_code == status, response.text
    assert re.search(detail, response.json()["detail"]), response.json()


async def test_series_and_dimensions_need_a_token(api: Api) -> None:
    for path in ("/series?races=asian", "/dimensions"):
        assert (await api.client.get(path)).status_code == 401


async def test_the_openapi_document_describes_every_field_of_records_series_and_dimensions(api: Api) -> None:
    schemas = (await api.client.get("/schema/openapi.json")).json()["components"]["schemas"]
    names = [name for name in schemas if name.startswith(("RecordResponse", "Series", "Point", "Dimensions"))]
    names += [name for name in schemas if name.endswith("DimensionResponse")]

    undocumented = [
        f"{name}.{field}"
        for name in names
        for field, schema in schemas[name].get("properties", {}).items()
        if not schema.get("description") and "$ref" not in schema and schema.get("type") != "array"
    ]
    assert len(names) >= 7
    assert undocumented == []
