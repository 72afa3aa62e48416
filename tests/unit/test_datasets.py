from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence

import pytest

from libdib.adapters.memory.store import InMemoryStore, InMemoryUnitOfWork
from libdib.adapters.offload import ThreadOffload
from libdib.domain.census import CensusTable, Observation
from libdib.domain.datasets import (
    EXPORT_CHUNK,
    DatasetService,
    LoadEvent,
    LoadStage,
    NoDatasetLoaded,
    RecordExists,
)
from libdib.domain.errors import InvalidInput, NotFound, SourceUnavailable, WorkbookInvalid
from libdib.domain.ports import RecordFilter, UnitOfWork, Workbook, WorkbookReader, WorkbookSource
from tests.fakes import TEST_LEASE_SECONDS, FixedClock, MemoryWorker

pytestmark = pytest.mark.anyio


def observation(
    year: int = 2019,
    age_range: str = "25-34",
    population: str = "Asian Alone",
    footnote: str | None = None,
    income: int | None = 50000,
) -> Observation:
    return Observation(population, age_range, year, footnote, 1700, income, income, 1600, 45000, 45000)


def table(race: str = "asian", *observations: Observation) -> CensusTable:
    rows = list(observations) or [observation(2019), observation(2018)]
    return CensusTable(race, f"Table P-8. Age--{race} People", 2019, rows)


class StubReader(WorkbookReader):
    """Reads a workbook by looking its name up; a name it does not know is an invalid workbook."""

    def __init__(self, tables: dict[str, CensusTable]) -> None:
        self.tables = tables
        self.threads: list[int] = []

    def read(self, workbook: Workbook) -> CensusTable:
        self.threads.append(threading.get_ident())
        if workbook.name not in self.tables:
            raise WorkbookInvalid(workbook.name, "has no year rows", row=7)
        return self.tables[workbook.name]


class StubSource(WorkbookSource):
    """Every location is one workbook whose bytes are its name."""

    async def fetch(self, locations: Sequence[str]) -> list[Workbook]:
        if "missing.xlsx" in locations:
            raise SourceUnavailable("missing.xlsx: no such file")
        return [Workbook(location, location.encode()) for location in locations]


@pytest.fixture
def reader() -> StubReader:
    return StubReader({"p08a.xlsx": table("asian"), "p08w.xlsx": table("white")})


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore(lease=TEST_LEASE_SECONDS)


@pytest.fixture
def service(store: InMemoryStore, reader: StubReader, clock: FixedClock) -> DatasetService:
    return DatasetService(
        uow=store.unit_of_work,
        view=MemoryWorker(store).census,
        reader=reader,
        source=StubSource(),
        clock=clock,
        offload=ThreadOffload(),
        default_locations=("p08a.xlsx", "p08w.xlsx"),
    )


async def all_records(service: DatasetService, race: str | None = None) -> list[Observation]:
    where = RecordFilter(races=None if race is None else (race,))
    return [record.observation async for record in service.export(where)]


async def test_a_load_stores_every_configured_workbook_with_its_provenance(
    service: DatasetService, clock: FixedClock
) -> None:
    result = await service.load()

    assert result.rows == 4
    assert [(d.race, d.source, d.rows, d.years) for d in result.datasets] == [
        ("asian", "p08a.xlsx", 2, (2018, 2019)),
        ("white", "p08w.xlsx", 2, (2018, 2019)),
    ]
    assert result.datasets[0].sha256 == hashlib.sha256(b"p08a.xlsx").hexdigest()
    assert result.datasets[0].loaded_at == clock.now()
    assert await service.list_datasets() == result.datasets


async def test_loading_a_table_again_replaces_its_rows_instead_of_adding_to_them(service: DatasetService) -> None:
    await service.load()
    await service.load(["p08a.xlsx"])

    assert len(await all_records(service, race="asian")) == 2
    assert len(await all_records(service)) == 4


