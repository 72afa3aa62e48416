from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libdib.adapters.memory.store import InMemoryStore
from libdib.domain.census import Basis, CensusTable, Observation, Sex
from libdib.domain.comparisons import ComparisonService, SexComparison, bracket_of, check_races, percent_change
from libdib.domain.errors import InvalidInput, NotFound
from libdib.domain.ports import Provenance
from tests.fakes import TEST_LEASE_SECONDS, MemoryWorker

pytestmark = pytest.mark.anyio


def row(
    year: int,
    male: tuple[int | None, int | None, int | None],
    female: tuple[int | None, int | None, int | None] = (100, 20000, 30000),
    *,
    population: str = "Alone or in Combination",
    footnote: str | None = None,
    age_range: str = "25-34",
) -> Observation:
    """A year row: (number with income, median income current, median income constant) for men and women."""
    return Observation(population, age_range, year, footnote, *male, *female)


ASIAN = [
    row(2019, (1747, 52128, 52128)),
    row(2017, (1652, 51287, 53489), footnote="40"),  # the first listed estimate of 2017
    row(2017, (1634, 53995, 56313)),
    row(2010, (1245, 36125, 42450), footnote="37"),
    row(2019, (9999, 99999, 99999), population="Alone"),  # a later sub-section: never the first listed
    row(2005, (1087, 37163, 48769), population="Alone"),  # only this sub-section has 2005
    row(2019, (1499, 84602, 84602), age_range="35-44"),
]
WHITE = [
    row(2019, (16367, 45361, 45361), female=(100, 20000, 30000)),
    row(2017, (16000, 44000, 46000)),
    row(2010, (15000, None, None)),
    row(2005, (14000, 40000, 48769)),
]


@pytest.fixture
async def service() -> ComparisonService:
    store = InMemoryStore(lease=TEST_LEASE_SECONDS)
    unit_of_work = store.unit_of_work

    async with unit_of_work() as uow:
        for race, rows in (("asian", ASIAN), ("white", WHITE), ("black", [row(2019, (1, 2, 3))])):
            table = CensusTable(race, race, 2019 if race != "black" else 2020, rows)
            await uow.datasets.replace(table, Provenance(f"{race}.xlsx", "0" * 64), datetime.now(UTC))
        await uow.commit()
    return ComparisonService(view=MemoryWorker(store).census)


async def test_the_race_with_the_higher_median_income_heads_and_differences_are_absolute(
    service: ComparisonService,
) -> None:
    comparison = await service.compare(2019, "25-34", races=("white", "asian"))

    male = comparison.by_sex[Sex.MALE]
    assert (male.head, male.income_difference, male.population_difference) == ("asian", 6767, 14620)
    assert (male.percent_change_income, male.percent_change_pop) == (None, None)


async def test_equal_incomes_have_no_head(service: ComparisonService) -> None:
    comparison = await service.compare(2019, "25-34", races=("white", "asian"))

    assert comparison.by_sex[Sex.FEMALE] == SexComparison(None, 0, 0, None, None, (30000, 30000), (100, 100))


async def test_percent_changes_of_the_chosen_race_are_against_the_base_year(service: ComparisonService) -> None:
    comparison = await service.compare(2019, "25-34", races=("white", "asian"), race="asian", base_year=2010)

    male = comparison.by_sex[Sex.MALE]
    assert (male.percent_change_income, male.percent_change_pop) == (22.8, 40.32)


async def test_the_first_listed_estimate_of_a_footnoted_year_is_used(service: ComparisonService) -> None:
    comparison = await service.compare(2017, "25-34", races=("white", "asian"), sex=Sex.MALE)

    assert comparison.by_sex[Sex.MALE].income_difference == 53489 - 46000


async def test_a_year_missing_from_the_first_sub_section_comes_from_the_next_one_that_has_it(
    service: ComparisonService,
) -> None:
    comparison = await service.compare(2005, "25-34", races=("white", "asian"), sex=Sex.MALE)

    assert comparison.by_sex[Sex.MALE] == SexComparison(None, 0, 12913, None, None, (48769, 48769), (14000, 1087))


async def test_current_dollars_compare_the_current_dollar_incomes(service: ComparisonService) -> None:
    comparison = await service.compare(2017, "25-34", races=("white", "asian"), basis=Basis.CURRENT)

    assert comparison.by_sex[Sex.MALE].income_difference == 51287 - 44000


async def test_a_missing_income_leaves_head_difference_and_change_empty(service: ComparisonService) -> None:
    comparison = await service.compare(2010, "25-34", races=("asian", "white"), race="white", base_year=2005)

    male = comparison.by_sex[Sex.MALE]
    assert (male.head, male.income_difference, male.percent_change_income) == (None, None, None)
    assert (male.population_difference, male.percent_change_pop) == (13755, 7.14)


async def test_asking_for_one_sex_answers_only_for_it(service: ComparisonService) -> None:
    comparison = await service.compare(2019, "25-34", sex=Sex.FEMALE)

    assert list(comparison.by_sex) == [Sex.FEMALE]
    assert comparison.query.races == ("white", "asian")


