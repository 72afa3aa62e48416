"""The series question: its vocabulary, and the rules that check a request into a ``SeriesQuery``."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeVar

from libdib.domain.census import MAX_YEAR, MIN_YEAR, AgeBracket, Sex
from libdib.domain.datasets import check_age_range, check_population, check_race, check_year
from libdib.domain.errors import InvalidInput

MAX_RACES = 6
ALL_AGES = "all"
CONSTANT, CURRENT = "constant", "current"
E = TypeVar("E", bound=enum.StrEnum)


class Measure(enum.StrEnum):
    """What a series counts."""

    MEDIAN_INCOME = "median_income"
    NUMBER_WITH_INCOME = "number_with_income"


class Units(enum.StrEnum):
    """How a series' values are expressed."""

    LEVEL = "level"
    CHANGE = "change"
    PERCENT_CHANGE = "percent_change"
    INDEX = "index"
    CHANGE_SINCE = "change_since"
    PERCENT_CHANGE_SINCE = "percent_change_since"

    @property
    def needs_base_year(self) -> bool:
        """Whether the unit accumulates from a base year."""
        return self in {Units.INDEX, Units.CHANGE_SINCE, Units.PERCENT_CHANGE_SINCE}


class Compare(enum.StrEnum):
    """How two races' series are combined into one."""

    DIFFERENCE = "difference"
    RATIO = "ratio"


class Editions(enum.StrEnum):
    """Which estimates of a year listed twice a level series shows."""

    FIRST = "first"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """A checked series question; ``dollars`` is ``constant``, ``current`` or a year as digits."""

    races: tuple[str, ...]
    sex: Sex | None = None
    age_range: AgeBracket | None = None
    population: str | None = None
    measure: Measure = Measure.MEDIAN_INCOME
    dollars: str = CONSTANT
    from_year: int | None = None
    to_year: int | None = None
    compare: Compare | None = None
    units: Units = Units.LEVEL
    base_year: int | None = None
    editions: Editions = Editions.FIRST

    @property
    def sexes(self) -> tuple[Sex, ...]:
        """The sexes a series is made for."""
        return (self.sex,) if self.sex else tuple(Sex)

    @property
    def age_ranges(self) -> tuple[AgeBracket, ...]:
        """The age brackets a series is made for."""
        return (self.age_range,) if self.age_range else tuple(AgeBracket)

    @property
    def dollar_year(self) -> int | None:
        """The year whose dollars ``dollars`` asks for, if it names one."""
        return int(self.dollars) if self.dollars not in {CONSTANT, CURRENT} else None

    def within(self, year: int) -> bool:
        """Whether ``year`` is inside the ``from``/``to`` bounds."""
        return (self.from_year is None or year >= self.from_year) and (self.to_year is None or year <= self.to_year)


def check_query(
    races: str,
    *,
    sex: str | None = None,
    age_range: str = ALL_AGES,
    population: str | None = None,
    measure: str = Measure.MEDIAN_INCOME,
    dollars: str = CONSTANT,
    from_year: int | None = None,
    to_year: int | None = None,
    compare: str | None = None,
    units: str = Units.LEVEL,
    base_year: int | None = None,
    editions: str = Editions.FIRST,
) -> SeriesQuery:
    """The series question a request asks; ``InvalidInput`` naming the first parameter that breaks a rule."""
    keys = tuple(check_race(race, "races") for race in races.split(","))
    if not 1 <= len(keys) <= MAX_RACES or len(set(keys)) < len(keys):
        raise InvalidInput(f"races: expected 1 to {MAX_RACES} different race groups, comma-separated; got {races!r}")
    query = SeriesQuery(
        races=keys,
        sex=_choice(Sex, sex, "sex") if sex is not None else None,
        age_range=None if age_range == ALL_AGES else check_age_range(age_range),
        population=check_population(population) if population is not None else None,
        measure=_choice(Measure, measure, "measure"),
        dollars=_check_dollars(dollars),
        from_year=check_year(from_year, "from") if from_year is not None else None,
        to_year=check_year(to_year, "to") if to_year is not None else None,
        compare=_choice(Compare, compare, "compare") if compare is not None else None,
        units=_choice(Units, units, "units"),
        base_year=check_year(base_year, "base_year") if base_year is not None else None,
        editions=_choice(Editions, editions, "editions"),
    )
    _check_together(query)
    return query


def _check_together(query: SeriesQuery) -> None:
    """The rules between parameters."""
    if query.from_year is not None and query.to_year is not None and query.from_year > query.to_year:
        raise InvalidInput(f"from, to: from ({query.from_year}) is after to ({query.to_year})")
    if query.compare is not None and len(query.races) != 2:
        raise InvalidInput(f"compare: needs exactly two races, got {len(query.races)} ({','.join(query.races)})")
    if query.units.needs_base_year and query.base_year is None:
        raise InvalidInput(f"base_year: units={query.units.value} needs a base_year")
    if query.editions is Editions.ALL and query.units is not Units.LEVEL:
        raise InvalidInput(f"editions: editions=all shows levels only; units={query.units.value} needs editions=first")
    if query.measure is Measure.NUMBER_WITH_INCOME and query.dollars != CONSTANT:
        raise InvalidInput("dollars: numbers with income are in thousands of people, not dollars; leave dollars out")


def _check_dollars(dollars: str) -> str:
    if dollars in {CONSTANT, CURRENT}:
        return dollars
    year = dollars.isascii() and dollars.isdigit() and len(dollars) == len(str(MAX_YEAR))
    if year and MIN_YEAR <= int(dollars) <= MAX_YEAR:
        return dollars
    raise InvalidInput(f"dollars: expected constant, current or a year such as 2019; got {dollars!r}")


def _choice(kind: type[E], value: str, field: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not one of {', '.join(kind)}") from None
