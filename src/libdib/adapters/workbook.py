"""Reads Census table P-8 workbooks by their structure, with polars expressions over what fastexcel loads.

Every row of the sheet is classified at once (year row, age heading, population heading, note), the
current age section and population are carried down onto the year rows, and the year rows become
``Observation`` tuples in table order. Nothing depends on fixed row offsets.
"""

from __future__ import annotations

import gc
import re
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from itertools import chain, repeat
from typing import Any, Final

import fastexcel
import polars as pl

from libdib.adapters.xlsx_scan import OddCells, scan_archive
from libdib.domain.census import MAX_YEAR, MIN_YEAR, AgeBracket, CensusTable, Observation
from libdib.domain.errors import WorkbookInvalid
from libdib.domain.ports import Workbook, WorkbookReader

DEFAULT_MAX_UNPACKED_BYTES: Final = 512 * 1024 * 1024
"""The most a workbook may unpack to; a 1,000,000-row P-8 sheet unpacks to about 260 MB."""

SHEET_WIDTH: Final = 7
NUMBER_COLUMNS: Final = "BCDEFG"
"""The letters of the six number columns."""
NUMBERS: Final = tuple(f"number_{i}" for i in range(1, SHEET_WIDTH))
TEXTS: Final = tuple(f"text_{i}" for i in range(1, SHEET_WIDTH))
NUMBER_NAMES: Final = (
    "male number with income (thousands)",
    "male median income (current dollars)",
    "male median income (constant dollars)",
    "female number with income (thousands)",
    "female median income (current dollars)",
    "female median income (constant dollars)",
)
LARGEST_NUMBER: Final = 2**31 - 1
SYMBOLS: Final = ["(B)", "(NA)", "(X)", "(Z)", "N", "NA", "X", "Z", "-", "\u2013", "\u2014", "\u2026", "..."]
"""What the Census Bureau writes in a cell instead of a number (base too small, not available, ...)."""

TITLE: Final = r"(?i)^table\s+p-?8\b"
YEAR: Final = r"^(?<year>[0-9]{4})(?:\s*\((?<footnote>[0-9]{1,3})\))?$"
"""ASCII digits only (a Rust regex's ``\\d`` takes every script's digits); the footnote is normalised to an integer."""
AGE_HEADING: Final = r"(?i)^[.\s]*(?<low>\d+)\s+(?:to\s+(?<high>\d+)\s+)?years?\b"
AGE_AND_OVER: Final = r"(?i)\byears?\s+and\s+(?:over|older)\b"
NOT_A_POPULATION: Final = r"(?i)^(?:\(|source|note|footnote|table\b|age and year|internet release)"
NUMBER_TEXT: Final = r"^(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.0*)?$"
DOLLAR_YEAR: Final = r"(?i)\b(\d{4})\s+(?:cpi-u-rs\s+adjusted\s+)?dollars\b"
RACE_GROUP: Final = re.compile(r"age\s*-+\s*(.+?)\s*,?\s+by\s+median", re.IGNORECASE)
RACE_QUALIFIERS: Final = re.compile(
    r"\b(?:people|alone or in combination|alone|origin|any races?|races?)\b|[(),.]", re.IGNORECASE
)
RACE_ALIASES: Final = {"white-non-hispanic": "white-not-hispanic", "non-hispanic-white": "white-not-hispanic"}
AGE_SECTIONS: Final = "15 to 24 Years, 25 to 34 Years, ..., 65 to 74 Years, 75 Years and Over"
YEAR_OBJECTS: Final = tuple(range(MIN_YEAR, MAX_YEAR + 1))

YearRows = tuple[str, str, int, pl.DataFrame, int, dict[str, int]]
"""A sheet's race group, title, constant-dollar year, checked year rows (``stored_columns``: what a row stores),
and the rows of its title and of each population heading's first appearance (for the domain's refusals)."""
READ_ERRORS: Final = (fastexcel.FastExcelError, pl.exceptions.PolarsError, ValueError, zipfile.BadZipFile)

# tuple.__new__ builds the named tuple in C, skipping Observation(...)'s Python-level __new__ for every row.
new_observation: Final[Callable[[Iterable[Any]], Observation]] = partial(tuple.__new__, Observation)


