"""Series built from plain tables: sub-section choice, re-basing, rounding once, and the chart's content."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libdib.domain.census import LoadedTable, Observation
from libdib.domain.errors import InvalidInput
from libdib.domain.series import build
from libdib.domain.series_math import round_half_away
from libdib.domain.series_query import check_query
from libdib.domain.series_service import chart_of

incomes = st.integers(2_000, 150_000)


def row(
    population: str,
    year: int,
    female: tuple[int | None, int | None],
    footnote: str | None = None,
    male: tuple[int, int] = (50_000, 60_000),
) -> Observation:
    """A 25-34 row with the women's (current, constant) medians given."""
    return Observation(population, "25-34", year, footnote, 10, *male, 9, *female)


def table(race: str, rows: list[Observation], constant_dollar_year: int = 2019) -> LoadedTable:
    return LoadedTable(1, race, f"Table P-8. Age--{race.title()} People", constant_dollar_year, rows)


def levels(tables: dict[str, LoadedTable], **params: object) -> dict[int, int | float | None]:
    result = build(tables, check_query(",".join(tables), sex="female", age_range="25-34", **params))  # type: ignore[arg-type]
    return {point.year: point.value for point in result.series[0].points}


def test_each_year_comes_from_the_first_sub_section_that_lists_it_unless_one_is_asked_for() -> None:
    rows = [
        row("Asian Alone or in Combination", 2019, (1, 100)),
        row("Asian Alone", 2019, (1, 200)),
        row("Asian Alone", 2018, (1, 300)),
        row("Asian", 2001, (1, 400)),
    ]
    tables = {"asian": table("asian", rows)}

    assert levels(tables) == {2001: 400, 2018: 300, 2019: 100}
    assert levels(tables, population="asian alone") == {2018: 300, 2019: 200}


@given(st.lists(st.tuples(incomes, incomes), min_size=2, max_size=8), st.integers(2000, 2018))
def test_rebasing_to_the_tables_own_constant_dollar_year_returns_the_published_values(
    cells: list[tuple[int, int]], constant_dollar_year: int
) -> None:
    """In its constant-dollar year the table prints the same median in both columns, so k is 1."""
    rows = [row("Asian", constant_dollar_year, (value, value), male=(other, other)) for value, other in cells[:1]]
    rows += [row("Asian", constant_dollar_year - 1 - n, pair) for n, pair in enumerate(cells[1:])]
    tables = {"asian": table("asian", rows, constant_dollar_year)}

    assert levels(tables, dollars=str(constant_dollar_year)) == levels(tables)


@given(incomes, incomes, incomes, incomes)
def test_a_difference_in_another_years_dollars_is_rounded_once_from_the_exact_values(
    asian: int, white: int, current: int, constant: int
) -> None:
    tables = {
        "asian": table("asian", [row("Asian", 2010, (current, constant)), row("Asian", 2011, (1, asian))]),
        "white": table("white", [row("White", 2010, (current, constant)), row("White", 2011, (1, white))]),
    }
    k = Fraction(current + 50_000, constant + 60_000)  # both sexes of the 2010 row: the men's cells are fixed

    gap = levels(tables, dollars="2010", compare="difference")

    assert gap[2011] == round_half_away((asian - white) * k, 0)


def test_constant_dollars_of_different_years_cannot_be_compared_without_a_year() -> None:
    tables = {
        "asian": table("asian", [row("Asian", 2011, (1, 2))], 2019),
        "white": table("white", [row("White", 2011, (1, 2))], 2018),
    }

    with pytest.raises(InvalidInput, match="different constant dollars"):
        levels(tables)
    assert levels(tables, dollars="current") == {2011: 1}


def test_the_chart_names_every_series_its_unit_and_the_years_listed_twice() -> None:
    rows = [row("Asian", 2017, (1, 10), "40"), row("Asian", 2017, (1, 12)), row("Asian", 2016, (1, 11))]
    result = build({"asian": table("asian", rows)}, check_query("asian", age_range="25-34"))

    chart = chart_of(result)

    assert [line.label for line in chart.lines] == ["Asian, men 25-34", "Asian, women 25-34"]
    assert chart.units == ("2019 dollars",)
    assert chart.listed_twice == (2017,)
    assert chart.title == "Median income of people aged 25-34: Asian, 2016-2017 (2019 dollars)"
