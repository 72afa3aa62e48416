"""Bodies of the series and dimensions routes, every field described with its unit."""

from __future__ import annotations

from typing import Annotated

import msgspec

from libdib.domain.dimensions import Dimensions, PopulationDimension, RaceDimension
from libdib.domain.series import Point, Series, SeriesResult
from libdib.domain.series_query import SeriesQuery

YearSpan = Annotated[
    tuple[int, int], msgspec.Meta(description="The first and last year, inclusive", examples=[[2002, 2019]])
]
Races = Annotated[
    list[str], msgspec.Meta(description="Race groups in lower case, as asked", examples=[["asian", "white"]])
]


class PointResponse(msgspec.Struct, frozen=True):
    """One value of a series."""

    year: Annotated[int, msgspec.Meta(description="The year the value is for", examples=[2019])]
    value: Annotated[
        int | float | None,
        msgspec.Meta(
            description="In the series' `unit`: whole dollars or thousands of people, ratios to 4 decimals,"
            " percentages and indexes to 2 (rounded half away from zero); null where not published or undefined",
            examples=[9501],
        ),
    ]
    population: Annotated[
        str | None,
        msgspec.Meta(description="The sub-section the value was read from, as published; null for a compare series"),
    ]
    footnote: Annotated[str | None, msgspec.Meta(description="The footnote number of the estimate read, or null")]
    edition: Annotated[
        int | None,
        msgspec.Meta(
            description="In a year the table lists twice: 1 for the first-listed estimate, 2 for the second; else null"
        ),
    ]

    @classmethod
    def from_domain(cls, point: Point) -> PointResponse:
        """The public view of ``point``."""
        return cls(point.year, point.value, point.population, point.footnote, point.edition)


class SeriesItemResponse(msgspec.Struct, frozen=True):
    """One series: a race's, or (with `compare`) the first race's compared with the second's."""

    key: Annotated[str, msgspec.Meta(description="Unique in the response: races, compare, sex and age range")]
    races: Races
    compare: Annotated[str | None, msgspec.Meta(description="difference or ratio for a compare series, else null")]
    sex: Annotated[str, msgspec.Meta(description="male or female")]
    age_range: Annotated[str, msgspec.Meta(description="The age bracket, in years", examples=["25-34"])]
    measure: Annotated[str, msgspec.Meta(description="median_income (dollars) or number_with_income (thousands)")]
    unit: Annotated[str, msgspec.Meta(description="What the values are", examples=["2019 dollars"])]
    points: Annotated[list[PointResponse], msgspec.Meta(description="By year, oldest first")]

    @classmethod
    def from_domain(cls, series: Series) -> SeriesItemResponse:
        """The public view of ``series``."""
        return cls(
            series.key,
            list(series.races),
            series.compare.value if series.compare else None,
            series.sex.value,
            series.age_range.value,
            series.measure.value,
            series.unit,
            [PointResponse.from_domain(point) for point in series.points],
        )


class SeriesQueryResponse(msgspec.Struct, frozen=True):
    """The question as understood, with every default filled in."""

    races: Races
    sex: Annotated[str | None, msgspec.Meta(description="male, female, or null for both")]
    age_range: Annotated[str, msgspec.Meta(description="An age bracket in years, or all")]
    population: Annotated[str | None, msgspec.Meta(description="The sub-section asked for, or null for the first")]
    measure: Annotated[str, msgspec.Meta(description="median_income (dollars) or number_with_income (thousands)")]
    dollars: Annotated[str, msgspec.Meta(description="constant (as published), current, or a year", examples=["2019"])]
    from_year: Annotated[int | None, msgspec.Meta(description="First year shown (inclusive), or null")] = msgspec.field(
        name="from"
    )
    to_year: Annotated[int | None, msgspec.Meta(description="Last year shown (inclusive), or null")] = msgspec.field(
        name="to"
    )
    compare: Annotated[str | None, msgspec.Meta(description="difference, ratio, or null")] = None
    units: Annotated[str, msgspec.Meta(description="level, change, percent_change, index, ...")] = "level"
    base_year: Annotated[int | None, msgspec.Meta(description="The year of index = 100 and of *_since units")] = None
    editions: Annotated[str, msgspec.Meta(description="first or all estimates of a year listed twice")] = "first"

    @classmethod
    def from_domain(cls, query: SeriesQuery) -> SeriesQueryResponse:
        """The normalised form of ``query``."""
        return cls(
            list(query.races),
            query.sex.value if query.sex else None,
            query.age_range.value if query.age_range else "all",
            query.population,
            query.measure.value,
            query.dollars,
            query.from_year,
            query.to_year,
            query.compare.value if query.compare else None,
            query.units.value,
            query.base_year,
            query.editions.value,
        )