class PolarsWorkbookReader(WorkbookReader):
    """Reads the first sheet of a P-8 ``.xlsx`` workbook into a ``CensusTable``."""

    def __init__(self, max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES) -> None:
        self._max_unpacked_bytes = max_unpacked_bytes

    def read(self, workbook: Workbook) -> CensusTable:
        """The table in ``workbook``; raises ``WorkbookInvalid`` naming the workbook and, where known, the row."""
        return table_of(self.read_rows(workbook))

    def read_rows(self, workbook: Workbook) -> YearRows:
        """The race, title, constant-dollar year and checked year rows of ``workbook`` (the costly part)."""
        odd_cells = scan_archive(workbook.name, workbook.content, self._max_unpacked_bytes, NUMBER_COLUMNS)
        try:
            return read_years(workbook.name, fastexcel.read_excel(workbook.content), odd_cells)
        except READ_ERRORS as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise WorkbookInvalid(workbook.name, f"cannot be read as an Excel workbook ({first_line})") from error


def table_of(rows: YearRows) -> CensusTable:
    """The table of checked year rows."""
    race, title, dollar_year, years, title_row, heading_rows = rows
    columns = observation_columns(years)
    # Free the frame before a million tuples are built: the load's memory peak is 100 MB lower.
    del years, rows
    return CensusTable(race, title, dollar_year, observations(columns), title_row, heading_rows)


def read_years(name: str, excel: Any, odd_cells: OddCells) -> YearRows:
    """The race group, title and constant-dollar year of the sheet, its year rows, checked, and where its texts are.

    ``odd_cells`` are the number cells the archive scan found holding an error, a logical value or a
    formula with no value: fastexcel reads them as empty or 1, so a year row with one is refused here.
    """
    sheet = load(excel)
    title_row, title = find_title(name, sheet)
    columns = sheet.width - 1  # without the row number
    if columns < SHEET_WIDTH:
        raise WorkbookInvalid(
            name,
            f"has {columns} columns, but a P-8 sheet has {SHEET_WIDTH}: the year, then the number with income "
            "and the median income in current and constant dollars, for men and for women",
        )
    rows = classify(sheet.slice(title_row))
    dollar_year = constant_dollar_year(rows)
    if dollar_year is None or needs_texts(rows):
        rows = with_texts(rows, load_texts(excel).slice(title_row))
        dollar_year = dollar_year or constant_dollar_year(rows)
    else:
        rows = rows.with_columns(pl.lit(None, pl.String).alias(text) for text in TEXTS)
    first = rows.select("row", problem=problem()).drop_nulls("problem").head(1)
    if not first.is_empty():
        raise WorkbookInvalid(name, first.item(0, "problem"), row=first.item(0, "row"))
    years = rows.filter(pl.col("kind") == "year")
    refuse_odd_cells(name, years, odd_cells)
    if years.is_empty():
        raise WorkbookInvalid(name, "has no year rows (such as '2019' in column A followed by six numbers)")
    if dollar_year is None:
        raise WorkbookInvalid(name, "names no constant-dollar year (such as '2019 dollars') in its headers")
    return race_key(name, title), title, dollar_year, stored_columns(years), title_row, heading_rows(rows)


def heading_rows(rows: pl.DataFrame) -> dict[str, int]:
    """The row where each population heading first appears, by its text (as the year rows carry it)."""
    headings = rows.filter(pl.col("kind") == "population").unique("label", keep="first", maintain_order=True)
    return dict(zip(headings.get_column("label").to_list(), headings.get_column("row").to_list(), strict=True))


def refuse_odd_cells(name: str, years: pl.DataFrame, odd_cells: OddCells) -> None:
    """Refuse the first year row holding an odd cell in a number column."""
    if not odd_cells:
        return
    odd = years.select("row").filter(pl.col("row").is_in(list(odd_cells))).head(1)
    if not odd.is_empty():
        row = odd.item(0, "row")
        cell, what = odd_cells[row]
        column = NUMBER_NAMES[NUMBER_COLUMNS.index(cell[0])]
        raise WorkbookInvalid(
            name,
            f"{column} (cell {cell}) holds {what}, expected a whole number or a Census symbol such as (B)",
            row=row,
        )


def load(excel: Any) -> pl.DataFrame:
    """The first seven columns of the first sheet, column A as text and the six numbers as floats.

    Reading numbers as floats is about twice as fast as reading them as text, so the text of the
    number columns is read (``load_texts``) only when a cell holds something else, such as a symbol.
    """
    sheet = excel.load_sheet(
        0,
        header_row=None,
        skip_rows=0,  # keep leading empty rows, so that frame row i is Excel row i + 1
        use_columns=lambda column: column.index < SHEET_WIDTH,
        dtypes={0: "string"} | dict.fromkeys(range(1, SHEET_WIDTH), "float"),
    )
    frame: pl.DataFrame = sheet.to_polars()
    frame = frame.rename(dict(zip(frame.columns, ("label", *NUMBERS), strict=False)))
    return frame.with_row_index("row", offset=1)