async def test_a_load_with_one_bad_workbook_changes_nothing(service: DatasetService, reader: StubReader) -> None:
    await service.load(["p08a.xlsx"])
    before = await all_records(service)
    reader.tables["p08a.xlsx"] = table("asian", observation(2020))

    with pytest.raises(WorkbookInvalid, match=r"broken\.xlsx, row 7"):
        await service.load(["p08a.xlsx", "p08w.xlsx", "broken.xlsx"])

    assert await all_records(service) == before
    assert [d.race for d in await service.list_datasets()] == ["asian"]


async def test_a_load_from_a_location_that_cannot_be_read_changes_nothing(service: DatasetService) -> None:
    await service.load(["p08a.xlsx"])

    with pytest.raises(SourceUnavailable, match=r"missing\.xlsx"):
        await service.load(["p08w.xlsx", "missing.xlsx"])

    assert [d.race for d in await service.list_datasets()] == ["asian"]


async def test_a_workbook_listing_a_year_twice_is_refused_naming_the_workbook_and_the_year(
    service: DatasetService, reader: StubReader
) -> None:
    reader.tables["twice.xlsx"] = table("asian", observation(2017, footnote="40"), observation(2017, footnote="40"))

    with pytest.raises(WorkbookInvalid, match=r"twice\.xlsx: .*25-34.*2017 \(40\) twice"):
        await service.load(["twice.xlsx"])


async def test_footnoted_estimates_of_one_year_are_kept_apart(service: DatasetService, reader: StubReader) -> None:
    reader.tables["p08a.xlsx"] = table("asian", observation(2017, footnote="40"), observation(2017))

    await service.load(["p08a.xlsx"])

    assert [o.footnote for o in await all_records(service)] == ["40", None]


async def test_two_workbooks_of_one_race_group_in_one_load_are_refused(
    service: DatasetService, reader: StubReader
) -> None:
    reader.tables["copy.xlsx"] = table("asian")

    with pytest.raises(InvalidInput, match=r"p08a\.xlsx and copy\.xlsx are both the table of race group 'asian'"):
        await service.load(["p08a.xlsx", "copy.xlsx"])

    assert await service.list_datasets() == []


async def test_a_table_of_an_unknown_race_group_is_refused(service: DatasetService, reader: StubReader) -> None:
    reader.tables["martian.xlsx"] = table("martian")

    with pytest.raises(WorkbookInvalid, match=r"martian\.xlsx: is about race group 'martian'"):
        await service.load(["martian.xlsx"])


async def test_a_load_with_no_locations_is_refused(service: DatasetService) -> None:
    with pytest.raises(InvalidInput, match="no workbook locations"):
        await service.load([])


async def test_progress_reports_each_workbook_fetched_then_read_then_stored(service: DatasetService) -> None:
    events: list[LoadEvent] = []

    await service.load(progress=events.append)

    assert [(e.stage, e.workbook, e.index, e.total) for e in events] == [
        (LoadStage.FETCHED, "p08a.xlsx", 1, 2),
        (LoadStage.FETCHED, "p08w.xlsx", 2, 2),
        (LoadStage.READ, "p08a.xlsx", 1, 2),
        (LoadStage.READ, "p08w.xlsx", 2, 2),
        (LoadStage.STORED, "p08a.xlsx", 1, 2),
        (LoadStage.STORED, "p08w.xlsx", 2, 2),
    ]
    assert events[0].size == len(b"p08a.xlsx")
    assert [e.rows for e in events if e.stage is not LoadStage.FETCHED] == [2, 2, 2, 2]


async def test_workbooks_are_read_off_the_event_loop_thread(service: DatasetService, reader: StubReader) -> None:
    await service.load()

    assert reader.threads
    assert threading.get_ident() not in reader.threads


async def test_an_upload_replaces_the_table_of_its_race(service: DatasetService, reader: StubReader) -> None:
    await service.load()
    reader.tables["upload.xlsx"] = table("asian", observation(2001))

    dataset = await service.upload(Workbook("upload.xlsx", b"new"))

    assert (dataset.race, dataset.rows, dataset.sha256) == ("asian", 1, hashlib.sha256(b"new").hexdigest())
    assert [o.year for o in await all_records(service, race="asian")] == [2001]


