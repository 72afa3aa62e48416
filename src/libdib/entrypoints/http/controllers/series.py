"""Series across years (JSON, CSV or a chart) and the dimensions of the loaded data."""

from __future__ import annotations

import csv
import enum
import io
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import QueryParameter

from libdib.domain.census import MAX_YEAR, MIN_YEAR
from libdib.domain.charts import ChartFormat
from libdib.domain.datasets import MAX_POPULATION_LENGTH
from libdib.domain.series import SeriesResult
from libdib.domain.series_query import check_query
from libdib.domain.series_service import SeriesService
from libdib.entrypoints.http.controllers.records import csv_cell
from libdib.entrypoints.http.etags import DataETagMiddleware
from libdib.entrypoints.http.query_check import COMMA_SEPARATED
from libdib.entrypoints.http.schemas.series import DimensionsResponse, SeriesResponse

JSON, CSV, SVG, PNG = "application/json", "text/csv", "image/svg+xml", "image/png"
CSV_FIELDS = ("key", "races", "compare", "sex", "age_range", "measure", "unit", "year", "value", "population")
CSV_HEADER = (*CSV_FIELDS, "footnote", "edition")


class OutputFormat(enum.StrEnum):
    """A response format named in the query, so that a plain link can ask for it (it wins over Accept)."""

    JSON = "json"
    CSV = "csv"
    SVG = "svg"
    PNG = "png"


MEDIA_TYPES = {OutputFormat.JSON: JSON, OutputFormat.CSV: CSV, OutputFormat.SVG: SVG, OutputFormat.PNG: PNG}

Races = Annotated[
    str,
    QueryParameter(max_length=200, description="1 to 6 race groups, comma-separated, such as asian,white"),
    COMMA_SEPARATED,
]
SexAsked = Annotated[str | None, QueryParameter(max_length=20, description="male or female (default: a series each)")]
AgeRange = Annotated[str, QueryParameter(max_length=20, description="An age bracket such as 25-34, or all")]
Population = Annotated[
    str | None,
    QueryParameter(
        max_length=MAX_POPULATION_LENGTH,
        description="The sub-section, regardless of case (default: for each year the first that has it)",
    ),
]
Measure = Annotated[
    str, QueryParameter(max_length=40, description="median_income (dollars) or number_with_income (thousands)")
]
Dollars = Annotated[
    str, QueryParameter(max_length=20, description="constant (as published), current, or a year such as 2019")
]
From = Annotated[int | None, QueryParameter(name="from", ge=MIN_YEAR, le=MAX_YEAR, description="First year shown")]
To = Annotated[int | None, QueryParameter(name="to", ge=MIN_YEAR, le=MAX_YEAR, description="Last year shown")]
CompareAsked = Annotated[str | None, QueryParameter(max_length=20, description="difference or ratio, with two races")]
Units = Annotated[
    str,
    QueryParameter(
        max_length=40,
        description="level, change, percent_change, index, change_since or percent_change_since",
    ),
]
BaseYear = Annotated[
    int | None,
    QueryParameter(ge=MIN_YEAR, le=MAX_YEAR, description="The year of index = 100 and of the *_since units"),
]
Editions = Annotated[
    str, QueryParameter(max_length=20, description="first, or all estimates of a year listed twice (levels only)")
]
Format = Annotated[
    OutputFormat | None, QueryParameter(description="json, csv, svg or png; wins over the Accept header")
]


@dataclass
class SeriesOperation(Operation):
    """The series route, documenting its CSV, SVG and PNG forms next to the JSON body."""

    def __post_init__(self) -> None:
        success = (self.responses or {}).get("200")
        if isinstance(success, OpenAPIResponse) and success.content is not None:
            text = OpenAPIType.STRING
            success.content[CSV] = OpenAPIMediaType(
                schema=Schema(type=text, description="A header line, then one line per point (long form)"),
            )
            success.content[SVG] = OpenAPIMediaType(schema=Schema(type=text, description="A line chart"))
            success.content[PNG] = OpenAPIMediaType(
                schema=Schema(type=text, content_media_type=PNG, description="A line chart")
            )


