from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libdib.adapters.lease import DATA, REVOCATION, ReadEpochs
from libdib.bootstrap import Services
from libdib.domain.census import CensusTable, Dataset, Observation
from libdib.domain.datasets import ROW_KEY, DatasetGone, RecordExists
from libdib.domain.errors import Conflict
from libdib.domain.ports import Provenance, RecordFilter, UnitOfWorkFactory

pytestmark = pytest.mark.anyio

LOADED_AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def obs(
    year: int,
    age_range: str = "25-34",
    population: str = "Asian Alone or in Combination",
    footnote: str | None = None,
    number: int | None = 1000,
) -> Observation:
    return Observation(population, age_range, year, footnote, number, 50000, 52000, None, 40000, 41000)


ASIAN = CensusTable(
    "asian",
    "Table P-8. Age--Asian People, by Median Income and Sex: 2002 to 2019",
    2019,
    [
        obs(2019),
        obs(2017, footnote="40"),
        obs(2017),
        obs(2019, population="Asian Alone"),
        obs(2019, age_range="35-44"),
        obs(2010, age_range="35-44", footnote="37"),
    ],
)
WHITE = CensusTable(
    "white", "Table P-8. Age--White People", 2019, [obs(2019, population="White"), obs(2018, population="White")]
)


async def load(uow_factory: UnitOfWorkFactory, *tables: CensusTable) -> list[Dataset]:
    async with uow_factory() as uow:
        datasets = [
            await uow.datasets.replace(table, Provenance(f"{table.race}.xlsx", "ab" * 32), LOADED_AT)
            for table in tables
        ]
        await uow.commit()
    return datasets


async def stored(uow_factory: UnitOfWorkFactory, where: RecordFilter | None = None) -> list[tuple[str, Observation]]:
    async with uow_factory() as uow:
        page = await uow.records.page(where or RecordFilter(), 10**6, 0)
    return [(record.race, record.observation) for record in page.items]


async def test_a_replaced_table_is_stored_with_its_provenance(uow_factory: UnitOfWorkFactory) -> None:
    (dataset,) = await load(uow_factory, ASIAN)

    assert (dataset.race, dataset.title, dataset.source, dataset.sha256) == (
        "asian",
        ASIAN.title,
        "asian.xlsx",
        "ab" * 32,
    )
    assert (dataset.rows, dataset.years, dataset.loaded_at) == (6, (2010, 2019), LOADED_AT)
    async with uow_factory() as uow:
        assert await uow.datasets.get(dataset.id) == dataset
        assert await uow.datasets.get_by_race("asian") == dataset
        assert await uow.datasets.list() == [dataset]
        assert await uow.datasets.get(dataset.id + 100) is None
        assert await uow.datasets.get_by_race("white") is None


async def test_records_keep_the_table_order_and_every_field(uow_factory: UnitOfWorkFactory) -> None:
    await load(uow_factory, ASIAN)

    assert await stored(uow_factory) == [("asian", o) for o in ASIAN.observations]
    async with uow_factory() as uow:
        page = await uow.records.page(RecordFilter(), limit=100, offset=0)
        assert [record.observation for record in page.items] == ASIAN.observations
        assert await uow.records.get(page.items[1].id) == page.items[1]


async def test_reloading_a_table_replaces_its_rows_not_duplicates_them(uow_factory: UnitOfWorkFactory) -> None:
    first, _ = await load(uow_factory, ASIAN, WHITE)
    newer = CensusTable("asian", "newer", 2020, [obs(2020), obs(2019)])

    (second,) = await load(uow_factory, newer)

    assert (second.id, second.title, second.rows) == (first.id, "newer", 2)
    # In the new table's order, although the 2019 row kept its id and the 2020 row is new.
    assert await stored(uow_factory, RecordFilter(races=("asian",))) == [("asian", obs(2020)), ("asian", obs(2019))]
    assert len(await stored(uow_factory, RecordFilter(races=("white",)))) == 2
    async with uow_factory() as uow:
        assert [d.race for d in await uow.datasets.list()] == ["asian", "white"]
        assert {
            r.constant_dollar_year for r in (await uow.records.page(RecordFilter(races=("asian",)), 10, 0)).items
        } == {2020}


