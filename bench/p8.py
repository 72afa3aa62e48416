"""Census table P-8 workbooks in the full published layout, written with xlsxwriter, for tests and benchmarks.

``P8Table`` describes a table; ``p8_workbook`` writes it and ``expected_observations`` says what a reader
must make of it. ``large_workbook`` and ``write_large_workbook`` make a synthetic table of any number of
year rows, and ``p8_tables`` is a hypothesis strategy for property tests.

The layout, as the Census Bureau publishes it: an accessibility note, the title, the universe line, then
per age section its heading and per population sub-section a heading, three header rows and the year
rows ('2019', '2017 (40)', each with six cells), and at the end the source and footnote lines.
"""

from __future__ import annotations

import io
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import xlsxwriter
from hypothesis import strategies as st

from libdib.domain.census import KNOWN_RACES, Observation

Cell = int | float | str | None
"""A number (Excel stores it as a number), text written as is (a symbol such as '(B)', or '11,132'), or empty."""
Row = tuple[str, Sequence[Cell]]
"""A year row: the label in column A ('2019', '2017 (40)') and the six cells after it."""

SYMBOLS = ("(B)", "(NA)", "(X)", "N", "-", "Z", "…")
"""Symbols the Census Bureau writes instead of a number; a reader gives None for each."""
AGE_HEADINGS = {
    "15-24": "15 to 24 Years",
    "25-34": "25 to 34 Years",
    "35-44": "35 to 44 Years",
    "45-54": "45 to 54 Years",
    "55-64": "55 to 64 Years",
    "65-74": "..65 to 74 Years",
    "75+": "..75 Years and Over",
}
"""Age section headings as published (the leading dots are the Census Bureau's)."""
RACE_KEYS = {title: key for key, title in KNOWN_RACES.items()}
"""The race key a reader must give for a table titled with each known race group."""
ACCESSIBILITY_NOTE = "Table with row headers in column A and column headers in rows 6 through 8"
UNIVERSE = (
    "(People 15 years old and over beginning with March 1980, and people 14 years old and over as of March of "
    "the following year for previous years. Income in current and {year} CPI-U-RS adjusted dollars (28))"
)
SOURCE = "Source: U.S. Census Bureau, Current Population Survey, Annual Social and Economic Supplements (CPS ASEC)."
FOOTNOTES = (
    "Footnotes are available at <www.census.gov/topics/income-poverty/income/guidance/cps-historic-footnotes.html>."
)
EXCEL_ROWS = 1_048_576
LABEL = re.compile(r"(\d{4})(?: \((\d+)\))?")


@dataclass(frozen=True)
class Population:
    """A population sub-section: its heading ('Asian Alone') and its year rows, latest first."""

    heading: str
    rows: Iterable[Row]


@dataclass(frozen=True)
class AgeSection:
    """An age section; ``heading`` overrides the published heading of ``age_range`` (to test bad ones)."""

    age_range: str
    populations: Iterable[Population]
    heading: str | None = None


@dataclass(frozen=True)
class P8Table:
    """A whole P-8 table; the layout switches let tests vary what a reader must cope with."""

    race: str
    """The race group as the title names it: 'Asian', 'White, Not Hispanic'."""
    constant_dollar_year: int
    years: tuple[int, int]
    sections: Iterable[AgeSection]
    headers_per_population: bool = True
    """True: the three header rows follow every population heading; False: once, above the first age section."""
    accessibility_note: bool = True
    blank_rows_above: int = 0

    @property
    def title(self) -> str:
        """The title row as the Census Bureau writes it."""
        first, last = self.years
        return f"Table P-8. Age--{self.race} People, by Median Income and Sex: {first} to {last}"