def csv_text(result: SeriesResult) -> str:
    """Every point of every series, one line each, after a header line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for series in result.series:
        head = (series.key, ",".join(series.races), series.compare, series.sex, series.age_range, series.measure)
        for point in series.points:
            cells = (*head, series.unit, point.year, point.value, point.population, point.footnote, point.edition)
            writer.writerow(map(csv_cell, cells))
    return buffer.getvalue()


class SeriesController(Controller):
    """``/series``: needs an access token."""

    path = "/series"
    tags = ["series"]  # noqa: RUF012 - Litestar reads it as a class attribute
    middleware = [DataETagMiddleware]  # noqa: RUF012 - every GET is tagged with the data version

    @get(
        "/",
        operation_id="GetSeries",
        summary="Series across years by race, sex and age, in any year's dollars, compared; as data or a chart",
        operation_class=SeriesOperation,
        responses={
            404: ResponseSpec(None, description="No data for a race, a sub-section or the years asked"),
            422: ResponseSpec(None, description="Unknown or conflicting parameters; `detail` names them"),
            503: ResponseSpec(None, description="Too many charts are being drawn; try again shortly"),
        },
    )
    async def series(
        self,
        *,
        request: Request[Any, Any, Any],
        series_service: NamedDependency[SeriesService],
        races: Races,
        sex: SexAsked = None,
        age_range: AgeRange = "all",
        population: Population = None,
        measure: Measure = "median_income",
        dollars: Dollars = "constant",
        from_year: From = None,
        to_year: To = None,
        compare: CompareAsked = None,
        units: Units = "level",
        base_year: BaseYear = None,
        editions: Editions = "first",
        format: Format = None,
    ) -> Response[SeriesResponse]:
        """Years a table lists twice: `editions=first` shows the first-listed estimate, `editions=all` both.

        Changes run between comparable estimates, so a break between two estimates never counts as change;
        `index` and the `*_since` units chain the year-over-year changes from `base_year`. `dollars=YEAR`
        re-bases constant dollars with the table's own ratio of current to constant medians in that year.
        With `compare`, the compare series comes first, then each race's own series, all in the same units.
        Formats: JSON (default), CSV (`Accept: text/csv` or `format=csv`), SVG and PNG charts.
        """
        query = check_query(
            races,
            sex=sex,
            age_range=age_range,
            population=population,
            measure=measure,
            dollars=dollars,
            from_year=from_year,
            to_year=to_year,
            compare=compare,
            units=units,
            base_year=base_year,
            editions=editions,
        )
        media_type = MEDIA_TYPES[format] if format else request.accept.best_match([JSON, CSV, SVG, PNG], default=JSON)
        result = await series_service.series(query)
        if media_type == CSV:
            headers = {"Content-Disposition": 'attachment; filename="series.csv"'}
            return Response(csv_text(result), media_type=CSV, headers=headers)  # type: ignore[arg-type]
        if media_type in {SVG, PNG}:
            image_format = ChartFormat.SVG if media_type == SVG else ChartFormat.PNG
            image = await series_service.chart(result, image_format)
            headers = {"Content-Disposition": f'inline; filename="series.{image_format.value}"'}
            return Response(image, media_type=media_type, headers=headers)  # type: ignore[arg-type]
        return Response(SeriesResponse.from_domain(result))


class DimensionsController(Controller):
    """``/dimensions``: needs an access token."""

    path = "/dimensions"
    tags = ["series"]  # noqa: RUF012 - Litestar reads it as a class attribute
    middleware = [DataETagMiddleware]  # noqa: RUF012 - every GET is tagged with the data version

    @get("/", operation_id="GetDimensions", summary="What the loaded data can answer: races, sub-sections, years")
    async def dimensions(self, series_service: NamedDependency[SeriesService]) -> DimensionsResponse:
        """Every loaded race group with its sub-sections, their age brackets and years, and the years listed twice."""
        return DimensionsResponse.from_domain(await series_service.dimensions())
