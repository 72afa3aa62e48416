from __future__ import annotations

from libdib.domain.capped import CappedDict


def test_a_new_key_past_the_capacity_forgets_the_oldest() -> None:
    capped: CappedDict[str, int] = CappedDict(2)
    capped.put("a", 1)
    capped.put("b", 2)
    capped.put("c", 3)

    assert dict(capped) == {"b": 2, "c": 3}


def test_replacing_a_key_at_capacity_forgets_nothing() -> None:
    capped: CappedDict[str, int] = CappedDict(2)
    capped.put("a", 1)
    capped.put("b", 2)
    capped.put("a", 10)

    assert dict(capped) == {"a": 10, "b": 2}
