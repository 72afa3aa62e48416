"""Series from generated full-layout P-8 workbooks equal an independent computation from the cells.

Each table has several age sections, each with three sub-sections (two from 2002, one from 1967 to 2001,
in a shuffled order), years listed twice with footnotes, and symbols in about one cell in twelve.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest

from libdib.bootstrap import Services, build_services
from libdib.domain.ports import Workbook
from libdib.domain.series_query import check_query
from tests.conftest import make_settings
from tests.fakes import FastHasher
from tests.support import p8

pytestmark = pytest.mark.anyio

TWICE = {2017: ("2017 (40)", "2017"), 2013: ("2013 (39)", "2013 (38)"), 1999: ("1999 (30)", "1999")}
FIELDS = {("male", "number"): 0, ("male", "current"): 1, ("male", "constant"): 2}
FIELDS |= {("female", "number"): 3, ("female", "current"): 4, ("female", "constant"): 5}
BRACKETS = ("25-34", "45-54", "75+")


def labels(first: int, last: int) -> list[str]:
    return [label for year in range(last, first - 1, -1) for label in TWICE.get(year, (str(year),))]


def generated(race: str, seed: int) -> p8.P8Table:
    """A table in the published layout whose sub-sections come in a different order in each age section."""
    rng = random.Random(seed)

    def cells() -> list[p8.Cell]:
        row: list[p8.Cell] = [rng.randrange(100, 20_000), *(rng.randrange(5_000, 90_000) for _ in range(2))]
        row += [rng.randrange(100, 20_000), *(rng.randrange(5_000, 90_000) for _ in range(2))]
        return [rng.choice(p8.SYMBOLS) if rng.random() < 1 / 12 else cell for cell in row]

    sections = []
    for bracket in BRACKETS:
        series = [(f"{race} Alone or in Combination", 2002, 2019), (f"{race} Alone", 2002, 2019), (race, 1967, 2001)]
        rng.shuffle(series)
        populations = [p8.Population(name, [(label, cells()) for label in labels(a, b)]) for name, a, b in series]
        sections.append(p8.AgeSection(bracket, populations))
    return p8.P8Table(race, 2019, (1967, 2019), sections)


def cell(cells: Sequence[p8.Cell], sex: str, column: str) -> int | None:
    return p8.cell_value(cells[FIELDS[sex, column]])


def factor(table: p8.P8Table, year: int) -> Fraction:
    """k(year) from the cells: every first-listed row of the year, both sexes, where both medians are published."""
    current = constant = 0
    for section in table.sections:
        for population in section.populations:
            row = next((cells for label, cells in population.rows if label.startswith(str(year))), None)
            for sex in ("male", "female"):
                now, then = (None, None) if row is None else (cell(row, sex, "current"), cell(row, sex, "constant"))
                if now is not None and then is not None:
                    current, constant = current + now, constant + then
    return Fraction(current, constant)


def estimates(table: p8.P8Table, bracket: str, sex: str, column: str, k: Fraction) -> dict[int, list[Fraction | None]]:
    """Each year's estimates in table order, from the first sub-section of the section that lists the year."""
    section = next(section for section in table.sections if section.age_range == bracket)
    owner: dict[int, str] = {}
    found: dict[int, list[Fraction | None]] = {}
    for population in section.populations:
        for label, cells in population.rows:
            year = int(label[:4])
            if owner.setdefault(year, population.heading) == population.heading:
                value = cell(cells, sex, column)
                found.setdefault(year, []).append(None if value is None else value * k)
    return dict(sorted(found.items()))


def rounded(value: Fraction | None, places: int = 0) -> float | int | None:
    if value is None:
        return None
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    result = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return int(result) if places == 0 else float(result)