class Lines:
    """Writes rows one after another, numbers as numbers and text as text."""

    def __init__(self, worksheet: Any, first_row: int) -> None:
        self.worksheet = worksheet
        self.row = first_row

    def write(self, *cells: Cell) -> None:
        """Write one row from column A on."""
        if self.row >= EXCEL_ROWS:
            raise ValueError(f"an Excel sheet holds at most {EXCEL_ROWS:,} rows")  # xlsxwriter would drop them
        for column, cell in enumerate(cells):
            if isinstance(cell, int | float):
                self.worksheet.write_number(self.row, column, cell)
            elif cell is not None:
                self.worksheet.write_string(self.row, column, cell)
        self.row += 1

    def headers(self, dollar_year: int) -> None:
        """The three header rows over the year rows."""
        number, median = "Number with income (thousands)", "Median income"
        current, constant = "Current\ndollars", f"{dollar_year}\ndollars"
        self.write("Age and year", "Male", None, None, "Female")
        self.write(None, number, median, None, number, median)
        self.write(None, None, current, constant, None, current, constant)


def write_p8(table: P8Table, target: str | Path | IO[bytes], *, constant_memory: bool = False) -> None:
    """Write ``table`` as an ``.xlsx`` workbook to a path or binary file.

    ``constant_memory`` streams rows to disk as they are written (and writes text inline instead of in
    the shared strings table): use it for big tables.
    """
    workbook = xlsxwriter.Workbook(
        str(target) if isinstance(target, Path) else target, {"constant_memory": constant_memory}
    )
    lines = Lines(workbook.add_worksheet("p08"), first_row=table.blank_rows_above)
    if table.accessibility_note:
        lines.write(ACCESSIBILITY_NOTE)
    lines.write(table.title)
    lines.write(UNIVERSE.format(year=table.constant_dollar_year))
    if not table.headers_per_population:
        lines.headers(table.constant_dollar_year)
    for section in table.sections:
        lines.write(section.heading or AGE_HEADINGS[section.age_range])
        for population in section.populations:
            lines.write(population.heading)
            if table.headers_per_population:
                lines.headers(table.constant_dollar_year)
            for label, cells in population.rows:
                lines.write(label, *cells)
    lines.write(SOURCE)
    lines.write(FOOTNOTES)
    workbook.close()


def p8_workbook(table: P8Table, *, constant_memory: bool = False) -> bytes:
    """The ``.xlsx`` bytes of ``table``."""
    buffer = io.BytesIO()
    write_p8(table, buffer, constant_memory=constant_memory)
    return buffer.getvalue()


def cell_value(cell: Cell) -> int | None:
    """What a reader must make of a cell: its number, or None for a symbol or an empty cell."""
    if cell is None or cell in SYMBOLS:
        return None
    if isinstance(cell, int | float):
        return int(cell)
    return int(float(cell.replace(",", "")))


def expected_observations(table: P8Table) -> list[Observation]:
    """The observations a reader must give for ``table``, whose rows must be sequences (as drawn here)."""
    expected = []
    for section in table.sections:
        for population in section.populations:
            for label, cells in population.rows:
                match = LABEL.fullmatch(label)
                assert match, f"not a year label: {label!r}"
                year, footnote = int(match[1]), match[2]
                values = [cell_value(cell) for cell in cells]
                expected.append(Observation(population.heading, section.age_range, year, footnote, *values))
    return expected


# The large synthetic table ------------------------------------------------------------------------------

PUBLISHED_LABELS = tuple(
    label
    for year in range(2019, 1966, -1)
    for label in {2017: ("2017 (40)", "2017"), 2013: ("2013 (39)", "2013 (38)")}.get(year, (str(year),))
)
"""The year labels of a population series from 2019 back to 1967, with the footnoted duplicates."""


