"""What an ``.xlsx`` archive really holds, found before a workbook library is let near it.

The zip directory's sizes can lie, so every member is inflated here, in bounded chunks, counting the
bytes that really come out. The worksheets are scanned on the way for the extent of their cells
(calamine sizes its buffers from the farthest cell: one cell at ``XFD1048576`` asks for 512 GiB), and
for cells that hold no number although a reader would take one from them: errors (``#DIV/0!``),
logical values (``TRUE`` reads as 1) and formulas with no cached value (read as empty).
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from libdib.domain.errors import WorkbookInvalid

MAX_COLUMNS: Final = 26
"""Columns A to Z; a P-8 sheet uses seven."""
MAX_ROWS: Final = 1_048_576
"""Excel's own limit."""
CHUNK: Final = 1024 * 1024
OVERLAP: Final = 4096
"""Bytes of the previous chunk searched again, so that a cell split across two chunks is still seen."""
MAX_ODD_CELLS: Final = 10_000
"""Odd cells remembered per worksheet; the first in a year row is reported."""
LOCAL_HEADER = struct.Struct("<4s22xHH")
LOCAL_SIGNATURE = b"PK\x03\x04"

_NS = rb"(?:\w+:)?"
FAR_COLUMN = re.compile(rb' r="([A-Z]{2,}[0-9]*)"')
"""A cell beyond column Z. Like ``LONG_ROW`` it starts with a literal (one space, as every writer puts between
attributes), which lets the regular expression engine skip ahead at memchr speed; a cell it misses (another
separator) is still bounded by the reading process's memory limit."""
LONG_ROW = re.compile(rb' r="([A-Z]?[0-9]{7,})"')
"""A cell or row numbered 1,000,000 or more: its number is then compared with Excel's last row."""
DIMENSION = re.compile(rb"<" + _NS + rb'dimension\b[^>]*?\bref="([^"]*)"')
ODD_VALUE = re.compile(
    rb"<" + _NS + rb'c\s([^>]*?\bt="[eb]"[^>]*)>(?:<' + _NS + rb"f\b[^>]*?(?:/>|>[^<]*</" + _NS + rb"f>))?"
    rb"(?:<" + _NS + rb"v>([^<]*)</" + _NS + rb"v>)?"
)
FORMULA_WITHOUT_VALUE = re.compile(
    rb"<" + _NS + rb"c\s([^>]*)>\s*<" + _NS + rb"f\b[^>]*?(?:/>|>[^<]*</" + _NS + rb"f>)\s*"
    rb"(?:<" + _NS + rb"v\s*/>|<" + _NS + rb"v>\s*</" + _NS + rb"v>)?\s*</" + _NS + rb"c>"
)
CELL_REF = re.compile(rb'\br="([A-Z]{1,3})([0-9]{1,7})"')
CELL_TYPE = re.compile(rb'\bt="([a-z]+)"')
REF = re.compile(r"([A-Za-z]*)([0-9]*)")
RARE: Final = b"bf"
"""Letters that the tags and attributes of ordinary cells never hold (``<c r=... t="s"><v>``, ``inlineStr``), so
rare in a sheet: a formula's ``<f>`` and a logical cell's ``t="b"`` are looked for by them."""


OddCells = dict[int, tuple[str, str]]
"""A worksheet's odd cells by Excel row: the cell's reference and what it holds (the first in the row)."""