class SeriesResponse(msgspec.Struct, frozen=True):
    """Series across years: the question, what the values are, and every series."""

    query: SeriesQueryResponse
    unit: Annotated[
        str,
        msgspec.Meta(
            description="What the values of the first series are (the compare series when asked for): such as"
            " '2019 dollars', 'current dollars', 'thousands of people', 'ratio', 'percent', 'index, 2010 = 100'",
        ),
    ]
    series: list[SeriesItemResponse]

    @classmethod
    def from_domain(cls, result: SeriesResult) -> SeriesResponse:
        """The response for ``result``."""
        return cls(
            SeriesQueryResponse.from_domain(result.query),
            result.unit,
            [SeriesItemResponse.from_domain(series) for series in result.series],
        )


class PopulationDimensionResponse(msgspec.Struct, frozen=True):
    """A sub-section of a race's table."""

    population: Annotated[str, msgspec.Meta(description="The sub-section heading as published")]
    age_ranges: Annotated[list[str], msgspec.Meta(description="The age brackets (years) that have this sub-section")]
    years: YearSpan

    @classmethod
    def from_domain(cls, population: PopulationDimension) -> PopulationDimensionResponse:
        """The public view of ``population``."""
        return cls(population.population, list(population.age_ranges), population.years)


class RaceDimensionResponse(msgspec.Struct, frozen=True):
    """A loaded race group's table."""

    race: Annotated[str, msgspec.Meta(description="The race group key, lower case", examples=["asian"])]
    title: Annotated[str, msgspec.Meta(description="The table's title as published")]
    dataset_id: Annotated[int, msgspec.Meta(description="The id of the dataset under /datasets")]
    constant_dollar_year: Annotated[int, msgspec.Meta(description="The year of the table's constant dollars")]
    years: YearSpan
    populations: list[PopulationDimensionResponse]
    listed_twice: Annotated[list[int], msgspec.Meta(description="Years some sub-section lists twice (two estimates)")]

    @classmethod
    def from_domain(cls, race: RaceDimension) -> RaceDimensionResponse:
        """The public view of ``race``."""
        return cls(
            race.race,
            race.title,
            race.dataset_id,
            race.constant_dollar_year,
            race.years,
            [PopulationDimensionResponse.from_domain(population) for population in race.populations],
            list(race.listed_twice),
        )


class DimensionsResponse(msgspec.Struct, frozen=True):
    """What the loaded data can answer."""

    races: list[RaceDimensionResponse]
    age_ranges: Annotated[list[str], msgspec.Meta(description="Age brackets, in years")]
    sexes: list[str]
    measures: Annotated[
        list[str], msgspec.Meta(description="median_income (dollars) and number_with_income (thousands of people)")
    ]

    @classmethod
    def from_domain(cls, dimensions: Dimensions) -> DimensionsResponse:
        """The public view of ``dimensions``."""
        return cls(
            [RaceDimensionResponse.from_domain(race) for race in dimensions.races],
            list(dimensions.age_ranges),
            list(dimensions.sexes),
            list(dimensions.measures),
        )
