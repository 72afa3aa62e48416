"""Workbooks as untrusted input (issue 14, items 2, 3, 13, 14): odd footnotes and cells, bombs, far-out cells."""

from __future__ import annotations

import io
import multiprocessing
import re
import zipfile
from collections.abc import Callable

import pytest

from libdib.adapters.isolated import MIB, IsolatedWorkbookReader
from libdib.adapters.workbook import PolarsWorkbookReader
from libdib.domain.datasets import check_table
from libdib.domain.errors import WorkbookInvalid
from libdib.domain.ports import Workbook
from tests.integration.test_workbook_reader import CENSUS, SIX, read, refusal, table
from tests.support.p8 import p8_workbook


def test_a_footnote_with_leading_zeros_reads_as_the_same_footnote() -> None:
    observations = read(p8_workbook(table(("2019", SIX), ("2017 (040)", SIX))))

    assert [(o.year, o.footnote) for o in observations] == [(2019, None), (2017, "40")]


def test_one_year_listed_with_footnote_40_and_040_is_a_year_listed_twice() -> None:
    content = p8_workbook(table(("2019", SIX), ("2017 (40)", SIX), ("2017 (040)", SIX)))

    with pytest.raises(WorkbookInvalid, match=re.escape("lists 2017 (40) twice")):
        check_table("p08a.xlsx", PolarsWorkbookReader().read(Workbook("p08a.xlsx", content)))


@pytest.mark.parametrize("label", ["2017 (\u0664\u0660)", "2017 (\uff14\uff10)", "\u0662\u0660\u0661\u0667"])
def test_a_year_or_footnote_in_other_than_ascii_digits_is_refused(label: str) -> None:
    refused = refusal(p8_workbook(table(("2019", SIX), (label, SIX))))

    assert f"has numbers but column A holds '{label}', not a year" in str(refused)


ASIAN = (CENSUS / "p08a.xlsx").read_bytes()
SHEET = "xl/worksheets/sheet1.xml"