@pytest.mark.parametrize("name", ["data.csv", "p08a.xlsx.exe", "p08\x00a.xlsx"])
async def test_an_upload_that_is_not_an_xlsx_file_is_refused(service: DatasetService, name: str) -> None:
    with pytest.raises(InvalidInput, match=r"file: expected an \.xlsx workbook, got"):
        await service.upload(Workbook(name, b"a,b"))


async def test_deleting_a_dataset_deletes_its_records(service: DatasetService) -> None:
    result = await service.load()

    await service.delete_dataset(result.datasets[0].id)

    assert {record.race async for record in service.export(RecordFilter())} == {"white"}
    with pytest.raises(NotFound, match=f"no dataset with id {result.datasets[0].id}"):
        await service.delete_dataset(result.datasets[0].id)


async def test_records_come_in_pages_in_table_order_with_the_total(service: DatasetService) -> None:
    await service.load()

    page = await service.records(RecordFilter(), limit=3, offset=1)

    assert [(r.race, r.observation.year) for r in page.items] == [("asian", 2018), ("white", 2019), ("white", 2018)]
    assert (page.total, page.limit, page.offset) == (4, 3, 1)


async def test_records_filter_by_race_in_any_letter_case(service: DatasetService) -> None:
    await service.load()

    page = await service.records(RecordFilter(races=("White",), year=2018), limit=10, offset=0)

    assert [(r.race, r.observation.year) for r in page.items] == [("white", 2018)]


@pytest.mark.parametrize(
    ("where", "limit", "offset", "message"),
    [
        (RecordFilter(races=("martian",)), 10, 0, "race: 'martian' is not a known race group"),
        (RecordFilter(age_range="55+"), 10, 0, "age_range: '55+' is not an age bracket"),
        (RecordFilter(year=1939), 10, 0, "year: 1939 is outside 1940 to 2100"),
        (RecordFilter(population="abc\x00def"), 10, 0, "population: expected"),
        (RecordFilter(), 0, 0, "limit: 0 is outside 1 to 1000"),
        (RecordFilter(), 1001, 0, "limit: 1001 is outside 1 to 1000"),
        (RecordFilter(), 10, -1, "offset: -1 is negative"),
    ],
)
async def test_a_bad_filter_or_page_is_refused_naming_the_parameter(
    service: DatasetService, where: RecordFilter, limit: int, offset: int, message: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        await service.records(where, limit, offset)


def test_an_export_with_a_bad_filter_is_refused_before_anything_streams(service: DatasetService) -> None:
    with pytest.raises(InvalidInput, match="race: 'martian'"):
        service.export(RecordFilter(races=("martian",)))


async def test_an_added_record_joins_the_dataset_of_its_race_after_the_loaded_rows(service: DatasetService) -> None:
    result = await service.load()

    record = await service.add_record("asian", observation(1999))

    assert (record.dataset_id, record.race, record.constant_dollar_year) == (result.datasets[0].id, "asian", 2019)
    assert [r.observation.year async for r in service.export(RecordFilter(races=("asian",)))] == [2019, 2018, 1999]
    assert await service.get_record(record.id) == record


async def test_adding_a_record_that_exists_is_a_conflict(service: DatasetService) -> None:
    await service.load()

    with pytest.raises(RecordExists, match="race 'asian', population 'Asian Alone', age range 25-34, year 2019"):
        await service.add_record("asian", observation(2019, income=1))


async def test_adding_a_record_for_a_race_with_no_loaded_table_is_refused(service: DatasetService) -> None:
    await service.load(["p08a.xlsx"])

    with pytest.raises(NoDatasetLoaded, match="no dataset is loaded for race 'black'; load its table first"):
        await service.add_record("black", observation())


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (observation()._replace(year=1939), "year: 1939 is outside 1940 to 2100"),
        (observation()._replace(year=2101), "year: 2101 is outside 1940 to 2100"),
        (observation()._replace(age_range="55+"), "age_range: '55+' is not an age bracket"),
        (observation()._replace(population=" "), "population: expected"),
        (observation()._replace(population="Asian\x00Alone"), "population: expected"),
        (observation()._replace(population="Asian\nAlone"), "population: expected"),
        (observation()._replace(footnote="x"), "footnote: expected the footnote number"),
        (observation()._replace(male_number_with_income=-1), "male_number_with_income: -1 is outside"),
        (observation()._replace(female_median_income_constant=2**31), "female_median_income_constant: 2147483648"),
    ],
)
async def test_a_record_breaking_a_rule_is_refused_naming_the_field(
    service: DatasetService, bad: Observation, message: str
) -> None:
    await service.load()

    with pytest.raises(InvalidInput, match=re.escape(message)):
        await service.add_record("asian", bad)