def large_table(rows: int, *, race: str = "asian", symbols: bool = False, seed: int = 0) -> P8Table:
    """A synthetic table of exactly ``rows`` year rows over the seven age sections, in the published layout.

    Each age section holds as many population series (1967 to 2019, ``len(PUBLISHED_LABELS)`` rows each)
    as it takes; their headings are unique within the section, so no two rows share a natural key. The
    header rows come once, above the first age section, so that a million year rows fit in one sheet.
    With ``symbols``, about one row in a hundred has a symbol in one cell. The rows are made as they are
    written, so the table can be written once only.
    """
    title = KNOWN_RACES.get(race, race.replace("-", " ").title())
    numbers = random.Random(seed)
    brackets = list(AGE_HEADINGS)

    def six_cells() -> list[Cell]:
        cells: list[Cell] = [
            numbers.randrange(1, 20_000),  # number with income (thousands), then current and constant dollars
            numbers.randrange(2_000, 150_000),
            numbers.randrange(2_000, 150_000),
            numbers.randrange(1, 20_000),
            numbers.randrange(2_000, 150_000),
            numbers.randrange(2_000, 150_000),
        ]
        if symbols and numbers.random() < 0.01:
            cells[numbers.randrange(6)] = numbers.choice(SYMBOLS)
        return cells

    def series(count: int) -> Iterator[Population]:
        for number, start in enumerate(range(0, count, len(PUBLISHED_LABELS))):
            labels = PUBLISHED_LABELS[: min(len(PUBLISHED_LABELS), count - start)]
            yield Population(f"{title} Alone, series {number + 1}", ((label, six_cells()) for label in labels))

    sections = (
        AgeSection(bracket, series(rows // len(brackets) + (index < rows % len(brackets))))
        for index, bracket in enumerate(brackets)
    )
    return P8Table(title, 2019, (1967, 2019), sections, headers_per_population=False)


def large_workbook(rows: int, *, race: str = "asian", symbols: bool = False, seed: int = 0) -> bytes:
    """The ``.xlsx`` bytes of ``large_table(rows, ...)``; about 45 MB and 20 s for a million rows."""
    return p8_workbook(large_table(rows, race=race, symbols=symbols, seed=seed), constant_memory=True)


def write_large_workbook(path: Path, *, rows: int, race: str = "asian", symbols: bool = False, seed: int = 0) -> None:
    """Write ``large_table(rows, ...)`` to ``path``, streaming, so memory stays flat however many rows."""
    write_p8(large_table(rows, race=race, symbols=symbols, seed=seed), path, constant_memory=True)


# Hypothesis strategies ----------------------------------------------------------------------------------

number_cells = st.one_of(
    st.integers(0, 250_000),
    st.integers(0, 2**31 - 1),
    st.sampled_from(SYMBOLS),
    st.none(),
    st.integers(0, 10**9).map(lambda number: f"{number:,}"),
    st.integers(0, 10**6).map(lambda number: f"{number}.0"),
)
"""A number cell as the Census Bureau might write it: a number, a symbol, empty, or a number as text."""


@st.composite
def year_rows(draw: st.DrawFn, first: int, last: int) -> list[Row]:
    """Up to a dozen consecutive years of a series running from ``first`` to ``last``, latest first.

    Some years come twice, the first time with a footnote number, as '2017 (40)' and '2017' do.
    """
    bottom = draw(st.integers(first, last))
    top = min(last, bottom + draw(st.integers(0, 11)))
    rows: list[Row] = []
    for year in range(top, bottom - 1, -1):
        if draw(st.integers(0, 5)) == 0:
            rows.append((f"{year} ({draw(st.integers(1, 99))})", draw(st.lists(number_cells, min_size=6, max_size=6))))
        rows.append((str(year), draw(st.lists(number_cells, min_size=6, max_size=6))))
    return rows


@st.composite
def p8_tables(draw: st.DrawFn) -> P8Table:
    """A P-8 table in the full published layout: some age sections, each with one to three series.

    The series are the race group 'Alone or in Combination' and 'Alone' (2002 to 2019) and the group
    before the 2002 race categories (1967 to 2001), in any order.
    """
    race = draw(st.sampled_from(list(RACE_KEYS)))
    series = [(f"{race} Alone or in Combination", 2002, 2019), (f"{race} Alone", 2002, 2019), (race, 1967, 2001)]
    sections = []
    for age_range in draw(st.lists(st.sampled_from(list(AGE_HEADINGS)), min_size=1, max_size=7, unique=True)):
        chosen = draw(st.lists(st.sampled_from(series), min_size=1, max_size=3, unique=True))
        populations = [Population(heading, draw(year_rows(first, last))) for heading, first, last in chosen]
        sections.append(AgeSection(age_range, populations))
    years = [
        int(label[:4]) for section in sections for population in section.populations for label, _ in population.rows
    ]
    return P8Table(
        race,
        draw(st.integers(1990, 2030)),
        (min(years), max(years)),
        sections,
        headers_per_population=draw(st.booleans()),
        accessibility_note=draw(st.booleans()),
        blank_rows_above=draw(st.integers(0, 2)),
    )