def expected_changes(years: dict[int, list[Fraction | None]]) -> dict[int, int | float | None]:
    """Change into each year from the previous year with a value: its last estimate minus that year's first."""
    result: dict[int, int | float | None] = {}
    previous: Fraction | None = None
    started = False
    for year, values in years.items():
        if all(value is None for value in values):
            result[year] = None
            continue
        end = values[-1]
        result[year] = rounded(end - previous) if started and end is not None and previous is not None else None
        previous, started = values[0], True
    return result


@pytest.fixture(scope="module")
async def loaded() -> tuple[Services, dict[str, p8.P8Table]]:
    services = build_services(make_settings(), backend="memory", hasher=FastHasher())
    tables = {"asian": generated("Asian", 1), "white": generated("White", 2)}
    for race, table in tables.items():
        await services.datasets.upload(Workbook(f"{race}.xlsx", p8.p8_workbook(table)))
    return services, tables


@pytest.mark.parametrize("bracket", BRACKETS)
@pytest.mark.parametrize("sex", ["male", "female"])
@pytest.mark.parametrize(
    ("measure", "dollars"),
    [
        ("median_income", "constant"),
        ("median_income", "2010"),
        ("median_income", "current"),
        ("number_with_income", "constant"),
    ],
)
async def test_levels_and_changes_equal_a_computation_from_the_cells(
    loaded: tuple[Services, dict[str, p8.P8Table]], bracket: str, sex: str, measure: str, dollars: str
) -> None:
    services, tables = loaded
    column = {"number_with_income": "number", "median_income": "current" if dollars == "current" else "constant"}
    for units in ("level", "change"):
        query = check_query("asian", sex=sex, age_range=bracket, measure=measure, dollars=dollars, units=units)
        (series,) = (await services.series.series(query)).series
        k = factor(tables["asian"], int(dollars)) if dollars.isdigit() else Fraction(1)
        years = estimates(tables["asian"], bracket, sex, column[measure], k)
        served = {point.year: point.value for point in series.points}
        if units == "level":
            assert served == {year: rounded(values[0]) for year, values in years.items()}
        else:
            assert served == expected_changes(years)


@pytest.mark.parametrize("bracket", BRACKETS)
async def test_a_difference_and_its_index_equal_a_computation_from_the_cells(
    loaded: tuple[Services, dict[str, p8.P8Table]], bracket: str
) -> None:
    services, tables = loaded
    asian, white = (estimates(tables[race], bracket, "female", "constant", Fraction(1)) for race in ("asian", "white"))
    gap: dict[int, list[Fraction | None]] = {}
    for year in asian.keys() & white.keys():
        count = max(len(asian[year]), len(white[year]))
        pairs = [
            (asian[year][min(i, len(asian[year]) - 1)], white[year][min(i, len(white[year]) - 1)]) for i in range(count)
        ]
        values = [None if a is None or w is None else a - w for a, w in pairs]
        if any(value is not None for value in values):
            gap[year] = values
    gap = dict(sorted(gap.items()))

    level = check_query("asian,white", sex="female", age_range=bracket, compare="difference")
    served = (await services.series.series(level)).series[0]
    assert {point.year: point.value for point in served.points} == {year: rounded(v[0]) for year, v in gap.items()}

    base = next(year for year, values in gap.items() if year >= 2005 and values[0] is not None and values[0] != 0)
    indexed = check_query(
        "asian,white", sex="female", age_range=bracket, compare="difference", units="index", base_year=base
    )
    served = (await services.series.series(indexed)).series[0]
    expected: dict[int, float | int | None] = {base: 100.0}
    chain: Fraction | None = Fraction(100)
    previous = gap[base][0]
    for year in (y for y in gap if y > base):
        end = gap[year][-1]
        if all(value is None for value in gap[year]):
            expected[year] = None
            continue
        chain = None if chain is None or end is None or not previous else chain * end / previous
        expected[year] = rounded(chain, 2)
        previous = gap[year][0]
    assert {p.year: p.value for p in served.points if p.year >= base} == expected