async def test_an_unknown_race_is_refused_when_adding_a_record(service: DatasetService) -> None:
    with pytest.raises(InvalidInput, match="race: 'martian' is not a known race group"):
        await service.add_record("martian", observation())


async def test_a_deleted_record_is_gone(service: DatasetService) -> None:
    await service.load()
    record = (await service.records(RecordFilter(), limit=1, offset=0)).items[0]

    await service.delete_record(record.id)

    with pytest.raises(NotFound, match=f"no record with id {record.id}"):
        await service.get_record(record.id)
    with pytest.raises(NotFound):
        await service.delete_record(record.id)


async def test_a_footnote_with_leading_zeros_is_the_same_footnote(service: DatasetService) -> None:
    await service.load()

    added = await service.add_record("asian", observation(year=2017, footnote="040"))

    assert added.observation.footnote == "40"
    with pytest.raises(RecordExists):
        await service.add_record("asian", observation(year=2017, footnote="40"))


@pytest.mark.parametrize("footnote", ["\u0664\u0660", "\uff14\uff10", "4\u0660", "", " 40"])
async def test_a_footnote_of_other_than_ascii_digits_is_refused(service: DatasetService, footnote: str) -> None:
    await service.load()

    with pytest.raises(InvalidInput, match="footnote: expected the footnote number"):
        await service.add_record("asian", observation(year=2017, footnote=footnote))


@pytest.mark.parametrize(
    ("location", "stored"),
    [
        ("https://user:secret@example.org/p08a.xlsx?X-Amz-Signature=abc#part", "https://example.org/p08a.xlsx"),
        ("http://example.org:8080/data/p08a.xlsx?token=t", "http://example.org:8080/data/p08a.xlsx"),
        ("/srv/census/p08a.xlsx", "/srv/census/p08a.xlsx"),
    ],
)
async def test_a_dataset_source_keeps_no_credentials_query_or_fragment(
    service: DatasetService, reader: StubReader, location: str, stored: str
) -> None:
    reader.tables[location] = table("asian")

    result = await service.load([location])

    assert result.datasets[0].source == stored
    assert [dataset.source for dataset in await service.list_datasets()] == [stored]


class CountedUnits:
    """A unit-of-work factory over ``store`` that knows how many of its units are open."""

    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        self.open = 0

    def __call__(self, *, read_only: bool = False) -> UnitOfWork:  # noqa: ARG002 - all units alike
        return CountedUnit(self)


class CountedUnit(InMemoryUnitOfWork):
    """A memory unit of work that counts itself open while entered."""

    def __init__(self, units: CountedUnits) -> None:
        super().__init__(units.store)
        self.units = units

    async def __aenter__(self) -> CountedUnit:
        self.units.open += 1
        await super().__aenter__()
        return self

    async def __aexit__(self, *error: object) -> None:
        self.units.open -= 1
        await super().__aexit__(*error)  # type: ignore[arg-type]


async def test_an_export_holds_no_unit_of_work_while_its_reader_waits(
    store: InMemoryStore, reader: StubReader, clock: FixedClock
) -> None:
    units = CountedUnits(store)
    service = DatasetService(
        uow=units,
        view=MemoryWorker(store).census,
        reader=reader,
        source=StubSource(),
        clock=clock,
        offload=ThreadOffload(),
    )
    rows = [observation(year) for year in range(1941, 1941 + EXPORT_CHUNK + 5)]
    reader.tables["p08a.xlsx"] = table("asian", *rows)
    await service.load(["p08a.xlsx"])

    exported = []
    async for record in service.export(RecordFilter()):
        assert units.open == 0  # the reader of the export may wait here as long as it likes
        exported.append(record.observation)

    assert exported == rows