def scan_archive(name: str, content: bytes, max_unpacked_bytes: int, number_columns: str) -> OddCells:
    """Check the archive and return the odd cells of its first worksheet in ``number_columns`` (letters).

    Raises ``WorkbookInvalid`` for what is not an ``.xlsx`` archive, unpacks to more than
    ``max_unpacked_bytes`` (declared or real), or has a cell beyond column Z or row 1,048,576.
    """
    if not content:
        raise WorkbookInvalid(name, "is empty")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as error:
        raise WorkbookInvalid(name, "is not an .xlsx workbook (it is not a zip archive)") from error
    if not any(member.filename == "xl/workbook.xml" for member in members):
        raise WorkbookInvalid(name, "is a zip archive but not an .xlsx workbook (it has no xl/workbook.xml)")
    declared = sum(member.file_size for member in members)
    if declared > max_unpacked_bytes:
        raise WorkbookInvalid(
            name, f"would unpack to {declared:,} bytes, more than the limit of {max_unpacked_bytes:,} (a zip bomb?)"
        )
    budget = _Budget(name, max_unpacked_bytes, declared)
    sheets: dict[str, OddCells] = {}
    small: dict[str, bytes] = {}
    for member in members:
        chunks = _inflated(name, content, member, budget)
        if member.filename.startswith("xl/worksheets/") and member.filename.endswith(".xml"):
            sheets[member.filename] = _scan_sheet(name, member.filename, chunks, number_columns)
        elif member.filename in {"xl/workbook.xml", "xl/_rels/workbook.xml.rels"}:
            small[member.filename] = b"".join(chunks)
        else:
            for _ in chunks:
                pass
    first = _first_sheet(small)
    return sheets[first] if first in sheets else next(iter(sheets.values()), {})


