"""Comparisons of two race groups in one year and age bracket: pure rules over records, and the use case."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter

from libdib.domain.census import AgeBracket, Basis, IncomeRecord, Observation, Sex
from libdib.domain.datasets import check_age_range, check_race, check_year
from libdib.domain.errors import InvalidInput, NotFound
from libdib.domain.ports import CensusView

DEFAULT_RACES = ("white", "asian")


@dataclass(frozen=True, slots=True)
class SexComparison:
    """The two race groups compared for one sex; ``None`` where a value is missing or undefined.

    ``incomes`` and ``numbers`` are each race's own median income and number with income, in the order of the races.
    """

    head: str | None
    income_difference: int | None
    population_difference: int | None
    percent_change_income: float | None
    percent_change_pop: float | None
    incomes: tuple[int | None, int | None]
    numbers: tuple[int | None, int | None]


@dataclass(frozen=True, slots=True)
class ComparisonQuery:
    """A checked comparison question: percent changes are asked for when both ``race`` and ``base_year`` are."""

    year: int
    age_range: AgeBracket
    races: tuple[str, str]
    sexes: tuple[Sex, ...]
    race: str | None
    base_year: int | None
    basis: Basis

    @property
    def years(self) -> list[int]:
        """The years whose records the comparison needs."""
        if self.race is None or self.base_year is None:
            return [self.year]
        return sorted({self.year, self.base_year})


@dataclass(frozen=True, slots=True)
class Comparison:
    """What was compared, and the result for each sex asked for.

    ``constant_dollar_year`` is the year whose dollars the tables' constant-dollar incomes are in; ``None`` when the
    two tables differ (then only ``basis=current`` compares them).
    """

    query: ComparisonQuery
    by_sex: Mapping[Sex, SexComparison]
    constant_dollar_year: int | None


def bracket_of(age: int | None, age_range: str | None) -> AgeBracket:
    """The age bracket asked for by exactly one of ``age`` (in years, 15 or more) or ``age_range``."""
    if (age is None) == (age_range is None):
        raise InvalidInput("age, age_range: give exactly one of them (age in years, or an age bracket such as 25-34)")
    if age_range is not None:
        return check_age_range(age_range)
    try:
        return AgeBracket.for_age(age)  # type: ignore[arg-type]  # not None: exactly one of the two is
    except ValueError as exc:
        raise InvalidInput(f"age: {exc}") from None


def check_races(races: Sequence[str]) -> tuple[str, str]:
    """Two distinct known race groups (keys in lower case); else ``InvalidInput`` naming ``races``."""
    keys = tuple(check_race(race, "races") for race in races)
    if len(keys) != 2 or keys[0] == keys[1]:
        raise InvalidInput(f"races: expected two different race groups such as white,asian; got {','.join(races)!r}")
    return keys[0], keys[1]


def percent_change(value: int | None, base: int | None) -> float | None:
    """``(value - base) / base * 100`` rounded half up to 2 decimals; ``None`` when either is missing or base is 0.

    In integers: exact, as ``Decimal`` with ``ROUND_HALF_UP`` would give it (ties away from zero), and cheaper.
    """
    if value is None or base is None or base == 0:
        return None
    hundredths, remainder = divmod(abs(value - base) * 10_000, abs(base))
    hundredths += 2 * remainder >= abs(base)
    return (hundredths if (value - base) * base >= 0 else -hundredths) / 100


def first_listed(records: Iterable[IncomeRecord]) -> dict[tuple[str, int], IncomeRecord]:
    """The first record of each race and year of ``records`` (in table order): first population, first estimate."""
    first: dict[tuple[str, int], IncomeRecord] = {}
    for record in records:
        first.setdefault((record.race, record.observation.year), record)
    return first


def income_field(sex: Sex, basis: Basis) -> str:
    """The observation's field with the median income of ``sex`` in ``basis`` dollars."""
    return f"{sex.value}_median_income_{basis.value}"


def number_field(sex: Sex) -> str:
    """The observation's field with the number of ``sex`` with income, in thousands."""
    return f"{sex.value}_number_with_income"


