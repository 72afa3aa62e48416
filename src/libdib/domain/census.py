"""The vocabulary of Census table P-8 ("Age--People, by Median Income and Sex")."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

MIN_YEAR = 1940
MAX_YEAR = 2100


class AgeBracket(enum.StrEnum):
    """The age sections of a P-8 table, as the API names them."""

    A15_24 = "15-24"
    A25_34 = "25-34"
    A35_44 = "35-44"
    A45_54 = "45-54"
    A55_64 = "55-64"
    A65_74 = "65-74"
    A75_PLUS = "75+"

    @classmethod
    def for_age(cls, age: int) -> AgeBracket:
        """The bracket holding a person of ``age`` years; the table starts at 15."""
        if age < 15:
            raise ValueError(f"age {age} is below 15, the youngest age in table P-8")
        if age >= 75:
            return cls.A75_PLUS
        low = 15 + (age - 15) // 10 * 10
        return cls(f"{low}-{low + 9}")


class Sex(enum.StrEnum):
    """The two halves of every P-8 row."""

    MALE = "male"
    FEMALE = "female"


class Basis(enum.StrEnum):
    """Which median income column a comparison uses."""

    CONSTANT = "constant"
    CURRENT = "current"


KNOWN_RACES: dict[str, str] = {
    "all": "All Races",
    "white": "White",
    "white-not-hispanic": "White, Not Hispanic",
    "black": "Black",
    "asian": "Asian",
    "hispanic": "Hispanic (any race)",
}
"""The race groups the Census Bureau publishes a P-8 table for, by the key the API uses."""


class Observation(NamedTuple):
    """One year row of one population sub-section of one age section, as published.

    A tuple so that a million of them stay cheap to build and to hand to a bulk insert.
    Numbers with income are in thousands, incomes in dollars; ``None`` where the table has a symbol.
    """

    population: str
    age_range: str
    year: int
    footnote: str | None
    male_number_with_income: int | None
    male_median_income_current: int | None
    male_median_income_constant: int | None
    female_number_with_income: int | None
    female_median_income_current: int | None
    female_median_income_constant: int | None


@dataclass(frozen=True, slots=True)
class CensusTable:
    """A P-8 workbook as read: what it is about and its rows in the table's order.

    ``title_row`` and ``heading_rows`` (each population heading's first row) say where the reader found the
    texts, so that a refusal can name the row; a table not read from a sheet has neither.
    """

    race: str
    title: str
    constant_dollar_year: int
    observations: list[Observation]
    title_row: int | None = None
    heading_rows: Mapping[str, int] = field(default_factory=dict)

    @property
    def years(self) -> tuple[int, int]:
        """The first and last year the table covers."""
        years = [o.year for o in self.observations]
        return (min(years), max(years))


@dataclass(frozen=True, slots=True)
class Dataset:
    """A loaded table: which race group it covers and where it came from."""

    id: int
    race: str
    title: str
    source: str
    sha256: str
    rows: int
    years: tuple[int, int]
    loaded_at: datetime


@dataclass(frozen=True, slots=True)
class IncomeRecord:
    """A stored row of a dataset, addressable by id."""

    id: int
    dataset_id: int
    race: str
    constant_dollar_year: int
    observation: Observation


@dataclass(frozen=True, slots=True)
class LoadedTable:
    """Every stored row of one race group's table, in table order, with what the table says about itself."""

    dataset_id: int
    race: str
    title: str
    constant_dollar_year: int
    observations: Sequence[Observation]