async def ids_by_key(uow_factory: UnitOfWorkFactory) -> dict[tuple[str, str, int, str | None], int]:
    async with uow_factory() as uow:
        page = await uow.records.page(RecordFilter(), limit=1000, offset=0)
    return {(r.observation.population, r.observation.age_range, r.observation.year, r.observation.footnote): r.id
            for r in page.items}  # fmt: skip


async def test_reloading_the_same_table_keeps_every_record_id(uow_factory: UnitOfWorkFactory) -> None:
    await load(uow_factory, ASIAN, WHITE)
    before = await ids_by_key(uow_factory)

    await load(uow_factory, ASIAN, WHITE)

    assert await ids_by_key(uow_factory) == before


async def test_replacing_a_table_keeps_the_id_of_every_row_whose_natural_key_stays(
    uow_factory: UnitOfWorkFactory,
) -> None:
    await load(uow_factory, ASIAN)
    before = await ids_by_key(uow_factory)
    kept, dropped = ASIAN.observations[:4], ASIAN.observations[4:]
    changed = kept[0]._replace(male_median_income_current=1)  # same natural key, another value
    newer = CensusTable("asian", "newer", 2019, [changed, *kept[1:], obs(2018)])

    await load(uow_factory, newer)

    after = await ids_by_key(uow_factory)
    key = ROW_KEY
    assert {key(o): after[key(o)] for o in kept} == {key(o): before[key(o)] for o in kept}
    assert not {key(o) for o in dropped} & after.keys()
    assert after[key(obs(2018))] not in before.values()
    assert ("asian", changed) in await stored(uow_factory, RecordFilter(races=("asian",)))


async def test_an_uncommitted_replace_is_discarded(uow_factory: UnitOfWorkFactory) -> None:
    await load(uow_factory, ASIAN)

    async with uow_factory() as uow:
        await uow.datasets.replace(CensusTable("asian", "x", 2019, [obs(1999)]), Provenance("x", "0" * 64), LOADED_AT)

    assert await stored(uow_factory) == [("asian", o) for o in ASIAN.observations]


async def test_a_table_listing_a_row_twice_is_refused(uow_factory: UnitOfWorkFactory) -> None:
    with pytest.raises(Conflict):
        await load(uow_factory, CensusTable("asian", "twice", 2019, [obs(2019), obs(2018), obs(2019)]))

    assert await stored(uow_factory) == []


async def test_a_page_is_in_id_order_and_counts_the_total(uow_factory: UnitOfWorkFactory) -> None:
    await load(uow_factory, ASIAN, WHITE)
    await load(uow_factory, ASIAN)  # reloaded: its rows keep their ids, so their place

    async with uow_factory() as uow:
        page = await uow.records.page(RecordFilter(), limit=3, offset=5)
        past_the_end = await uow.records.page(RecordFilter(), limit=3, offset=50)

    assert [(r.race, r.observation.year) for r in page.items] == [("asian", 2010), ("white", 2019), ("white", 2018)]
    assert page.items[0].id < page.items[1].id < page.items[2].id
    assert (page.total, page.limit, page.offset) == (8, 3, 5)
    assert (past_the_end.items, past_the_end.total) == ([], 8)


async def replaced_with_a_new_row_and_a_record_added(uow_factory: UnitOfWorkFactory, store: Services) -> None:
    """ASIAN and WHITE loaded, then two asian records whose ids come after every white one's.

    The reload lists a row the table did not have (a new id, in the middle of its table), and an added record
    goes after its table's rows: in table order both come before WHITE's rows, in id order after them.
    """
    await load(uow_factory, ASIAN, WHITE)
    reloaded = [*ASIAN.observations[:3], obs(2018), *ASIAN.observations[3:]]
    await load(uow_factory, CensusTable(ASIAN.race, ASIAN.title, ASIAN.constant_dollar_year, reloaded))
    await store.datasets.add_record("asian", obs(2020))