async def test_a_race_without_a_base_year_has_no_percent_changes(service: ComparisonService) -> None:
    comparison = await service.compare(2019, "25-34", race="asian")

    assert comparison.by_sex[Sex.MALE].percent_change_income is None


async def test_a_base_year_without_a_race_is_refused_saying_it_needs_one(service: ComparisonService) -> None:
    with pytest.raises(InvalidInput, match="base_year: needs race"):
        await service.compare(2019, "25-34", base_year=2010)


async def test_each_race_s_own_median_and_number_come_beside_the_differences(service: ComparisonService) -> None:
    comparison = await service.compare(2019, "25-34", races=("white", "asian"), sex=Sex.MALE)

    male = comparison.by_sex[Sex.MALE]
    assert (male.incomes, male.numbers) == ((45361, 52128), (16367, 1747))
    assert male.income_difference == 52128 - 45361


async def test_the_constant_dollar_year_is_the_tables_and_unknown_when_they_differ(service: ComparisonService) -> None:
    same = await service.compare(2019, "25-34", races=("white", "asian"))
    differing = await service.compare(2019, "25-34", races=("white", "black"), basis=Basis.CURRENT)

    assert (same.constant_dollar_year, differing.constant_dollar_year) == (2019, None)


@pytest.mark.parametrize(
    ("year", "age_range", "base_year", "message"),
    [
        (1990, "25-34", None, "race 'white' has no data for 1990 at ages 25-34"),
        (2019, "45-54", None, "race 'white' has no data for 2019 at ages 45-54"),
        (2019, "25-34", 1990, "race 'asian' has no data for 1990 at ages 25-34"),
    ],
)
async def test_a_race_without_data_for_the_year_or_base_year_is_not_found_naming_both(
    service: ComparisonService, year: int, age_range: str, base_year: int | None, message: str
) -> None:
    with pytest.raises(NotFound, match=message):
        await service.compare(year, age_range, race="asian", base_year=base_year)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"race": "black"}, "race: 'black' is not one of the compared races white and asian"),
        ({"races": ("white", "white")}, "races: expected two different race groups"),
        ({"races": ("white", "asian", "black")}, "races: expected two different race groups"),
        ({"races": ("white", "martian")}, "races: 'martian' is not a known race group"),
        ({"base_year": 1900}, "base_year: 1900 is outside 1940 to 2100"),
    ],
)
async def test_bad_parameters_are_refused_naming_the_parameter(
    service: ComparisonService, arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        await service.compare(2019, "25-34", **arguments)  # type: ignore[arg-type]


async def test_tables_in_different_constant_dollars_are_not_compared_in_constant_dollars(
    service: ComparisonService,
) -> None:
    with pytest.raises(InvalidInput, match="basis: the tables of white and black are in 2019 and 2020 dollars"):
        await service.compare(2019, "25-34", races=("white", "black"))

    current = await service.compare(2019, "25-34", races=("white", "black"), basis=Basis.CURRENT)
    assert current.by_sex[Sex.MALE].income_difference == 45361 - 2


@pytest.mark.parametrize(
    ("value", "base", "change"),
    [
        (52128, 42450, 22.8),
        (1747, 1245, 40.32),
        (801, 800, 0.13),  # 0.125 rounds half up, not to even
        (799, 800, -0.13),
        (5, 5, 0.0),
        (5, 0, None),
        (None, 5, None),
        (5, None, None),
    ],
)
def test_percent_change_is_rounded_half_up_to_two_decimals(value: int | None, base: int | None, change: float) -> None:
    assert percent_change(value, base) == change


@given(st.integers(0, 2**31 - 1), st.integers(-(2**31), 2**31 - 1).filter(bool))
def test_percent_change_is_the_decimal_definition_rounded_half_up(value: int, base: int) -> None:
    exact = (Decimal(value - base) * 100 / Decimal(base)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    assert percent_change(value, base) == float(exact)


@pytest.mark.parametrize(
    ("value", "base", "change"), [(33, 32, 3.13), (31, 32, -3.13), (33, -32, -203.13), (801, 800, 0.13)]
)
def test_percent_change_rounds_exact_ties_away_from_zero(value: int, base: int, change: float) -> None:
    # 3.125, -3.125, -203.125 and 0.125 percent: each exactly half way between two hundredths.
    assert percent_change(value, base) == change


@pytest.mark.parametrize(
    ("age", "bracket"),
    [
        (15, "15-24"),
        (30, "25-34"),
        (54, "45-54"),
        (55, "55-64"),
        (74, "65-74"),
        (75, "75+"),
        (99, "75+"),
    ],
)
def test_an_age_maps_to_its_bracket(age: int, bracket: str) -> None:
    assert bracket_of(age, None) == bracket


@pytest.mark.parametrize(
    ("age", "age_range", "message"),
    [
        (14, None, "age: age 14 is below 15"),
        (None, "55+", "age_range: '55+' is not an age bracket"),
        (30, "25-34", "give exactly one of them"),
        (None, None, "give exactly one of them"),
    ],
)
def test_the_age_must_be_given_once_and_be_in_the_table(age: int | None, age_range: str | None, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        bracket_of(age, age_range)


def test_races_are_two_known_groups_in_any_letter_case() -> None:
    assert check_races([" White", "ASIAN"]) == ("white", "asian")
