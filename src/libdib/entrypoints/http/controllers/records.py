"""Records: filter and page them (JSON) or stream them (CSV); get, add and delete one."""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import QueryParameter, RequestBody
from litestar.response import Stream

from libdib.domain.census import KNOWN_RACES, MAX_YEAR, MIN_YEAR, AgeBracket, IncomeRecord
from libdib.domain.datasets import MAX_PAGE_SIZE, MAX_POPULATION_LENGTH, DatasetService
from libdib.domain.ports import RecordFilter
from libdib.entrypoints.http.auth import requires_admin
from libdib.entrypoints.http.etags import DataETagMiddleware
from libdib.entrypoints.http.parameters import RecordId
from libdib.entrypoints.http.query_check import COMMA_SEPARATED
from libdib.entrypoints.http.schemas.census import (
    RECORD_FIELDS,
    RecordCreateRequest,
    RecordPageResponse,
    RecordResponse,
)

JSON, CSV = "application/json", "text/csv"
DEFAULT_PAGE_SIZE = 100
MAX_OFFSET = 2**31 - 1
CSV_CHUNK_ROWS = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these runs as a formula in a spreadsheet (OWASP "CSV injection")."""


class OutputFormat(enum.StrEnum):
    """What ``format=`` asks for, overriding the Accept header."""

    JSON = "json"
    CSV = "csv"


Races = Annotated[
    str | None,
    QueryParameter(
        max_length=400,
        description=f"One or more race groups, comma-separated (any of them matches): {', '.join(KNOWN_RACES)}",
        examples=[Example(value="asian,white")],
    ),
    COMMA_SEPARATED,
]
Population = Annotated[
    str | None,
    QueryParameter(
        max_length=MAX_POPULATION_LENGTH, description="A sub-section heading as published, in any letter case"
    ),
]
AgeRange = Annotated[AgeBracket | None, QueryParameter(description="An age bracket")]
Year = Annotated[int | None, QueryParameter(ge=MIN_YEAR, le=MAX_YEAR, description="Exactly this year")]
YearFrom = Annotated[
    int | None, QueryParameter(name="from", ge=MIN_YEAR, le=MAX_YEAR, description="The first year (inclusive)")
]
YearTo = Annotated[
    int | None, QueryParameter(name="to", ge=MIN_YEAR, le=MAX_YEAR, description="The last year (inclusive)")
]
Format = Annotated[
    OutputFormat | None,
    QueryParameter(
        name="format",
        description="`csv` for CSV (as `Accept: text/csv` gives it, but usable in a plain link), `json` for JSON",
    ),
]
Limit = Annotated[
    int,
    QueryParameter(
        ge=1, le=MAX_PAGE_SIZE, description="Page size; as CSV, every matching record unless limit is given"
    ),
]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET, description="Records to skip")]


@dataclass
class ListRecordsOperation(Operation):
    """The listing, documenting its CSV form next to the JSON page."""

    def __post_init__(self) -> None:
        success = (self.responses or {}).get("200")
        if isinstance(success, OpenAPIResponse) and success.content is not None:
            success.content[CSV] = OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, description="A header line, then one line per record"),
            )


def csv_cell(value: object) -> object:
    """A value as written to CSV, with text that a spreadsheet would run as a formula defused."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def csv_row(record: IncomeRecord) -> Iterable[object]:
    """The fields of ``record`` in the order of ``RECORD_FIELDS``."""
    return map(csv_cell, (record.id, record.dataset_id, record.race, *record.observation, record.constant_dollar_year))


