"""Workbooks as untrusted input (issue 14, items 2, 3, 13, 14): odd footnotes and cells, bombs, far-out cells."""

from __future__ import annotations

import re

import pytest

from libdib.adapters.workbook import PolarsWorkbookReader
from libdib.domain.datasets import check_table
from libdib.domain.errors import WorkbookInvalid
from libdib.domain.ports import Workbook
from tests.integration.test_workbook_reader import SIX, read, refusal, table
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
