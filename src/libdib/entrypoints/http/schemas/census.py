"""Bodies of the datasets, records and comparisons routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from libdib.domain.census import KNOWN_RACES, MAX_YEAR, MIN_YEAR, AgeBracket, Basis, Dataset, IncomeRecord, Observation
from libdib.domain.comparisons import Comparison, SexComparison
from libdib.domain.datasets import LARGEST_NUMBER, MAX_POPULATION_LENGTH, LoadResult, public_source

Year = Annotated[int, msgspec.Meta(ge=MIN_YEAR, le=MAX_YEAR, examples=[2019])]
Count = Annotated[int, msgspec.Meta(ge=0, le=LARGEST_NUMBER, description="Thousands of people", examples=[1747])]
Dollars = Annotated[int, msgspec.Meta(ge=0, le=LARGEST_NUMBER, description="Dollars", examples=[52128])]
Race = Annotated[str, msgspec.Meta(description=f"One of {', '.join(KNOWN_RACES)}", examples=["asian"])]
Population = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_POPULATION_LENGTH,
        description="The sub-section heading as published",
        examples=["Asian Alone or in Combination"],
    ),
]
ThousandsOrNull = Annotated[
    int | None,
    msgspec.Meta(description="Number with income, in thousands of people; null where the table has a symbol"),
]
CurrentOrNull = Annotated[
    int | None, msgspec.Meta(description="Median income in current dollars (of the year); null for a symbol")
]
ConstantOrNull = Annotated[
    int | None,
    msgspec.Meta(description="Median income in constant dollars (of `constant_dollar_year`); null for a symbol"),
]
Footnote = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,20}$", description="The footnote number", examples=["40"])]


class DatasetResponse(msgspec.Struct, frozen=True):
    """A loaded P-8 table and where it came from."""

    id: int
    race: str
    title: str
    source: str
    sha256: str
    rows: int
    years: tuple[int, int]
    loaded_at: datetime

    @classmethod
    def from_domain(cls, dataset: Dataset) -> DatasetResponse:
        """The public view of ``dataset``."""
        return cls(
            id=dataset.id,
            race=dataset.race,
            title=dataset.title,
            source=public_source(dataset.source),
            sha256=dataset.sha256,
            rows=dataset.rows,
            years=dataset.years,
            loaded_at=dataset.loaded_at,
        )


class DatasetListResponse(msgspec.Struct, frozen=True):
    """Every loaded dataset, by race."""

    items: list[DatasetResponse]


class LoadResponse(msgspec.Struct, frozen=True):
    """What a load stored: each dataset, and the rows of all of them."""

    datasets: list[DatasetResponse]
    rows: int

    @classmethod
    def from_domain(cls, result: LoadResult) -> LoadResponse:
        """The response for ``result``."""
        return cls(datasets=[DatasetResponse.from_domain(d) for d in result.datasets], rows=result.rows)


class RecordResponse(msgspec.Struct, frozen=True):
    """One year row of a table; numbers with income in thousands, incomes in dollars, null for a symbol."""

    id: Annotated[int, msgspec.Meta(description="The record's id; stable across reloads of the same row")]
    dataset_id: Annotated[int, msgspec.Meta(description="The id of the dataset (table) the record belongs to")]
    race: Annotated[str, msgspec.Meta(description="The table's race group, lower case", examples=["asian"])]
    population: Annotated[str, msgspec.Meta(description="The sub-section heading as published")]
    age_range: Annotated[str, msgspec.Meta(description="The age bracket, in years", examples=["25-34"])]
    year: Annotated[int, msgspec.Meta(description="The income year", examples=[2019])]
    footnote: Annotated[
        str | None, msgspec.Meta(description="The footnote number of a footnoted estimate (a year listed twice)")
    ]
    male_number_with_income: ThousandsOrNull
    male_median_income_current: CurrentOrNull
    male_median_income_constant: ConstantOrNull
    female_number_with_income: ThousandsOrNull
    female_median_income_current: CurrentOrNull
    female_median_income_constant: ConstantOrNull
    constant_dollar_year: Annotated[int, msgspec.Meta(description="The year whose dollars the constant columns use")]

    @classmethod
    def from_domain(cls, record: IncomeRecord) -> RecordResponse:
        """The public view of ``record``."""
        return cls(record.id, record.dataset_id, record.race, *record.observation, record.constant_dollar_year)


RECORD_FIELDS = RecordResponse.__struct_fields__
"""The record's fields in order: the CSV header."""


