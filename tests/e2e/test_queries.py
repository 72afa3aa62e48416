"""Query parameters through HTTP: unknown ones are refused, and the records and comparison filters do what they say."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.e2e import test_census_api as census
from tests.e2e.test_census_api import Api, assert_problem

pytestmark = pytest.mark.anyio

reading = census.reading
"""One census API with the two sample tables loaded, on memory (and on PostgreSQL in the long tier), shared by
the module: every case here only reads."""


async def every_record(api: Api, **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/records", limit=1000, **params)
    assert response.status_code == 200, response.text
    assert response.json()["total"] <= 1000
    return list(response.json()["items"])


# Unknown parameters


@pytest.mark.parametrize(
    ("url", "params", "named"),
    [
        ("/records", {"sex": "female"}, "'sex'"),
        ("/records", {"year_from": 2010}, "'year_from'"),
        ("/records", {"race": "asian", "Race": "white"}, "'Race'"),
        ("/comparisons", {"year": 2019, "age": 30, "yaer": 2010}, "'yaer'"),
        ("/datasets", {"race": "asian"}, "'race'"),
        ("/records/1", {"fields": "id"}, "'fields'"),
        ("/users/me", {"x": ""}, "'x'"),
    ],
)
async def test_a_query_parameter_the_route_does_not_define_is_a_400_naming_it(
    reading: Api, url: str, params: dict[str, Any], named: str
) -> None:
    response = await reading.get(url, **params)

    assert_problem(response, {400}, f"unknown query parameter {named}")


@pytest.mark.parametrize(
    ("url", "params", "named"),
    [
        ("/records", {"race": ["asian", "white"]}, "'race' takes several values in one, comma-separated"),
        ("/series", {"races": ["asian", "white"]}, "'races' takes several values in one, comma-separated"),
        ("/comparisons", {"year": 2019, "age": 30, "races": ["white", "asian"]}, "'races' takes several values"),
        ("/records", {"limit": [5, 1]}, "'limit' takes one value"),
        ("/comparisons", {"year": [2019, 2010], "age": 30}, "'year' takes one value"),
        ("/records/1", {"x": ["1", "2"]}, "unknown query parameter 'x'"),
    ],
)
async def test_a_query_parameter_given_more_than_once_is_a_400_naming_it(
    reading: Api, url: str, params: dict[str, Any], named: str
) -> None:
    response = await reading.get(url, **params)

    assert_problem(response, {400}, named)


async def test_a_repeated_parameter_never_narrows_the_filter_to_its_last_value(reading: Api) -> None:
    repeated = await reading.get("/records", race=["asian", "white"], limit=1000)
    listed = await every_record(reading, race="asian,white")

    assert_problem(repeated, {400}, "'race' given more than once.*race=a,b")
    assert {record["race"] for record in listed} == {"asian", "white"}


async def test_the_refusal_lists_the_parameters_the_route_takes(reading: Api) -> None:
    detail = (await reading.get("/records", sex="female")).json()["detail"]

    for name in ("race", "population", "age_range", "year", "from", "to", "format", "limit", "offset"):
        assert name in detail


async def test_open_routes_refuse_unknown_parameters_too(reading: Api) -> None:
    health = await reading.client.get("/health", params={"verbose": "1"})
    docs = await reading.client.get("/", params={"utm_source": "x"}, follow_redirects=False)

    assert_problem(health, {400}, "unknown query parameter 'verbose'.*takes no query parameters")
    assert_problem(docs, {400}, "'utm_source'")


async def test_an_options_request_keeps_the_query_string_of_the_request_it_asks_about(reading: Api) -> None:
    response = await reading.client.options("/records", params={"race": "asian", "from": 2010})

    assert response.status_code == 204, response.text


async def test_a_route_s_own_parameters_still_work(reading: Api) -> None:
    response = await reading.get("/records", race="asian", year=2019, limit=3, offset=1)

    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 3


# Records


async def test_from_and_to_bound_the_years_inclusively(reading: Api) -> None:
    everything = await every_record(reading, race="asian", age_range="25-34")

    bounded = await every_record(reading, race="asian", age_range="25-34", **{"from": 2010, "to": 2015})

    assert {r["year"] for r in bounded} == set(range(2010, 2016))
    assert bounded == [r for r in everything if 2010 <= r["year"] <= 2015]
    first_year = min(r["year"] for r in everything)
    assert {r["year"] for r in await every_record(reading, race="asian", age_range="25-34", to=first_year)} == {
        first_year
    }
    assert {r["year"] for r in await every_record(reading, race="asian", age_range="25-34", **{"from": 2019})} == {2019}


async def test_several_races_comma_separated_select_each_of_them(reading: Api) -> None:
    asian = await every_record(reading, race="asian", year=2019)
    white = await every_record(reading, race="white", year=2019)

    both = await every_record(reading, race="asian,white", year=2019)

    assert both == sorted(asian + white, key=lambda r: r["id"])
    assert {r["race"] for r in both} == {"asian", "white"}
    assert await every_record(reading, race="White, ASIAN", year=2019) == both


async def test_population_matches_regardless_of_case(reading: Api) -> None:
    exact = await every_record(reading, population="White Alone or in Combination", year=2019)

    assert len(exact) == 7
    assert await every_record(reading, population="white alone or IN COMBINATION", year=2019) == exact


async def test_format_csv_gives_what_the_csv_accept_header_gives(reading: Api) -> None:
    params = {"race": "asian", "age_range": "25-34"}
    by_header = await reading.client.get("/records", params=params, headers={**reading.reader, "Accept": "text/csv"})

    by_format = await reading.get("/records", format="csv", **params)

    assert by_format.status_code == 200, by_format.text
    assert by_format.headers["content-type"] == "text/csv; charset=utf-8"
    assert by_format.text == by_header.text
    rows = list(csv.DictReader(io.StringIO(by_format.text)))
    assert len(rows) == len(await every_record(reading, **params))


async def test_format_json_wins_over_a_csv_accept_header(reading: Api) -> None:
    response = await reading.client.get(
        "/records", params={"format": "json", "limit": 2}, headers={**reading.reader, "Accept": "text/csv"}
    )

    assert response.headers["content-type"].startswith("application/json")
    assert len(response.json()["items"]) == 2


@pytest.mark.parametrize(
    ("params", "statuses", "detail"),
    [
        ({"from": "last"}, {400}, "^from: "),
        ({"to": 1939}, {400, 422}, "^to: "),
        ({"from": 2015, "to": 2010}, {422}, "from, to: the first year \\(2015\\) is after the last \\(2010\\)"),
        ({"race": "asian,martian"}, {422}, "race: 'martian' is not a known race group"),
        ({"race": "asian,"}, {422}, "race: '' is not a known race group"),
        ({"format": "xml"}, {400}, "^format: "),
    ],
)
async def test_a_bad_bound_race_list_or_format_is_refused_naming_it(
    reading: Api, params: dict[str, Any], statuses: set[int], detail: str
) -> None:
    assert_problem(await reading.get("/records", **params), statuses, detail)


@pytest.mark.parametrize(
    ("params", "documented_as"),
    [
        ({"age_range": "25"}, "`age_range` not listed"),
        ({"limit": 1001}, "`limit` over 1000"),
        ({"race": "martian"}, "unknown race"),
        ({"from": 2015, "to": 2010}, "`from` after `to`"),
    ],
)
async def test_a_refused_listing_answers_the_status_its_docs_give_for_that_mistake(
    reading: Api, params: dict[str, Any], documented_as: str
) -> None:
    response = await reading.get("/records", **params)
    document = (await reading.client.get("/schema/openapi.json")).json()

    responses = document["paths"]["/records"]["get"]["responses"]
    assert documented_as in responses[str(response.status_code)]["description"], response.text
    assert sum(documented_as in answer.get("description", "") for answer in responses.values()) == 1


# Comparisons


async def test_a_base_year_without_race_is_a_422_saying_race_is_needed(reading: Api) -> None:
    response = await reading.get("/comparisons", year=2019, age=30, base_year=2010)

    assert_problem(response, {422}, "base_year: needs race")


async def test_a_comparison_says_which_dollars_and_gives_each_race_s_own_median(reading: Api) -> None:
    dollar_year = (await every_record(reading, race="asian", year=2019))[0]["constant_dollar_year"]

    body = (await reading.get("/comparisons", year=2019, age=30)).json()

    assert (body["dollars"], body["constant_dollar_year"]) == (f"{dollar_year} dollars", dollar_year)
    male = body["comparison"]["male"]
    assert male["incomes"] == {"white": 45361, "asian": 52128}
    assert male["income_difference"] == abs(male["incomes"]["white"] - male["incomes"]["asian"]) == 6767
    numbers = male["numbers_with_income"]
    assert male["population_difference"] == abs(numbers["white"] - numbers["asian"]) == 14620


async def test_current_dollars_are_labelled_so_and_the_medians_are_current(reading: Api) -> None:
    records = {
        race: (await every_record(reading, race=race, age_range="25-34", year=2015))[0] for race in ("white", "asian")
    }

    body = (await reading.get("/comparisons", year=2015, age=30, basis="current", sex="female")).json()

    assert body["dollars"] == "current dollars"
    assert body["comparison"]["female"]["incomes"] == {
        race: record["female_median_income_current"] for race, record in records.items()
    }