@dataclass
class _Budget:
    name: str
    limit: int
    declared: int
    used: int = 0

    def spend(self, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise WorkbookInvalid(
                self.name,
                f"unpacks to more than the limit of {self.limit:,} bytes, although its zip directory declares"
                f" {self.declared:,} (a zip bomb?)",
            )


def _inflated(name: str, content: bytes, member: zipfile.ZipInfo, budget: _Budget) -> Iterator[bytes]:
    """The member's bytes as they really inflate, in chunks, each counted against the budget."""
    signature, name_length, extra_length = LOCAL_HEADER.unpack_from(content, member.header_offset)
    if signature != LOCAL_SIGNATURE:
        raise WorkbookInvalid(name, f"is a damaged zip archive (no local header for {member.filename!r})")
    start = member.header_offset + LOCAL_HEADER.size + name_length + extra_length
    view = memoryview(content)[start:]
    if member.compress_type == zipfile.ZIP_STORED:
        stored = view[: member.compress_size]
        for offset in range(0, len(stored), CHUNK):
            chunk = bytes(stored[offset : offset + CHUNK])
            budget.spend(len(chunk))
            yield chunk
        return
    if member.compress_type != zipfile.ZIP_DEFLATED:
        raise WorkbookInvalid(
            name, f"compresses {member.filename!r} with zip method {member.compress_type}, not deflate"
        )
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    position = 0
    try:
        while not inflater.eof:
            if inflater.unconsumed_tail:
                chunk = inflater.decompress(inflater.unconsumed_tail, CHUNK)
            elif position < len(view):
                chunk = inflater.decompress(view[position : position + CHUNK], CHUNK)
                position += CHUNK
            else:
                break
            budget.spend(len(chunk))
            yield chunk
    except zlib.error as error:
        raise WorkbookInvalid(name, f"is a damaged zip archive ({member.filename!r}: {error})") from None


def _scan_sheet(name: str, member: str, chunks: Iterator[bytes], number_columns: str) -> OddCells:
    """The sheet's odd cells in ``number_columns``; ``WorkbookInvalid`` for a cell or extent beyond the limits."""
    odd_cells: OddCells = {}
    tail = b""
    for chunk in chunks:
        window = tail + chunk
        if far := FAR_COLUMN.search(window):
            _refuse_extent(name, member, far.group(1).decode())
        for long_row in LONG_ROW.finditer(window):
            _check_ref(name, member, long_row.group(1).decode())
        if not tail and (dimension := DIMENSION.search(window)):
            for corner in dimension.group(1).decode("ascii", "replace").split(":"):
                _check_ref(name, member, corner)
        if len(odd_cells) < MAX_ODD_CELLS:
            _note_odd_cells(odd_cells, window, number_columns)
        tail = window[-OVERLAP:]
    return odd_cells


def _check_ref(name: str, member: str, ref: str) -> None:
    found = REF.fullmatch(ref)
    if found is None:
        return
    letters, digits = found.groups()
    column = 0
    for letter in letters.upper():
        column = column * 26 + ord(letter) - ord("A") + 1
    if column > MAX_COLUMNS or (digits and int(digits) > MAX_ROWS):
        _refuse_extent(name, member, ref)


def _refuse_extent(name: str, member: str, ref: str) -> None:
    raise WorkbookInvalid(
        name,
        f"has a cell at {ref} in {member}, beyond column Z or row {MAX_ROWS:,}; a P-8 sheet uses columns A to G",
    )


def _cell_starts(window: bytes, *markers: bytes) -> Iterator[int]:
    """Where the start tag of each cell holding one of ``markers`` begins (found with ``bytes.find``, fast)."""
    for marker in markers:
        for position in _occurrences(window, marker):
            start = window.rfind(b"<", 0, position)
            if start != -1 and window.startswith(b"<f", start):
                start = window.rfind(b"<", 0, start)
            if start != -1:
                yield start


def _occurrences(window: bytes, marker: bytes) -> Iterator[int]:
    """Where ``marker`` occurs in ``window``, in order.

    A marker holding a letter that sheet XML rarely has (``RARE``) is found by that letter: ``bytes.find`` of
    one byte is a ``memchr``, many times faster than a search for several bytes that begin with ``<`` or ``t``,
    which a sheet is full of. Else by the whole marker.
    """
    anchor = next((index for index, byte in enumerate(marker) if byte in RARE), None)
    if anchor is None:
        position = window.find(marker)
        while position != -1:
            yield position
            position = window.find(marker, position + 1)
        return
    letter = marker[anchor : anchor + 1]
    position = window.find(letter, anchor)
    while position != -1:
        if window.startswith(marker, position - anchor):
            yield position - anchor
        position = window.find(letter, position + 1)


def _note_odd_cells(odd_cells: OddCells, window: bytes, number_columns: str) -> None:
    """Note the errors, logical values and formulas without a value in ``window``."""
    for start in _cell_starts(window, b't="e"', b't="b"'):
        if not (match := ODD_VALUE.match(window, start)):
            continue
        kind = CELL_TYPE.search(match.group(1))
        value = (match.group(2) or b"").decode("utf-8", "replace")
        if kind and kind.group(1) == b"b":
            what = "the logical value " + ("TRUE" if value.strip() == "1" else "FALSE")
        else:
            what = f"the error {value or 'value'}"
        _note(odd_cells, match.group(1), what, number_columns)
    for start in _cell_starts(window, b"<f", b":f"):
        if not (match := FORMULA_WITHOUT_VALUE.match(window, start)):
            continue
        _note(odd_cells, match.group(1), "a formula with no computed value", number_columns)


def _note(odd_cells: OddCells, attributes: bytes, what: str, number_columns: str) -> None:
    ref = CELL_REF.search(attributes)
    if ref is None:
        return
    column, row = ref.group(1).decode(), int(ref.group(2))
    if column in number_columns and row not in odd_cells:
        odd_cells[row] = (column + str(row), what)


def _first_sheet(parts: dict[str, bytes]) -> str:
    """The part name of the workbook's first sheet, the one a reader opens as sheet 0."""
    sheet = re.search(rb"<" + _NS + rb"sheet\b[^>]*?\b(?:\w+:)?id=\"([^\"]+)\"", parts.get("xl/workbook.xml", b""))
    if sheet is None:
        return "xl/worksheets/sheet1.xml"
    for relationship in re.finditer(
        rb"<" + _NS + rb"Relationship\b[^>]*>", parts.get("xl/_rels/workbook.xml.rels", b"")
    ):
        identity = re.search(rb'\bId="([^"]+)"', relationship.group(0))
        target = re.search(rb'\bTarget="([^"]+)"', relationship.group(0))
        if identity and target and identity.group(1) == sheet.group(1):
            path = target.group(1).decode("utf-8", "replace")
            return path.lstrip("/") if path.startswith("/") else "xl/" + path
    return "xl/worksheets/sheet1.xml"