class RecordPageResponse(msgspec.Struct, frozen=True):
    """One page of records and how many match in all."""

    items: list[RecordResponse]
    total: int
    limit: int
    offset: int


class RecordCreateRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A record to add to the loaded table of its race group."""

    race: Race
    population: Population
    age_range: AgeBracket
    year: Year
    footnote: Footnote | None = None
    male_number_with_income: Count | None = None
    male_median_income_current: Dollars | None = None
    male_median_income_constant: Dollars | None = None
    female_number_with_income: Count | None = None
    female_median_income_current: Dollars | None = None
    female_median_income_constant: Dollars | None = None

    def to_domain(self) -> Observation:
        """The observation this request describes."""
        return Observation(
            self.population,
            self.age_range.value,
            self.year,
            self.footnote,
            self.male_number_with_income,
            self.male_median_income_current,
            self.male_median_income_constant,
            self.female_number_with_income,
            self.female_median_income_current,
            self.female_median_income_constant,
        )


class SexComparisonResponse(msgspec.Struct, frozen=True):
    """The two race groups compared for one sex; null where a value is missing or undefined.

    ``incomes`` and ``numbers_with_income`` give each race's own median income (in the comparison's dollars) and
    number with income (thousands), from which the differences come.
    """

    head: str | None
    income_difference: int | None
    population_difference: int | None
    percent_change_income: float | None
    percent_change_pop: float | None
    incomes: dict[str, int | None]
    numbers_with_income: dict[str, int | None]

    @classmethod
    def from_domain(cls, result: SexComparison, races: tuple[str, str]) -> SexComparisonResponse:
        """The response for ``result``, whose values are in the order of ``races``."""
        return cls(
            result.head,
            result.income_difference,
            result.population_difference,
            result.percent_change_income,
            result.percent_change_pop,
            dict(zip(races, result.incomes, strict=True)),
            dict(zip(races, result.numbers, strict=True)),
        )


class BySexResponse(msgspec.Struct, frozen=True, omit_defaults=True):
    """The result for each sex asked for (both unless ``sex`` was given)."""

    male: SexComparisonResponse | None = None
    female: SexComparisonResponse | None = None


class ComparisonResponse(msgspec.Struct, frozen=True):
    """A comparison of two race groups in one year and age bracket.

    ``dollars`` says what the incomes are in: ``constant`` means the tables' constant dollars, those of
    ``constant_dollar_year`` (such as "2023 dollars"); ``current`` means each year's own dollars.
    """

    year: int
    age_range: str
    basis: Basis
    races: tuple[str, str]
    race: str | None
    base_year: int | None
    comparison: BySexResponse
    dollars: str
    constant_dollar_year: int | None

    @classmethod
    def from_domain(cls, result: Comparison) -> ComparisonResponse:
        """The response for ``result``."""
        query = result.query
        by_sex = {
            sex.value: SexComparisonResponse.from_domain(value, query.races) for sex, value in result.by_sex.items()
        }
        dollars = "current dollars" if query.basis is Basis.CURRENT else f"{result.constant_dollar_year} dollars"
        return cls(
            year=query.year,
            age_range=query.age_range.value,
            basis=query.basis,
            races=query.races,
            race=query.race,
            base_year=query.base_year,
            comparison=BySexResponse(**by_sex),
            dollars=dollars,
            constant_dollar_year=result.constant_dollar_year,
        )