def load_texts(excel: Any) -> pl.DataFrame:
    """The six number columns of the first sheet as text, as written ('(B)', '11,132', 'Male')."""
    sheet = excel.load_sheet(
        0,
        header_row=None,
        skip_rows=0,
        use_columns=lambda column: 0 < column.index < SHEET_WIDTH,
        dtypes="string",
    )
    frame: pl.DataFrame = sheet.to_polars()
    return frame.rename(dict(zip(frame.columns, TEXTS, strict=True)))


def find_title(name: str, sheet: pl.DataFrame) -> tuple[int, str]:
    """The row and text of the table's title, 'Table P-8. Age--... People, by Median Income and Sex: ...'."""
    found = sheet.filter(pl.col("label").str.strip_chars().str.contains(TITLE)).head(1) if "label" in sheet else sheet
    if found.is_empty():
        raise WorkbookInvalid(
            name,
            "is not Census table P-8: column A has no title such as 'Table P-8. Age--Asian People, by "
            "Median Income and Sex'",
        )
    return found.item(0, "row"), " ".join(found.item(0, "label").split())


def race_key(name: str, title: str) -> str:
    """The race group a title is about, as the API names it: 'Age--White, Not Hispanic People' → white-not-hispanic."""
    group = RACE_GROUP.search(title)
    words = RACE_QUALIFIERS.sub(" ", group.group(1)).lower() if group else ""
    key = re.sub(r"[^a-z0-9]+", "-", words).strip("-")
    if not key:
        raise WorkbookInvalid(name, f"the title '{title}' names no race group as in 'Age--Asian People, by Median'")
    return RACE_ALIASES.get(key, key)


def classify(rows: pl.DataFrame) -> pl.DataFrame:
    """Each row's kind, year and footnote, and the age section and population in force on it."""
    rows = rows.with_columns(pl.col("label").str.strip_chars())
    rows = rows.with_columns(pl.col("label").str.extract_groups(YEAR).struct.unnest())
    rows = rows.with_columns(pl.col("footnote").cast(pl.Int32).cast(pl.String))  # "040" is footnote 40
    # Year rows are nearly all rows: the other tests only look at the rest (nulls cost nothing to a regex).
    text = pl.when(pl.col("year").is_null()).then(pl.col("label"))
    age = text.str.extract_groups(AGE_HEADING)
    low, high = age.struct.field("low"), age.struct.field("high")
    kind = (
        pl.when(pl.col("year").is_not_null())
        .then(pl.lit("year"))
        .when(low.is_not_null())
        .then(pl.lit("age"))
        .when(pl.any_horizontal(pl.col(NUMBERS).is_not_null()))
        .then(pl.lit("stray"))
        .when(text.is_null() | (text == "") | text.str.contains(NOT_A_POPULATION))
        .then(pl.lit("other"))
        .otherwise(pl.lit("population"))
    )
    age_range = (
        pl.when(high.is_not_null())
        .then(pl.format("{}-{}", low, high))
        .when(text.str.contains(AGE_AND_OVER))
        .then(pl.format("{}+", low))
    )
    return rows.with_columns(kind=kind, age_range=age_range, year=pl.col("year").cast(pl.Int32)).with_columns(
        age_range=pl.when(pl.col("kind") == "age").then("age_range").forward_fill(),
        population=pl.when(pl.col("kind") == "age")
        .then(pl.lit(""))  # a new age section has no population until its first population heading
        .when(pl.col("kind") == "population")
        .then("label")
        .forward_fill(),
    )


def needs_texts(rows: pl.DataFrame) -> bool:
    """Whether a number cell of a year row is empty or not a number, so its text must be read."""
    return bool(rows.select(((pl.col("kind") == "year") & pl.any_horizontal(pl.col(NUMBERS).is_null())).any()).item())


