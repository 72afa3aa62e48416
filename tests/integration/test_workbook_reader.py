"""PolarsWorkbookReader over the real P-8 workbooks, and its refusal of anything that is not one."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import fastexcel
import pytest
import xlsxwriter

from libdib.adapters.workbook import PolarsWorkbookReader
from libdib.domain.census import AgeBracket, Observation
from libdib.domain.errors import WorkbookInvalid
from libdib.domain.ports import Workbook
from libdib.samples import sample_dir
from tests.support.p8 import (
    AgeSection,
    Cell,
    P8Table,
    Population,
    expected_observations,
    large_table,
    large_workbook,
    p8_workbook,
)

CENSUS = sample_dir()
REAL = {
    "p08a.xlsx": ("asian", "Table P-8. Age--Asian People, by Median Income and Sex: 2002 to 2019"),
    "p08w.xlsx": ("white", "Table P-8. Age--White People, by Median Income and Sex: 1967 to 2019"),
}
SIX = (1000, 20000, 21000, 900, 15000, 16000)
HEADINGS = (
    "15 to 24 Years",
    "25 to 34 Years",
    "35 to 44 Years",
    "45 to 54 Years",
    "55 to 64 Years",
    "65 to 74 Years",
    "75 Years and Over",
)
TITLE = "Table P-8. Age--Asian People, by Median Income and Sex: 2019 to 2019"
UNIVERSE = "(Income in current and 2019 CPI-U-RS adjusted dollars (28))"


def real(name: str) -> Workbook:
    return Workbook(name, (CENSUS / name).read_bytes())


def read(content: bytes, name: str = "p08x.xlsx", **reader_options: int) -> list[Observation]:
    return PolarsWorkbookReader(**reader_options).read(Workbook(name, content)).observations


def refusal(content: bytes, name: str = "p08x.xlsx", **reader_options: int) -> WorkbookInvalid:
    with pytest.raises(WorkbookInvalid) as caught:
        read(content, name, **reader_options)
    return caught.value


def table(*rows: tuple[str, tuple[Cell, ...]], heading: str | None = None) -> P8Table:
    """A small Asian table: one age section (25 to 34) with one population, the given rows."""
    population = Population("Asian Alone", list(rows))
    return P8Table("Asian", 2019, (2018, 2019), [AgeSection("25-34", [population], heading)])


def plain_read(path: Path) -> list[Observation]:
    """The observations of a real workbook by a separate, simple walk over its cells as text."""
    ages = dict(zip(HEADINGS, (bracket.value for bracket in AgeBracket), strict=True))
    sheet = fastexcel.read_excel(path.read_bytes()).load_sheet(0, header_row=None, dtypes="string").to_polars()
    age = population = None
    found = []
    for label, *cells in sheet.iter_rows():
        text = (label or "").strip(". ")
        if text in ages:
            age = ages[text]
        elif match := re.fullmatch(r"(\d{4})(?: \((\d+)\))?", text):
            assert population is not None
            assert age is not None
            found.append(Observation(population, age, int(match[1]), match[2], *(int(cell) for cell in cells)))
        elif age and text and not any(cells) and text != "Age and year" and not text.startswith(("Source", "Foot")):
            population = text
    return found


def workbook_of(*lines: Sequence[object]) -> bytes:
    """A one-sheet workbook with these rows from A1 on."""
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer) as workbook:
        sheet = workbook.add_worksheet()
        for row, line in enumerate(lines):
            sheet.write_row(row, 0, line)
    return buffer.getvalue()


@pytest.mark.parametrize("name", REAL)
def test_each_real_workbook_gives_140_observations_of_its_race_and_title(name: str) -> None:
    census_table = PolarsWorkbookReader().read(real(name))

    assert (census_table.race, census_table.title) == REAL[name]
    assert census_table.constant_dollar_year == 2019
    assert len(census_table.observations) == 140
    assert census_table.years == (2002, 2019)


@pytest.mark.parametrize("name", REAL)
def test_every_value_of_a_real_workbook_equals_its_cell(name: str) -> None:
    assert PolarsWorkbookReader().read(real(name)).observations == plain_read(CENSUS / name)


def test_the_asian_table_holds_the_published_numbers_in_table_order() -> None:
    observations = PolarsWorkbookReader().read(real("p08a.xlsx")).observations
    young_adults = [o for o in observations if o.age_range == "25-34"]

    assert young_adults[0] == Observation(
        "Asian Alone or in Combination", "25-34", 2019, None, 1747, 52128, 52128, 1603, 45525, 45525
    )
    assert [o for o in young_adults if o.footnote == "37"] == [
        Observation("Asian Alone or in Combination", "25-34", 2010, "37", 1245, 36125, 42450, 1169, 31309, 36791)
    ]
    assert [(o.year, o.footnote) for o in young_adults[2:4]] == [(2017, "40"), (2017, None)]
    assert [(o.year, o.footnote) for o in young_adults[7:9]] == [(2013, "39"), (2013, "38")]


def test_footnotes_are_kept_in_every_age_section() -> None:
    observations = PolarsWorkbookReader().read(real("p08w.xlsx")).observations

    for bracket in AgeBracket:
        footnotes = [o.footnote for o in observations if o.age_range == bracket.value and o.footnote]
        assert footnotes == ["40", "39", "38", "37", "36", "35"], bracket


def test_repeated_population_and_age_strings_are_one_object_each() -> None:
    observations = PolarsWorkbookReader().read(real("p08a.xlsx")).observations

    assert len({id(o.population) for o in observations}) == 1
    assert len({id(o.age_range) for o in observations}) == 7


def test_numbers_written_as_text_with_separators_or_a_decimal_zero_are_whole_numbers() -> None:
    observations = read(p8_workbook(table(("2019", ("11,132", "11132.0", 2_147_483_647, "(B)", "-", None)))))

    assert observations[0][4:] == (11132, 11132, 2_147_483_647, None, None, None)


def test_a_table_with_the_headers_once_above_all_sections_reads_the_same() -> None:
    rows = [("2019", SIX), ("2018", SIX)]
    sections = [AgeSection("75+", [Population("Asian Alone", rows)])]
    once = P8Table("Asian", 2019, (2018, 2019), sections, headers_per_population=False)
    per_population = P8Table("Asian", 2019, (2018, 2019), sections, headers_per_population=True)

    assert read(p8_workbook(once)) == read(p8_workbook(per_population))
    assert len(read(p8_workbook(once))) == 2


@pytest.mark.parametrize("symbols", [False, True], ids=["numbers", "with-symbols"])
def test_a_large_synthetic_workbook_reads_back_every_row(symbols: bool) -> None:
    census_table = PolarsWorkbookReader().read(Workbook("large.xlsx", large_workbook(20_003, symbols=symbols)))

    assert census_table.observations == expected_observations(large_table(20_003, symbols=symbols))
    assert len(census_table.observations) == 20_003


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(b"\x8f\x02 not a workbook at all \xff" * 40, "is not an .xlsx workbook", id="random-bytes"),
        pytest.param(b"", "is empty", id="empty-file"),
        pytest.param(b"year,male\n2019,866\n", "is not an .xlsx workbook", id="csv-renamed"),
    ],
)
def test_what_is_not_a_zip_archive_is_refused_by_name(content: bytes, reason: str) -> None:
    refused = refusal(content, name="upload.xlsx")

    assert str(refused).startswith(f"upload.xlsx: {reason}")
    assert refused.row is None


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_archive_without_a_workbook_part_is_refused() -> None:
    refused = refusal(zip_of({"word/document.xml": b"<w/>"}))

    assert str(refused) == "p08x.xlsx: is a zip archive but not an .xlsx workbook (it has no xl/workbook.xml)"


def test_a_zip_bomb_over_the_unpacked_limit_is_refused_before_it_is_unpacked() -> None:
    bomb = zip_of({"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": b"0" * 5_000_000})
    assert len(bomb) < 50_000

    refused = refusal(bomb, max_unpacked_bytes=1_000_000)

    assert "would unpack to 5,000,011 bytes, more than the limit of 1,000,000" in str(refused)


def test_a_zip_archive_with_a_broken_workbook_part_is_refused_as_unreadable() -> None:
    refused = refusal(zip_of({"xl/workbook.xml": b"<workbook/>"}))

    assert str(refused).startswith("p08x.xlsx: cannot be read as an Excel workbook (")


def test_a_workbook_of_another_table_is_refused_for_lack_of_a_p8_title() -> None:
    content = workbook_of(["Table H-8. Median Household Income by State"], ["2019", *SIX])

    assert "p08x.xlsx: is not Census table P-8: column A has no title" in str(refusal(content))


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        pytest.param("abc", "is 'abc', expected a whole number or a Census symbol such as (B)", id="text"),
        pytest.param("12 345", "is '12 345', expected a whole number or a Census symbol such as (B)", id="spaces"),
        pytest.param(-5, "is -5, expected a whole number from 0 to 2147483647", id="negative"),
        pytest.param("-5", "is -5, expected a whole number from 0 to 2147483647", id="negative-text"),
        pytest.param(11132.5, "is 11132.5, expected a whole number from 0 to 2147483647", id="fraction"),
        pytest.param(2**31, "is 2147483648, expected a whole number from 0 to 2147483647", id="over-32-bits"),
        pytest.param("99,999,999,999", "is 99999999999, expected a whole number from 0 to 2147483647", id="huge-text"),
    ],
)
def test_a_broken_number_cell_is_refused_naming_the_row_and_the_column(cell: Cell, shown: str) -> None:
    content = p8_workbook(table(("2019", SIX), ("2018", (1000, cell, 21000, 900, 15000, 16000))))

    refused = refusal(content, name="p08a.xlsx")

    # Rows 1 to 8 are the note, title, universe, age and population headings and three header rows.
    assert str(refused) == f"p08a.xlsx, row 10: male median income (current dollars) {shown}"
    assert refused.row == 10


def test_the_row_number_counts_empty_rows_above_the_table() -> None:
    shifted = P8Table(
        "Asian",
        2019,
        (2019, 2019),
        [AgeSection("25-34", [Population("Asian Alone", [("2019", ("x", *SIX[1:]))])])],
        blank_rows_above=3,
    )

    assert refusal(p8_workbook(shifted)).row == 12


def test_an_age_heading_that_is_not_one_of_the_seven_is_refused() -> None:
    refused = refusal(p8_workbook(table(("2019", SIX), heading="14 to 24 Years")))

    assert refused.row == 4
    assert "the age heading '14 to 24 Years' is not one of the seven P-8 age sections" in str(refused)


@pytest.mark.parametrize(
    ("label", "reason"),
    [
        pytest.param("1939", "the year 1939 is outside 1940 to 2100", id="too-early"),
        pytest.param("2101", "the year 2101 is outside 1940 to 2100", id="too-late"),
        pytest.param(
            "20l9", "has numbers but column A holds '20l9', not a year such as 2019 or '2017 (40)'", id="typo"
        ),
    ],
)
def test_a_year_label_that_is_no_plausible_year_is_refused(label: str, reason: str) -> None:
    refused = refusal(p8_workbook(table(("2019", SIX), (label, SIX))))

    assert (refused.row, refused.reason) == (10, reason)


def test_year_rows_before_any_age_heading_are_refused() -> None:
    refused = refusal(workbook_of([TITLE], [UNIVERSE], ["Asian Alone"], ["2019", *SIX]))

    assert (refused.row, refused.reason) == (4, "a year row comes before any age heading such as '15 to 24 Years'")


def test_year_rows_before_any_population_heading_of_their_age_section_are_refused() -> None:
    lines = [TITLE], [UNIVERSE], ["15 to 24 Years"], ["Asian Alone"], ["2019", *SIX], ["25 to 34 Years"], ["2019", *SIX]

    refused = refusal(workbook_of(*lines))

    assert refused.row == 7
    assert refused.reason.startswith("a year row comes before any population heading")


def test_a_sheet_narrower_than_seven_columns_is_refused() -> None:
    refused = refusal(workbook_of([TITLE], [UNIVERSE], ["15 to 24 Years"], ["Asian Alone"], ["2019", 1, 2, 3]))

    assert refused.reason.startswith("has 4 columns, but a P-8 sheet has 7")


def test_numbers_beside_a_row_without_a_year_are_refused() -> None:
    refused = refusal(workbook_of([TITLE], [UNIVERSE], ["15 to 24 Years"], ["Asian Alone"], ["", *SIX]))

    assert (refused.row, refused.reason) == (5, "has numbers but no year in column A")


def test_a_p8_title_without_any_year_rows_is_refused() -> None:
    content = p8_workbook(P8Table("Asian", 2019, (2019, 2019), [AgeSection("15-24", [Population("Asian", [])])]))

    assert refusal(content).reason == "has no year rows (such as '2019' in column A followed by six numbers)"


@pytest.mark.parametrize(
    ("race", "key"),
    [
        ("Asian", "asian"),
        ("White", "white"),
        ("White Alone, Not Hispanic", "white-not-hispanic"),
        ("White, Not Hispanic", "white-not-hispanic"),
        ("Black Alone or in Combination", "black"),
        ("Hispanic (Any Race)", "hispanic"),
        ("Hispanic Origin", "hispanic"),
        ("All Races", "all"),
        ("Asian and Pacific Islander", "asian-and-pacific-islander"),
    ],
)
def test_the_race_comes_from_the_title(race: str, key: str) -> None:
    rows = [("2019", SIX)]
    content = p8_workbook(P8Table(race, 2019, (2019, 2019), [AgeSection("15-24", [Population(race, rows)])]))

    assert PolarsWorkbookReader().read(Workbook("p08.xlsx", content)).race == key


def test_the_constant_dollar_year_comes_from_the_headers_when_the_universe_line_lacks_it() -> None:
    headers = ["Age and year", "Male"], ["", "Median income"], ["", "", "Current\ndollars", "2018\ndollars"]
    content = workbook_of(
        [TITLE], ["(People 15 years old and over)"], ["15 to 24 Years"], ["Asian"], *headers, ["2019", *SIX]
    )

    assert PolarsWorkbookReader().read(Workbook("p08.xlsx", content)).constant_dollar_year == 2018


def test_a_table_that_names_no_constant_dollar_year_is_refused() -> None:
    content = workbook_of([TITLE], ["(People 15 years old and over)"], ["15 to 24 Years"], ["Asian"], ["2019", *SIX])

    assert refusal(content).reason == "names no constant-dollar year (such as '2019 dollars') in its headers"
