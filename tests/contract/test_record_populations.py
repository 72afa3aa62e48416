"""A record's population is one of its table's sub-sections whenever it names one regardless of case, on every store."""

from __future__ import annotations

import pytest

from libdib.bootstrap import Services
from libdib.domain.datasets import RecordExists
from libdib.domain.ports import RecordFilter
from tests.contract.test_census_repositories import ASIAN, WHITE, load, obs

pytestmark = pytest.mark.anyio

COMBINATION = "Asian Alone or in Combination"
"""How the table spells the sub-section (``ASIAN`` lists it for 2019 in age section 25-34)."""


async def populations(store: Services) -> list[str]:
    """The sub-sections the dimensions list for the Asian table."""
    (asian,) = [race for race in (await store.series.dimensions()).races if race.race == "asian"]
    return [population.population for population in asian.populations]


async def matching(store: Services, population: str) -> list[tuple[str, str, int]]:
    page = await store.datasets.records(RecordFilter(races=("asian",), population=population), 1000, 0)
    return [(r.observation.population, r.observation.age_range, r.observation.year) for r in page.items]


async def test_a_record_naming_a_sub_section_in_other_case_exists_already(store: Services) -> None:
    await load(store.unit_of_work, ASIAN, WHITE)
    before = await matching(store, COMBINATION)

    with pytest.raises(RecordExists, match=f"population '{COMBINATION}'"):
        await store.datasets.add_record("asian", obs(2019, population="ASIAN ALONE or in Combination"))

    assert await matching(store, "asian alone or in combination") == before
    assert await populations(store) == [COMBINATION, "Asian Alone"]


async def test_a_new_year_in_other_case_joins_the_sub_section_under_the_tables_spelling(store: Services) -> None:
    await load(store.unit_of_work, ASIAN, WHITE)

    record = await store.datasets.add_record(
        "asian", obs(2020, age_range="75+", population="asian alone OR IN COMBINATION")
    )

    assert record.observation.population == COMBINATION
    assert (COMBINATION, "75+", 2020) in await matching(store, "ASIAN ALONE OR IN COMBINATION")
    assert await populations(store) == [COMBINATION, "Asian Alone"]
    with pytest.raises(RecordExists):
        await store.datasets.add_record("asian", obs(2020, age_range="75+", population=COMBINATION))


async def test_a_population_of_another_race_or_a_new_one_keeps_its_own_spelling(store: Services) -> None:
    await load(store.unit_of_work, ASIAN, WHITE)

    white = await store.datasets.add_record("white", obs(2030, population="ASIAN ALONE"))
    new = await store.datasets.add_record("asian", obs(2030, population="Asian Alone, Not Hispanic"))

    assert (white.observation.population, new.observation.population) == ("ASIAN ALONE", "Asian Alone, Not Hispanic")
    assert await populations(store) == [COMBINATION, "Asian Alone", "Asian Alone, Not Hispanic"]


async def test_locked_populations_are_the_races_headings_each_once_sorted(store: Services) -> None:
    await load(store.unit_of_work, ASIAN, WHITE)

    async with store.unit_of_work() as uow:
        assert await uow.records.lock_populations("asian") == ["Asian Alone", COMBINATION]
        assert await uow.records.lock_populations("white") == ["White"]
        assert await uow.records.lock_populations("black") == []
