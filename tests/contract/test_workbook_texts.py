"""A workbook's texts are refused alike by every store, before anything is written: the same 4xx naming the row."""

from __future__ import annotations

import re

import pytest

from libdib.bootstrap import Services
from libdib.domain.errors import WorkbookInvalid
from libdib.domain.ports import RecordFilter, Workbook
from tests.support.p8 import AgeSection, P8Table, Population, p8_workbook

pytestmark = pytest.mark.anyio

ROWS = [("2019", [100, 40000, 40000, 90, 35000, 35000]), ("2018", [100, 39000, 40000, 90, 34000, 35000])]
HEADING_ROW = 5
"""Where ``workbook`` writes the population heading: below the accessibility note, the title, the universe line
and the age heading."""
TITLE_ROW = 2


def workbook(heading: str = "Asian Alone", race: str = "Asian") -> bytes:
    """A P-8 workbook of one age section (25-34) and one population sub-section of two years."""
    return p8_workbook(P8Table(race, 2019, (2018, 2019), [AgeSection("25-34", [Population(heading, ROWS)])]))


HOSTILE_HEADINGS = {
    "B" * 201: "is 201 characters long, more than 200",
    "Asian\x00Alone": "holds a control character",
    "Asian\x1bAlone": "holds a control character",
}
"""Too long for the records' column on PostgreSQL; NUL, which PostgreSQL text cannot hold; a control character,
which it can, but which a record may not hold either."""


async def stored(store: Services) -> tuple[list[tuple[str, str, int]], list[tuple[str, int]]]:
    datasets = [(d.race, d.sha256, d.rows) for d in await store.datasets.list_datasets()]
    page = await store.datasets.records(RecordFilter(), 1000, 0)
    return datasets, [(r.observation.population, r.observation.year) for r in page.items]


@pytest.mark.parametrize(("heading", "problem"), HOSTILE_HEADINGS.items(), ids=["201-characters", "nul", "escape"])
async def test_a_population_heading_no_record_could_hold_is_refused_naming_the_workbook_and_row(
    store: Services, heading: str, problem: str
) -> None:
    with pytest.raises(WorkbookInvalid) as refused:
        await store.datasets.upload(Workbook("p08a.xlsx", workbook(heading)))

    assert refused.value.row == HEADING_ROW
    assert str(refused.value).startswith(f"p08a.xlsx, row {HEADING_ROW}: the population heading ")
    assert problem in str(refused.value)
    assert await stored(store) == ([], [])


async def test_a_hostile_heading_replacing_a_loaded_table_changes_nothing(store: Services) -> None:
    await store.datasets.upload(Workbook("p08a.xlsx", workbook()))
    before = await stored(store)

    for heading, problem in HOSTILE_HEADINGS.items():
        with pytest.raises(WorkbookInvalid, match=re.escape(f"p08a.xlsx, row {HEADING_ROW}: ")) as refused:
            await store.datasets.upload(Workbook("p08a.xlsx", workbook(heading)))

        assert problem in str(refused.value)
        assert await stored(store) == before


async def test_a_heading_of_200_characters_is_stored_as_written(store: Services) -> None:
    await store.datasets.upload(Workbook("p08a.xlsx", workbook("B" * 200)))

    assert (await stored(store))[1] == [("B" * 200, 2019), ("B" * 200, 2018)]


async def test_a_title_with_a_control_character_is_refused_naming_its_row(store: Services) -> None:
    for race in ("Asian\x00", "Asian\x01"):  # the race key is still 'asian': only the title is at fault
        with pytest.raises(WorkbookInvalid, match=re.escape(f"p08a.xlsx, row {TITLE_ROW}: the title ")) as refused:
            await store.datasets.upload(Workbook("p08a.xlsx", workbook(race=race)))

        assert "holds a control character" in str(refused.value)
        assert await stored(store) == ([], [])
