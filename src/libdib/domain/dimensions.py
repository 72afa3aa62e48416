"""What the loaded data can answer: races, their sub-sections, brackets and years, so a client never guesses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from libdib.domain.census import AgeBracket, LoadedTable, Sex
from libdib.domain.series_query import Measure


@dataclass(frozen=True, slots=True)
class PopulationDimension:
    """A sub-section of a race's table: its heading, the age brackets that have it, and its years."""

    population: str
    age_ranges: tuple[str, ...]
    years: tuple[int, int]


@dataclass(frozen=True, slots=True)
class RaceDimension:
    """A loaded race group's table."""

    race: str
    title: str
    dataset_id: int
    constant_dollar_year: int
    years: tuple[int, int]
    populations: tuple[PopulationDimension, ...]
    listed_twice: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Dimensions:
    """Every loaded race group, and the age brackets, sexes and measures a series may ask for."""

    races: tuple[RaceDimension, ...]
    age_ranges: tuple[str, ...] = tuple(bracket.value for bracket in AgeBracket)
    sexes: tuple[str, ...] = tuple(sex.value for sex in Sex)
    measures: tuple[str, ...] = tuple(measure.value for measure in Measure)


def race_dimension(table: LoadedTable) -> RaceDimension:
    """What one table holds; its sub-sections in the order the table first lists them."""
    brackets: dict[str, dict[str, None]] = {}
    years: dict[str, list[int]] = {}
    for row in table.observations:
        brackets.setdefault(row.population, {})[row.age_range] = None
        years.setdefault(row.population, []).append(row.year)
    order = {bracket.value: position for position, bracket in enumerate(AgeBracket)}
    populations = tuple(
        PopulationDimension(
            population,
            tuple(sorted(brackets[population], key=lambda bracket: order.get(bracket, len(order)))),
            (min(years[population]), max(years[population])),
        )
        for population in brackets
    )
    every_year = [row.year for row in table.observations]
    return RaceDimension(
        table.race,
        table.title,
        table.dataset_id,
        table.constant_dollar_year,
        (min(every_year), max(every_year)),
        populations,
        listed_twice(table),
    )


def listed_twice(table: LoadedTable) -> tuple[int, ...]:
    """The years some sub-section of ``table`` lists more than once (footnoted estimates)."""
    rows = [(row.age_range, row.population, row.year) for row in table.observations]
    if len(set(rows)) == len(rows):
        return ()
    seen: set[tuple[str, str, int]] = set()
    twice: set[int] = set()
    for key in rows:
        if key in seen:
            twice.add(key[2])
        seen.add(key)
    return tuple(sorted(twice))


def dimensions(tables: Iterable[LoadedTable]) -> Dimensions:
    """The dimensions of every loaded table, by race."""
    return Dimensions(tuple(race_dimension(table) for table in sorted(tables, key=lambda table: table.race)))
