"""Series across years: the rows of a race's table turned into the series a ``SeriesQuery`` asks for.

Every value is computed exactly (``series_math``) and rounded once, half away from zero, as it is served:
whole dollars and thousands, ratios to 4 decimals, percentages and indexes to 2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from libdib.domain import series_math as math
from libdib.domain.census import AgeBracket, LoadedTable, Observation, Sex
from libdib.domain.errors import InvalidInput, NotFound
from libdib.domain.series_math import YearValues
from libdib.domain.series_query import CONSTANT, CURRENT, Compare, Editions, Measure, SeriesQuery, Units


@dataclass(frozen=True, slots=True)
class Point:
    """One value of a series; ``edition`` is 1 or 2 in a year listed twice (which estimate), else ``None``."""

    year: int
    value: int | float | None
    population: str | None
    footnote: str | None
    edition: int | None


@dataclass(frozen=True, slots=True)
class Series:
    """One line of the answer: a race's series, or the comparison of two races' series (``compare``)."""

    key: str
    races: tuple[str, ...]
    compare: Compare | None
    sex: Sex
    age_range: AgeBracket
    measure: Measure
    unit: str
    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class SeriesResult:
    """The answer to a series question: what the values are (``unit``, of the first series) and every series."""

    query: SeriesQuery
    unit: str
    series: tuple[Series, ...]
    listed_twice: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Estimate:
    """One published row of a year in a series, with the value the question reads from it."""

    observation: Observation
    value: Fraction | None


Years = list[tuple[int, tuple[Estimate, ...]]]
"""A race's series before units: each year (ascending) with its estimates in table order."""


def dollar_factor(table: LoadedTable, year: int) -> Fraction | None:
    """k(year) of ``table``: over every first-listed row of ``year`` (both sexes, every section and sub-section)."""
    seen: set[tuple[str, str]] = set()
    pairs: list[tuple[int | None, int | None]] = []
    for row in table.observations:
        if row.year == year and (row.age_range, row.population) not in seen:
            seen.add((row.age_range, row.population))
            pairs.append((row.male_median_income_current, row.male_median_income_constant))
            pairs.append((row.female_median_income_current, row.female_median_income_constant))
    return math.dollar_factor(pairs)


def reader(table: LoadedTable, query: SeriesQuery, sex: Sex) -> Callable[[Observation], Fraction | None]:
    """What a question reads from a row of ``table``: the measure for ``sex`` in the dollars asked for."""
    if query.measure is Measure.NUMBER_WITH_INCOME:
        field, factor = f"{sex.value}_number_with_income", Fraction(1)
    elif query.dollars == CURRENT:
        field, factor = f"{sex.value}_median_income_current", Fraction(1)
    else:
        field, factor = f"{sex.value}_median_income_constant", Fraction(1)
        if query.dollar_year is not None:
            found = dollar_factor(table, query.dollar_year)
            if found is None:
                raise InvalidInput(
                    f"dollars: the table of {table.race} publishes no median incomes of {query.dollar_year} in both"
                    " current and constant dollars, so they cannot be re-based to that year",
                )
            factor = found

    def read(row: Observation) -> Fraction | None:
        value: int | None = getattr(row, field)
        return None if value is None else Fraction(value) if factor == 1 else value * factor

    return read


def race_years(
    table: LoadedTable, age_range: AgeBracket, population: str | None, read: Callable[..., Fraction | None]
) -> Years:
    """Each year of a race's series: the rows of the chosen sub-section, or else of the first one with that year."""
    chosen: dict[int, str] = {}
    rows: dict[int, list[Estimate]] = {}
    wanted = population.casefold() if population is not None else None
    for row in table.observations:
        if row.age_range != age_range or (wanted is not None and row.population.casefold() != wanted):
            continue
        if chosen.setdefault(row.year, row.population) == row.population:
            rows.setdefault(row.year, []).append(Estimate(row, read(row)))
    return [(year, tuple(rows[year])) for year in sorted(rows)]


def points(query: SeriesQuery, years: Years | None, values: Sequence[YearValues], places: int) -> tuple[Point, ...]:
    """The served points: each estimate (levels with ``editions=all``) or each year, inside ``from``/``to``."""
    estimates = dict(years) if years is not None else {}
    computed = _unit_values(query.units, values, query.base_year)
    found: list[Point] = []
    for point in values:
        if not query.within(point.year):
            continue
        shown = estimates.get(point.year, ())
        twice = len(point.values) > 1
        if query.units is Units.LEVEL and query.editions is Editions.ALL:
            for edition, value in enumerate(point.values, 1):
                row = shown[edition - 1].observation if shown else None
                found.append(_point(point.year, value, places, row, edition if twice else None))
            continue
        # A change leads into the year's last-listed estimate; levels and accumulations show the first-listed one.
        edition = len(point.values) if query.units in {Units.CHANGE, Units.PERCENT_CHANGE} else 1
        row = shown[edition - 1].observation if shown else None
        found.append(_point(point.year, computed.get(point.year), places, row, edition if twice else None))
    return tuple(found)


