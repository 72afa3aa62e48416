"""Comparisons of two race groups in one year and age bracket."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from libdib.domain.census import MAX_YEAR, MIN_YEAR, AgeBracket, Basis, Sex
from libdib.domain.comparisons import ComparisonService, bracket_of
from libdib.entrypoints.http.etags import DataETagMiddleware
from libdib.entrypoints.http.query_check import COMMA_SEPARATED
from libdib.entrypoints.http.schemas.census import ComparisonResponse

MAX_AGE = 130
Year = Annotated[int, QueryParameter(ge=MIN_YEAR, le=MAX_YEAR, description="The year compared")]
Age = Annotated[
    int | None, QueryParameter(ge=15, le=MAX_AGE, description="Age in years, mapped to its bracket; or give age_range")
]
AgeRange = Annotated[AgeBracket | None, QueryParameter(description="An age bracket; or give age")]
SexAsked = Annotated[Sex | None, QueryParameter(description="Compare only this sex (default: both)")]
BasisAsked = Annotated[Basis, QueryParameter(description="Compare median incomes in constant or current dollars")]
Races = Annotated[
    str, QueryParameter(max_length=100, description="Two different race groups, comma-separated"), COMMA_SEPARATED
]
Race = Annotated[
    str | None, QueryParameter(max_length=40, description="One of `races`: whose percent changes to compute")
]
BaseYear = Annotated[
    int | None,
    QueryParameter(
        ge=MIN_YEAR, le=MAX_YEAR, description="The year `race`'s percent changes start from (needs `race`: 422 without)"
    ),
]


class ComparisonController(Controller):
    """``/comparisons``: needs an access token."""

    path = "/comparisons"
    tags = ["comparisons"]  # noqa: RUF012 - Litestar reads it as a class attribute
    middleware = [DataETagMiddleware]  # noqa: RUF012 - every GET is tagged with the data version

    @get(
        "/",
        operation_id="CompareRaces",
        summary="Compare the median incomes and numbers with income of two race groups",
        responses={
            404: ResponseSpec(
                None, description="A race group has no data for the year or base year; `detail` says which"
            ),
            422: ResponseSpec(None, description="Parameters that do not fit together; `detail` names them"),
        },
    )
    async def compare(
        self,
        *,
        comparison_service: NamedDependency[ComparisonService],
        year: Year,
        age: Age = None,
        age_range: AgeRange = None,
        sex: SexAsked = None,
        races: Races = "white,asian",
        race: Race = None,
        base_year: BaseYear = None,
        basis: BasisAsked = Basis.CONSTANT,
    ) -> ComparisonResponse:
        """Give exactly one of `age` and `age_range`.

        For each sex (or only `sex`): `head`, the race with the higher median income (null on a tie);
        `income_difference` in `basis` dollars and `population_difference` in thousands, both absolute, beside
        each race's own `incomes` and `numbers_with_income`; and with `race` and `base_year`, the percent changes
        of that race from `base_year` to `year`, rounded to 2 decimals (`base_year` without `race` is a 422).
        `dollars` says which dollars the incomes are in: `constant` means those of `constant_dollar_year`, the
        tables' constant-dollar year. Where a year is listed twice (footnoted estimates), the first listed one
        is used.
        """
        result = await comparison_service.compare(
            year,
            bracket_of(age, age_range).value,
            races=races.split(","),
            sex=sex,
            race=race,
            base_year=base_year,
            basis=basis,
        )
        return ComparisonResponse.from_domain(result)