async def test_keyset_chunks_chained_by_their_last_place_give_the_pages_records_in_table_order(
    uow_factory: UnitOfWorkFactory, store: Services
) -> None:
    await replaced_with_a_new_row_and_a_record_added(uow_factory, store)
    async with uow_factory() as uow:
        listed = (await uow.records.page(RecordFilter(), 10**6, 0)).items
        everything = await uow.records.after(RecordFilter(), None, 10**6)
        chunks, place = [], None
        while (chunk := await uow.records.after(RecordFilter(), place, 4)).items:
            chunks.append(chunk.items)
            place = chunk.last
        past_the_end = await uow.records.after(RecordFilter(), place, 4)

    assert everything.items == listed
    assert [record for chunk in chunks for record in chunk] == listed
    assert [len(chunk) for chunk in chunks] == [4, 4, 2]
    assert (past_the_end.items, past_the_end.last) == ([], None)
    tail = [("asian", 2010), ("asian", 2020), ("white", 2019), ("white", 2018)]
    assert [(r.race, r.observation.year) for r in listed[6:]] == tail


async def test_keyset_chunks_of_a_filter_give_its_matches_once_in_table_order(
    uow_factory: UnitOfWorkFactory, store: Services
) -> None:
    await replaced_with_a_new_row_and_a_record_added(uow_factory, store)
    where = RecordFilter(races=("white", "asian"), age_range="25-34")
    async with uow_factory() as uow:
        listed = (await uow.records.page(where, 10**6, 0)).items
        chunks, place = [], None
        while (chunk := await uow.records.after(where, place, 2)).items:
            chunks.append(chunk.items)
            place = chunk.last

    assert [record for chunk in chunks for record in chunk] == listed
    assert [(r.race, r.observation.year) for r in listed] == [
        ("asian", 2019),
        ("asian", 2017),
        ("asian", 2017),
        ("asian", 2018),
        ("asian", 2019),
        ("asian", 2020),
        ("white", 2019),
        ("white", 2018),
    ]


async def test_an_export_gives_the_records_as_the_listing_does_after_a_record_is_added_and_a_table_replaced(
    uow_factory: UnitOfWorkFactory, store: Services
) -> None:
    await replaced_with_a_new_row_and_a_record_added(uow_factory, store)

    for where in (RecordFilter(), RecordFilter(races=("asian", "white")), RecordFilter(year_from=2018)):
        listed = (await store.datasets.records(where, 1000, 0)).items
        exported = [record async for record in store.datasets.export(where)]
        assert exported == listed


async def test_a_data_write_that_changes_no_row_leaves_the_epochs_and_one_that_changes_a_row_moves_data(
    uow_factory: UnitOfWorkFactory, epochs: ReadEpochs
) -> None:
    (asian,) = await load(uow_factory, ASIAN)
    before = await epochs()

    async with uow_factory() as uow:
        assert await uow.records.delete(10**9) is False
        assert await uow.datasets.delete(asian.id + 1000) is False
        await uow.commit()
    unmoved = await epochs()
    async with uow_factory() as uow:
        (first,) = (await uow.records.page(RecordFilter(), 1, 0)).items
        assert await uow.records.delete(first.id) is True
        await uow.commit()
    after = await epochs()

    assert unmoved == before
    assert after[DATA] > before[DATA]
    assert after[REVOCATION] == before[REVOCATION]