def with_texts(rows: pl.DataFrame, texts: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with the text of each cell that holds no number (null elsewhere, where nothing reads it)."""
    return rows.hstack(texts).with_columns(
        pl.when(pl.col(number).is_null()).then(pl.col(text)).alias(text)
        for number, text in zip(NUMBERS, TEXTS, strict=True)
    )


def constant_dollar_year(rows: pl.DataFrame) -> int | None:
    """The year of the constant dollars, from the universe line or the column headers ('2019 dollars')."""
    texts = [pl.col("label")] + ([pl.col(TEXTS[2])] if TEXTS[2] in rows.columns else [])
    found = rows.select(pl.coalesce(text.str.extract(DOLLAR_YEAR, 1) for text in texts).drop_nulls().first())
    year = found.item()
    return int(year) if year is not None else None


def problem() -> pl.Expr:
    """What is wrong with a row, for a human; null when nothing is."""
    kind, label = pl.col("kind"), pl.col("label")
    checks = (
        pl.when((kind == "age") & ~pl.col("age_range").is_in([bracket.value for bracket in AgeBracket]))
        .then(pl.format("the age heading '{}' is not one of the seven P-8 age sections (" + AGE_SECTIONS + ")", label))
        .when((kind == "stray") & label.is_null())
        .then(pl.lit("has numbers but no year in column A"))
        .when(kind == "stray")
        .then(pl.format("has numbers but column A holds '{}', not a year such as 2019 or '2017 (40)'", label))
        .when((kind == "year") & pl.col("age_range").is_null())
        .then(pl.lit("a year row comes before any age heading such as '15 to 24 Years'"))
        .when((kind == "year") & (pl.col("population") == ""))
        .then(pl.lit("a year row comes before any population heading (such as 'Asian Alone') in its age section"))
        .when((kind == "year") & ~pl.col("year").is_between(MIN_YEAR, MAX_YEAR))
        .then(pl.format("the year {} is outside {} to {}", "year", pl.lit(MIN_YEAR), pl.lit(MAX_YEAR)))
    )
    for index, name in enumerate(NUMBER_NAMES):
        bad_text, bad_number = cell_problems(pl.col(NUMBERS[index]), pl.col(TEXTS[index]).str.strip_chars())
        checks = (
            checks.when((kind == "year") & bad_text)
            .then(pl.format(name + " is '{}', expected a whole number or a Census symbol such as (B)", TEXTS[index]))
            .when((kind == "year") & bad_number)
            .then(pl.format(name + " is {}, expected a whole number from 0 to " + str(LARGEST_NUMBER), shown(index)))
        )
    return checks.otherwise(pl.lit(None, pl.String))


def cell_problems(number: pl.Expr, text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Whether a cell is text that is neither a number nor a symbol, and whether its number is out of bounds."""
    bad_text = number.is_null() & text.is_not_null() & (text != "") & ~text.is_in(SYMBOLS)
    bad_text = bad_text & ~text.str.contains(NUMBER_TEXT)
    value = cell_value(number, text)
    bad_number = value.is_not_null() & ((value < 0) | (value != value.floor()) | (value > LARGEST_NUMBER))
    return bad_text, bad_number


def cell_value(number: pl.Expr, text: pl.Expr) -> pl.Expr:
    """The cell's number: as Excel stored it, else written as text ('11,132', '11132.0'); null for a symbol."""
    from_text = pl.when(text.str.contains(NUMBER_TEXT)).then(text.str.replace_all(r",|\.0*$", "").cast(pl.Float64))
    return pl.coalesce(number, from_text)


def shown(index: int) -> pl.Expr:
    """A number cell as a person would write it: -5 rather than -5.0."""
    value = cell_value(pl.col(NUMBERS[index]), pl.col(TEXTS[index]).str.strip_chars())
    whole = value.cast(pl.Int64, strict=False).cast(pl.String)
    return pl.when(value == value.floor()).then(whole).otherwise(value.cast(pl.String)).fill_null(value.cast(pl.String))


def stored_columns(years: pl.DataFrame) -> pl.DataFrame:
    """Only what an observation stores, in its field order, the numbers as Int32.

    The frame crosses a process boundary: without the sheet's labels and the cells' texts (the numbers they
    spell are folded in here) it is a fraction of the size to send and to rebuild.
    """
    return years.select(
        "population",
        "age_range",
        "year",
        "footnote",
        *(
            cell_value(pl.col(number), pl.col(text).str.strip_chars()).cast(pl.Int32).alias(number)
            for number, text in zip(NUMBERS, TEXTS, strict=True)
        ),
    )


def observation_columns(years: pl.DataFrame) -> tuple[list[Any], ...]:
    """The year rows' fields as Python lists, sharing one object for each repeated string and year."""
    return (
        runs(years.get_column("population")),
        runs(years.get_column("age_range")),
        list(map(YEAR_OBJECTS.__getitem__, (years.get_column("year") - MIN_YEAR).to_list())),
        runs(years.get_column("footnote")),
        *(years.get_column(number).to_list() for number in NUMBERS),
    )


def observations(columns: tuple[list[Any], ...]) -> list[Observation]:
    """The rows of ``observation_columns`` as observations, in table order."""
    with cyclic_gc_paused():
        return list(map(new_observation, zip(*columns, strict=True)))


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a million tuples of strings and ints.

    They cannot form cycles, but each allocation counts towards a collection that rescans the growing
    list: with the collector on, building them takes eight times as long.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def runs(column: pl.Series) -> list[str | None]:
    """A text column as a list that repeats one interned ``str`` per run of equal values."""
    lengths, values = column.rle().struct.unnest().get_columns()
    shared = [None if value is None else sys.intern(value) for value in values.to_list()]
    return list(chain.from_iterable(map(repeat, shared, lengths.to_list())))
