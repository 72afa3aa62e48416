"""The rows a series needs: every record of the asked races, in table order, with their dataset's title and dollars."""

from __future__ import annotations

import pytest

from libdib.domain.census import CensusTable, LoadedTable
from libdib.domain.ports import UnitOfWorkFactory
from tests.contract.test_census_repositories import ASIAN, WHITE, load, obs

pytestmark = pytest.mark.anyio

BLACK = CensusTable("black", "Table P-8. Age--Black People", 2018, [obs(2018, population="Black Alone")])


async def test_tables_hand_every_row_of_the_asked_races_in_table_order(uow_factory: UnitOfWorkFactory) -> None:
    asian, white, black = await load(uow_factory, ASIAN, WHITE, BLACK)

    async with uow_factory(read_only=True) as uow:
        tables = await uow.records.tables(["white", "asian"])

    by_race = {table.race: table for table in tables}
    assert set(by_race) == {"asian", "white"}
    assert by_race["asian"] == LoadedTable(asian.id, "asian", ASIAN.title, 2019, ASIAN.observations)
    assert by_race["white"] == LoadedTable(white.id, "white", WHITE.title, 2019, WHITE.observations)
    assert black.race not in by_race


async def test_tables_without_races_hand_every_loaded_table_and_an_added_record_comes_last(
    uow_factory: UnitOfWorkFactory,
) -> None:
    _, black = await load(uow_factory, WHITE, BLACK)
    added = obs(2010, population="Black Alone")
    async with uow_factory() as uow:
        await uow.records.add(black, added)
        await uow.commit()

    async with uow_factory(read_only=True) as uow:
        tables = {table.race: table for table in await uow.records.tables()}

    assert set(tables) == {"white", "black"}
    assert list(tables["black"].observations) == [*BLACK.observations, added]
    assert tables["black"].constant_dollar_year == 2018


async def test_tables_of_races_not_loaded_are_empty(uow_factory: UnitOfWorkFactory) -> None:
    await load(uow_factory, WHITE)

    async with uow_factory(read_only=True) as uow:
        assert await uow.records.tables(["asian"]) == []


async def test_tables_of_some_age_ranges_keep_their_rows_and_every_row_of_the_year_asked(
    uow_factory: UnitOfWorkFactory,
) -> None:
    await load(uow_factory, ASIAN)

    async with uow_factory(read_only=True) as uow:
        (scoped,) = await uow.records.tables(["asian"], ["35-44"], 2019)
        (bare,) = await uow.records.tables(["asian"], ["35-44"])

    assert list(scoped.observations) == [o for o in ASIAN.observations if o.age_range == "35-44" or o.year == 2019]
    assert list(bare.observations) == [o for o in ASIAN.observations if o.age_range == "35-44"]