def compare_sex(
    sex: Sex,
    races: tuple[str, str],
    pair: tuple[Observation, Observation],
    basis: Basis,
    change: tuple[Observation, Observation] | None,
) -> SexComparison:
    """Compare ``pair`` (one observation per race) for ``sex``; ``change`` is (base year, year) of the chosen race."""
    # Getters made once per sex, not a field name built for every value read.
    income, number = attrgetter(income_field(sex, basis)), attrgetter(number_field(sex))
    incomes: tuple[int | None, int | None] = (income(pair[0]), income(pair[1]))
    numbers: tuple[int | None, int | None] = (number(pair[0]), number(pair[1]))
    head = None
    if incomes[0] is not None and incomes[1] is not None and incomes[0] != incomes[1]:
        head = races[0] if incomes[0] > incomes[1] else races[1]
    income_change = pop_change = None
    if change is not None:
        base, now = change
        income_change = percent_change(income(now), income(base))
        pop_change = percent_change(number(now), number(base))
    return SexComparison(head, _difference(incomes), _difference(numbers), income_change, pop_change, incomes, numbers)


def compare(records: Iterable[IncomeRecord], query: ComparisonQuery) -> Comparison:
    """The comparison ``query`` asks for, from its records; ``NotFound`` naming the race and year without data."""
    first = first_listed(records)
    races, age_range = query.races, query.age_range
    pair = (_found(first, races[0], query.year, age_range), _found(first, races[1], query.year, age_range))
    same_dollars = pair[0].constant_dollar_year == pair[1].constant_dollar_year
    if query.basis is Basis.CONSTANT and not same_dollars:
        raise InvalidInput(
            f"basis: the tables of {races[0]} and {races[1]} are in {pair[0].constant_dollar_year} and"
            f" {pair[1].constant_dollar_year} dollars; compare with basis=current or load tables of one vintage",
        )
    change = None
    if query.race is not None and query.base_year is not None:
        base = _found(first, query.race, query.base_year, age_range)
        change = (base.observation, pair[races.index(query.race)].observation)
    observations = (pair[0].observation, pair[1].observation)
    by_sex = {sex: compare_sex(sex, races, observations, query.basis, change) for sex in query.sexes}
    return Comparison(query, by_sex, pair[0].constant_dollar_year if same_dollars else None)


class ComparisonService:
    """Answers comparison questions from the census view: one question for both years."""

    def __init__(self, *, view: CensusView) -> None:
        self._view = view

    async def compare(
        self,
        year: int,
        age_range: str,
        *,
        races: Sequence[str] = DEFAULT_RACES,
        sex: Sex | None = None,
        race: str | None = None,
        base_year: int | None = None,
        basis: Basis = Basis.CONSTANT,
    ) -> Comparison:
        """Compare two race groups; ``InvalidInput`` for bad parameters, ``NotFound`` for missing data."""
        bracket = check_age_range(age_range)
        pair = check_races(races)
        check_year(year)
        if base_year is not None:
            check_year(base_year, "base_year")
            if race is None:
                raise InvalidInput(
                    "base_year: needs race, the one of the compared races whose percent changes since base_year to"
                    f" compute (such as race={pair[1]})",
                )
        if race is not None:
            race = check_race(race)
            if race not in pair:
                raise InvalidInput(f"race: {race!r} is not one of the compared races {pair[0]} and {pair[1]}")
        sexes = (sex,) if sex is not None else tuple(Sex)
        query = ComparisonQuery(year, bracket, pair, sexes, race, base_year, basis)
        return compare(await self._view.for_comparison(pair, bracket.value, query.years), query)


def _found(first: Mapping[tuple[str, int], IncomeRecord], race: str, year: int, age_range: AgeBracket) -> IncomeRecord:
    record = first.get((race, year))
    if record is None:
        raise NotFound(f"race {race!r} has no data for {year} at ages {age_range.value}")
    return record


def _difference(values: Sequence[int | None]) -> int | None:
    return None if values[0] is None or values[1] is None else abs(values[0] - values[1])
