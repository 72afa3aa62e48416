"""The series use case: load the races' rows, ask the pure functions, draw a chart if asked."""

from __future__ import annotations

from collections.abc import Sequence

from libdib.domain.census import Sex
from libdib.domain.charts import Chart, ChartFormat, ChartLine
from libdib.domain.dimensions import Dimensions, dimensions
from libdib.domain.errors import NotFound
from libdib.domain.ports import CensusView, ChartRenderer
from libdib.domain.series import Series, SeriesResult, build
from libdib.domain.series_query import Compare, Measure, SeriesQuery, Units

SEX_WORDS = {Sex.MALE: "men", Sex.FEMALE: "women"}


def race_names(races: Sequence[str], compare: Compare | None) -> str:
    """Races in words: 'Asian minus White', 'Asian / White', 'Asian, White'."""
    names = [race.replace("-", " ").title() for race in races]
    return {None: ", ", Compare.DIFFERENCE: " minus ", Compare.RATIO: " / "}[compare].join(names)


def describe(series: Series) -> str:
    """A series in words, for a legend: 'Asian minus White, women 25-34'."""
    return f"{race_names(series.races, series.compare)}, {SEX_WORDS[series.sex]} {series.age_range.value}"


def title(result: SeriesResult) -> str:
    """What a chart shows: 'Median income of women aged 25-34: Asian minus White, 2002-2019 (2019 dollars)'."""
    query = result.query
    measure = "Median income" if query.measure is Measure.MEDIAN_INCOME else "Number with income"
    how = "" if query.units is Units.LEVEL else f" ({query.units.value.replace('_', ' ')})"
    people = SEX_WORDS[query.sex] if query.sex else "people"
    ages = f" aged {query.age_range.value}" if query.age_range else ""
    years = [point.year for series in result.series for point in series.points]
    span = f", {min(years)}-{max(years)}" if years else ""
    return f"{measure}{how} of {people}{ages}: {race_names(query.races, query.compare)}{span} ({result.unit})"


def chart_of(result: SeriesResult) -> Chart:
    """The line chart of every series in ``result``."""
    lines = tuple(
        ChartLine(
            describe(series),
            series.unit,
            tuple((point.year, None if point.value is None else float(point.value)) for point in series.points),
            derived=series.compare is not None,
        )
        for series in result.series
    )
    return Chart(title(result), lines, result.listed_twice)


class SeriesService:
    """Answers series questions: load the races' rows, ask the pure functions, draw a chart if asked."""

    def __init__(self, *, view: CensusView, charts: ChartRenderer) -> None:
        self._view = view
        self._charts = charts

    async def series(self, query: SeriesQuery) -> SeriesResult:
        """The series ``query`` asks for; ``NotFound`` when a race has no data loaded, or none in the years asked."""
        brackets = [bracket.value for bracket in query.age_ranges]
        found = await self._view.tables(query.races, brackets, query.dollar_year)
        tables = {table.race: table for table in found}
        missing = [race for race in query.races if race not in tables]
        if missing:
            ages = "" if query.age_range is None else f" at ages {query.age_range.value}"
            raise NotFound(f"races: no data is loaded for {', '.join(missing)}{ages}")
        result = build(tables, query)
        if not any(series.points for series in result.series):
            # Only a year range can leave every series empty: say so, rather than answer (or draw) nothing.
            years = [observation.year for table in found for observation in table.observations]
            covered = f"; the tables asked cover {min(years)} to {max(years)}" if years else ""
            asked = f"{query.from_year or 'the first year'} to {query.to_year or 'the last'}"
            raise NotFound(f"from, to: no data from {asked}{covered}")
        return result

    async def dimensions(self) -> Dimensions:
        """What the loaded data can answer."""
        return dimensions(await self._view.tables())

    async def chart(self, result: SeriesResult, image_format: ChartFormat) -> bytes:
        """The chart of ``result`` as an image, drawn off the event loop."""
        return await self._charts.render(chart_of(result), image_format)