def rewritten(content: bytes, member: str, change: Callable[[bytes], bytes]) -> bytes:
    """``content`` with one member's bytes changed (deflated, as Excel writes them)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info.filename, change(data) if info.filename == member else data)
    return buffer.getvalue()


def with_cell(ref: str, dimension: str | None = None) -> bytes:
    """The real Asian workbook with one more cell at ``ref`` (in a row of its own) and its dimension changed."""
    row = re.fullmatch(r"[A-Z]+([0-9]+)", ref)
    assert row is not None

    def change(sheet: bytes) -> bytes:
        cell = f'<row r="{row.group(1)}"><c r="{ref}"><v>1</v></c></row></sheetData>'.encode()
        sheet = sheet.replace(b"</sheetData>", cell)
        if dimension:
            sheet = re.sub(rb'<dimension ref="[^"]*"/>', f'<dimension ref="{dimension}"/>'.encode(), sheet)
        return sheet

    return rewritten(ASIAN, SHEET, change)


@pytest.mark.parametrize(
    ("ref", "dimension"),
    [
        ("XFD1048576", None),
        ("AZ1048576", None),
        ("A1048577", None),
        ("G200", "A1:XFD1048576"),
        ("G200", "A1:G99999999"),
    ],
)
def test_a_cell_or_dimension_far_beyond_the_table_is_refused_before_the_sheet_is_read(
    ref: str, dimension: str | None
) -> None:
    refused = refusal(with_cell(ref, dimension), name="p08a.xlsx")

    assert "beyond column Z or row 1,048,576" in str(refused)


def test_a_cell_just_inside_the_limits_is_read_as_before() -> None:
    assert len(read(with_cell("Z1000"), name="p08a.xlsx")) == 140


def deflate_bomb(unpacked: int) -> bytes:
    """The real workbook whose sheet holds ``unpacked`` more bytes of spaces, while its zip directory
    declares the sheet's original size: the central directory's sizes are patched after writing."""
    original = zipfile.ZipFile(io.BytesIO(ASIAN)).getinfo(SHEET).file_size
    padded = rewritten(ASIAN, SHEET, lambda sheet: sheet.replace(b"</worksheet>", b" " * unpacked + b"</worksheet>"))
    archive = bytearray(padded)
    info = zipfile.ZipFile(io.BytesIO(padded)).getinfo(SHEET)
    entry = bytes(archive).find(b"PK\x01\x02", 0)
    while entry != -1:
        name_length = int.from_bytes(archive[entry + 28 : entry + 30], "little")
        if archive[entry + 46 : entry + 46 + name_length] == SHEET.encode():
            archive[entry + 24 : entry + 28] = original.to_bytes(4, "little")  # uncompressed size
        entry = bytes(archive).find(b"PK\x01\x02", entry + 4)
    assert info.file_size > unpacked
    return bytes(archive)


def test_a_deflate_bomb_behind_a_lying_zip_directory_is_refused_by_the_bytes_it_really_unpacks() -> None:
    bomb = deflate_bomb(50_000_000)
    assert len(bomb) < 200_000
    assert sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(bomb)).infolist()) < 100_000

    refused = refusal(bomb, name="p08a.xlsx", max_unpacked_bytes=10_000_000)

    assert "unpacks to more than the limit of 10,000,000 bytes" in str(refused)


def sheet_with(cell: str) -> bytes:
    """The real workbook with cell C12 (a year row's male median income, current dollars) replaced by ``cell``."""
    return rewritten(
        ASIAN, SHEET, lambda sheet: re.sub(rb'<c r="C12"[^>]*?(?:/>|>.*?</c>)', cell.encode(), sheet, count=1)
    )


@pytest.mark.parametrize(
    ("cell", "holds"),
    [
        ('<c r="C12" t="e"><f>1/0</f><v>#DIV/0!</v></c>', "the error #DIV/0!"),
        ('<c r="C12" t="e"><v>#N/A</v></c>', "the error #N/A"),
        ('<c r="C12" t="b"><v>1</v></c>', "the logical value TRUE"),
        ('<c r="C12"><f>B12*2</f></c>', "a formula with no computed value"),
        ('<c r="C12"><f>B12*2</f><v></v></c>', "a formula with no computed value"),
    ],
)
def test_a_number_cell_that_holds_no_number_is_refused_naming_the_cell(cell: str, holds: str) -> None:
    refused = refusal(sheet_with(cell), name="p08a.xlsx")

    assert str(refused) == (
        f"p08a.xlsx, row 12: male median income (current dollars) (cell C12) holds {holds},"
        " expected a whole number or a Census symbol such as (B)"
    )


def test_a_formula_with_its_computed_value_reads_as_that_number() -> None:
    observations = read(sheet_with('<c r="C12"><f>1+1</f><v>12345</v></c>'), name="p08a.xlsx")

    assert 12345 in {o.male_median_income_current for o in observations}


def isolated(memory_mib: int = 1024, seconds: float = 60) -> IsolatedWorkbookReader:
    return IsolatedWorkbookReader(PolarsWorkbookReader(), memory_bytes=memory_mib * MIB, seconds=seconds)


def test_a_workbook_read_in_a_child_process_gives_the_same_table() -> None:
    workbook = Workbook("p08a.xlsx", ASIAN)

    assert isolated().read(workbook) == PolarsWorkbookReader().read(workbook)


def test_a_workbook_refused_in_the_child_process_is_refused_naming_the_row() -> None:
    with pytest.raises(WorkbookInvalid) as caught:
        isolated().read(Workbook("p08a.xlsx", sheet_with('<c r="C12" t="b"><v>1</v></c>')))

    assert caught.value.row == 12
    assert "(cell C12) holds the logical value TRUE" in str(caught.value)


def test_a_workbook_needing_more_memory_than_the_limit_is_refused_and_only_its_process_dies() -> None:
    # A cell at Z1048576 passes the extent check but makes calamine size a 27-million-cell sheet.
    with pytest.raises(WorkbookInvalid, match="memory limit of 300 MiB"):
        isolated(memory_mib=300).read(Workbook("p08a.xlsx", with_cell("Z1048576")))

    assert len(isolated().read(Workbook("p08a.xlsx", ASIAN)).observations) == 140


def test_a_workbook_taking_longer_than_the_limit_is_refused_and_its_process_killed() -> None:
    with pytest.raises(WorkbookInvalid, match=re.escape("takes longer than the limit of 0.001 seconds")):
        isolated(seconds=0.001).read(Workbook("p08a.xlsx", ASIAN))

    assert not [child for child in multiprocessing.active_children() if child.name == "libdib-workbook-reader"]