def build(tables: Mapping[str, LoadedTable], query: SeriesQuery) -> SeriesResult:
    """Every series ``query`` asks for, from the races' tables; ``InvalidInput`` for a question they cannot answer."""
    _check_dollars_alike(tables, query)
    if query.population is not None:
        _check_population(tables, query.population)
    compared: list[Series] = []
    own: list[Series] = []
    listed: set[int] = set()
    for sex in query.sexes:
        readers = {race: reader(tables[race], query, sex) for race in query.races}
        for age_range in query.age_ranges:
            by_race = {
                race: race_years(tables[race], age_range, query.population, readers[race]) for race in query.races
            }
            listed.update(year for years in by_race.values() for year, rows in years if len(rows) > 1)
            values = {
                race: [YearValues(year, tuple(e.value for e in rows)) for year, rows in years]
                for race, years in by_race.items()
            }
            own.extend(
                _series(
                    query,
                    races=(race,),
                    compare=None,
                    sex=sex,
                    age_range=age_range,
                    years=by_race[race],
                    values=values[race],
                    table=tables[race],
                )
                for race in query.races
            )
            if query.compare is not None:
                first, second = query.races
                operation = math.difference if query.compare is Compare.DIFFERENCE else math.ratio
                combined = math.combine(values[first], values[second], operation)
                compared.append(
                    _series(
                        query,
                        races=query.races,
                        compare=query.compare,
                        sex=sex,
                        age_range=age_range,
                        years=None,
                        values=combined,
                        table=tables[first],
                    )
                )
    series = (*compared, *own)
    return SeriesResult(query, series[0].unit, series, tuple(sorted(y for y in listed if query.within(y))))


def unit_label(query: SeriesQuery, compare: Compare | None, constant_dollar_year: int) -> str:
    """What the values of a series are, in words."""
    if query.units is Units.INDEX:
        return f"index, {query.base_year} = 100"
    if query.units in {Units.PERCENT_CHANGE, Units.PERCENT_CHANGE_SINCE}:
        return "percent"
    if compare is Compare.RATIO:
        return "ratio"
    if query.measure is Measure.NUMBER_WITH_INCOME:
        return "thousands of people"
    if query.dollars == CURRENT:
        return "current dollars"
    return f"{query.dollar_year or constant_dollar_year} dollars"


def decimals(units: Units, compare: Compare | None) -> int:
    """Decimals a value is served with: percentages and indexes 2, ratios 4, dollars and thousands 0."""
    if units in {Units.INDEX, Units.PERCENT_CHANGE, Units.PERCENT_CHANGE_SINCE}:
        return 2
    return 4 if compare is Compare.RATIO else 0


def _series(
    query: SeriesQuery,
    *,
    races: tuple[str, ...],
    compare: Compare | None,
    sex: Sex,
    age_range: AgeBracket,
    years: Years | None,
    values: list[YearValues],
    table: LoadedTable,
) -> Series:
    if query.base_year is not None and query.units.needs_base_year and not math.has_value_in(values, query.base_year):
        name = f"{','.join(races)}{f' ({compare.value})' if compare else ''}, {sex.value}, {age_range.value}"
        raise InvalidInput(f"base_year: the series of {name} has no value in {query.base_year}")
    key = ":".join([",".join(races), *([compare.value] if compare else []), sex.value, age_range.value])
    unit = unit_label(query, compare, table.constant_dollar_year)
    shown = points(query, years, values, decimals(query.units, compare))
    return Series(key, races, compare, sex, age_range, query.measure, unit, shown)


def _unit_values(units: Units, values: Sequence[YearValues], base_year: int | None) -> dict[int, Fraction | None]:
    if units is Units.LEVEL:
        return {point.year: point.head for point in values}
    if units is Units.CHANGE:
        return math.changes(values)
    if units is Units.PERCENT_CHANGE:
        return math.percent_changes(values)
    accumulate = {
        Units.INDEX: math.index,
        Units.CHANGE_SINCE: math.change_since,
        Units.PERCENT_CHANGE_SINCE: math.percent_change_since,
    }[units]
    return accumulate(values, base_year)  # type: ignore[arg-type]  # checked: these units come with a base year


def _point(year: int, value: Fraction | None, places: int, row: Observation | None, edition: int | None) -> Point:
    served = None if value is None else math.round_half_away(value, places)
    return Point(year, served, row.population if row else None, row.footnote if row else None, edition)


def _check_dollars_alike(tables: Mapping[str, LoadedTable], query: SeriesQuery) -> None:
    if query.measure is not Measure.MEDIAN_INCOME or query.dollars != CONSTANT:
        return
    years = {table.constant_dollar_year for table in tables.values()}
    if len(years) > 1:
        described = ", ".join(f"{race} in {tables[race].constant_dollar_year}" for race in query.races)
        raise InvalidInput(
            f"dollars: the tables are in different constant dollars ({described}); ask for dollars=YEAR to compare"
        )


def _check_population(tables: Mapping[str, LoadedTable], population: str) -> None:
    wanted = population.casefold()
    for race, table in tables.items():
        if not any(row.population.casefold() == wanted for row in table.observations):
            raise NotFound(f"population: the table of {race} has no sub-section {population!r}")