@pytest.mark.parametrize(
    ("where", "years"),
    [
        (RecordFilter(races=("asian",), age_range="35-44"), [2019, 2010]),
        (RecordFilter(population="Asian Alone"), [2019]),
        (RecordFilter(year=2017), [2017, 2017]),
        (RecordFilter(races=("white",), year=2017), []),
        (RecordFilter(races=("white", "asian"), year=2019), [2019, 2019, 2019, 2019]),
        (RecordFilter(population="asian ALONE"), [2019]),
        (RecordFilter(year_from=2011, year_to=2018), [2017, 2017, 2018]),
        (RecordFilter(races=("asian",), year_to=2017), [2017, 2017, 2010]),
    ],
)
async def test_filters_select_the_matching_records(
    uow_factory: UnitOfWorkFactory, where: RecordFilter, years: list[int]
) -> None:
    await load(uow_factory, ASIAN, WHITE)

    async with uow_factory() as uow:
        page = await uow.records.page(where, limit=10, offset=0)

    assert [r.observation.year for r in page.items] == years
    assert page.total == len(years)
    assert [o.year for _, o in await stored(uow_factory, where)] == years


async def test_an_added_record_comes_after_the_loaded_rows_with_its_datasets_dollar_year(
    uow_factory: UnitOfWorkFactory,
) -> None:
    (dataset,) = await load(uow_factory, ASIAN)

    async with uow_factory() as uow:
        record = await uow.records.add(dataset, obs(2017, footnote="41"))
        await uow.commit()

    assert (record.dataset_id, record.race, record.constant_dollar_year) == (dataset.id, "asian", 2019)
    async with uow_factory() as uow:
        assert await uow.records.get(record.id) == record
        comparison = await uow.records.for_comparison(["asian"], "25-34", [2017])
    assert [r.observation.footnote for r in comparison] == ["40", None, "41"]


@pytest.mark.parametrize("footnote", [None, "40"])
async def test_adding_a_record_with_an_existing_natural_key_is_a_conflict(
    uow_factory: UnitOfWorkFactory, footnote: str | None
) -> None:
    (dataset,) = await load(uow_factory, ASIAN)

    async with uow_factory() as uow:
        with pytest.raises(RecordExists):
            await uow.records.add(dataset, obs(2017, footnote=footnote, number=1))


async def test_adding_a_record_to_a_dataset_that_is_gone_is_a_conflict(uow_factory: UnitOfWorkFactory) -> None:
    (dataset,) = await load(uow_factory, ASIAN)
    async with uow_factory() as uow:
        await uow.datasets.delete(dataset.id)
        await uow.commit()

    async with uow_factory() as uow:
        with pytest.raises(DatasetGone):
            await uow.records.add(dataset, obs(1999))


async def test_deleting_a_record_removes_only_it(uow_factory: UnitOfWorkFactory) -> None:
    await load(uow_factory, ASIAN)
    async with uow_factory() as uow:
        first = (await uow.records.page(RecordFilter(), limit=1, offset=0)).items[0]
        assert await uow.records.delete(first.id)
        assert not await uow.records.delete(first.id)
        await uow.commit()

    assert await stored(uow_factory) == [("asian", o) for o in ASIAN.observations[1:]]


async def test_deleting_a_dataset_deletes_its_records(uow_factory: UnitOfWorkFactory) -> None:
    asian, _ = await load(uow_factory, ASIAN, WHITE)

    async with uow_factory() as uow:
        assert await uow.datasets.delete(asian.id)
        assert not await uow.datasets.delete(asian.id)
        await uow.commit()

    assert {race for race, _ in await stored(uow_factory)} == {"white"}


async def test_comparison_rows_come_in_table_order_for_the_races_bracket_and_years(
    uow_factory: UnitOfWorkFactory,
) -> None:
    await load(uow_factory, WHITE, ASIAN)

    async with uow_factory() as uow:
        found = await uow.records.for_comparison(["asian", "white"], "25-34", [2019, 2017])

    assert [(r.race, r.observation.population, r.observation.year, r.observation.footnote) for r in found] == [
        ("white", "White", 2019, None),
        ("asian", "Asian Alone or in Combination", 2019, None),
        ("asian", "Asian Alone or in Combination", 2017, "40"),
        ("asian", "Asian Alone or in Combination", 2017, None),
        ("asian", "Asian Alone", 2019, None),
    ]
