"""Query strings are parsed once per distinct string, and long ones as well as short ones."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from libdib.entrypoints.http.query_check import LONGEST_REMEMBERED, canonical_query, query_pairs

SHORT = b"races=white&sex=female&races=asian&age_range=&limit=10"
LONG = SHORT + b"&note=" + b"x" * LONGEST_REMEMBERED


@pytest.mark.parametrize("query", [SHORT, LONG], ids=["remembered", "too long to remember"])
def test_query_pairs_are_the_standard_parse_with_blank_values(query: bytes) -> None:
    expected = tuple(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    assert query_pairs(query) == expected
    assert query_pairs(query) == expected, "asked again, the same answer"


@pytest.mark.parametrize("query", [SHORT, LONG], ids=["remembered", "too long to remember"])
def test_the_canonical_query_sorts_by_name_and_keeps_repeated_names_in_order(query: bytes) -> None:
    names = [name for name, _ in canonical_query(query)]
    assert names == sorted(names)
    assert [value for name, value in canonical_query(query) if name == "races"] == ["white", "asian"]


def test_the_same_question_in_another_order_has_one_canonical_query() -> None:
    assert canonical_query(b"sex=female&races=white") == canonical_query(b"races=white&sex=female")
    assert canonical_query(b"races=white&races=asian") != canonical_query(b"races=asian&races=white")