async def csv_lines(records: AsyncIterable[IncomeRecord]) -> AsyncIterator[str]:
    """A header line, then the records, in chunks of ``CSV_CHUNK_ROWS`` lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(RECORD_FIELDS)
    rows = 0
    async for record in records:
        writer.writerow(csv_row(record))
        rows += 1
        if rows % CSV_CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def wants_csv(request: Request[Any, Any, Any], output: OutputFormat | None) -> bool:
    """Whether the records go out as CSV: ``format`` decides when given, else the Accept header."""
    if output is not None:
        return output is OutputFormat.CSV
    return request.accept.best_match([JSON, CSV], default=JSON) == CSV


async def one_page(records: Iterable[IncomeRecord]) -> AsyncIterator[IncomeRecord]:
    """A page of records, as the stream the CSV writer takes."""
    for record in records:
        yield record


class RecordController(Controller):
    """``/records``: reading needs an access token, changing needs an admin."""

    path = "/records"
    tags = ["records"]  # noqa: RUF012 - Litestar reads it as a class attribute
    middleware = [DataETagMiddleware]  # noqa: RUF012 - every GET is tagged with the data version

    @get(
        "/",
        operation_id="ListRecords",
        summary="Filter and page the records, as JSON or (Accept: text/csv, or format=csv) as CSV",
        operation_class=ListRecordsOperation,
        # A value outside a parameter's documented type, bounds or values is a 400 (as on /comparisons); a race is
        # free text here (a comma-separated list), so an unknown one is a rule of the data: 422.
        responses={
            400: ResponseSpec(
                None,
                description="A parameter outside its documented values or bounds (an `age_range` not listed, "
                "a `limit` over 1000, a repeated or unknown parameter); `detail` names it",
            ),
            422: ResponseSpec(None, description="An unknown race, or `from` after `to`; `detail` names the parameter"),
        },
    )
    async def list_records(
        self,
        *,
        request: Request[Any, Any, Any],
        dataset_service: NamedDependency[DatasetService],
        race: Races = None,
        population: Population = None,
        age_range: AgeRange = None,
        year: Year = None,
        year_from: YearFrom = None,
        year_to: YearTo = None,
        output: Format = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
        offset: Offset = 0,
    ) -> Response[RecordPageResponse]:
        """Records in table order: each table as published, records added later after its rows, tables as first loaded.

        With `Accept: text/csv` or `format=csv` the matching records come as CSV with a header line, streamed:
        all of them, or the page that `limit` and `offset` select when either is given.
        """
        where = RecordFilter(
            races=None if race is None else tuple(race.split(",")),
            population=population,
            age_range=age_range,
            year=year,
            year_from=year_from,
            year_to=year_to,
        )
        if not wants_csv(request, output):
            page = await dataset_service.records(where, limit, offset)
            items = [RecordResponse.from_domain(record) for record in page.items]
            return Response(RecordPageResponse(items, page.total, page.limit, page.offset))
        if "limit" in request.query_params or "offset" in request.query_params:
            records = one_page((await dataset_service.records(where, limit, offset)).items)
        else:
            records = dataset_service.export(where)
        headers = {"Content-Disposition": 'attachment; filename="records.csv"'}
        # A Stream is a Response; the annotation names the JSON page so that the docs show its schema.
        return Stream(csv_lines(records), media_type=CSV, headers=headers)  # type: ignore[return-value]

    @get(
        "/{record_id:int}",
        operation_id="GetRecord",
        summary="One record",
        responses={404: ResponseSpec(None, description="No such record")},
    )
    async def get_record(self, record_id: RecordId, dataset_service: NamedDependency[DatasetService]) -> RecordResponse:
        """The record with this id."""
        return RecordResponse.from_domain(await dataset_service.get_record(record_id))

    @post(
        "/",
        operation_id="CreateRecord",
        summary="Add a record to the loaded table of its race group",
        guards=[requires_admin],
        responses={
            409: ResponseSpec(None, description="A record with this race, population, age range, year and footnote"),
            422: ResponseSpec(None, description="A field breaks a rule, or no table is loaded for the race"),
        },
    )
    async def create_record(
        self, data: RequestBody[RecordCreateRequest], dataset_service: NamedDependency[DatasetService]
    ) -> RecordResponse:
        """The record joins the dataset of its race (and takes its constant-dollar year); a reload replaces it."""
        record = await dataset_service.add_record(data.race, data.to_domain())
        return RecordResponse.from_domain(record)

    @delete(
        "/{record_id:int}",
        operation_id="DeleteRecord",
        summary="Delete one record",
        guards=[requires_admin],
        responses={404: ResponseSpec(None, description="No such record")},
    )
    async def delete_record(self, record_id: RecordId, dataset_service: NamedDependency[DatasetService]) -> None:
        """Removes the record; reloading its table brings a published row back."""
        await dataset_service.delete_record(record_id)
