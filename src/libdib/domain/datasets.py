"""Datasets: loading P-8 workbooks atomically, and the records they hold (list, export, add, delete)."""

from __future__ import annotations

import enum
import hashlib
import re
import unicodedata
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from operator import itemgetter

from libdib.domain.census import (
    KNOWN_RACES,
    MAX_YEAR,
    MIN_YEAR,
    AgeBracket,
    CensusTable,
    Dataset,
    IncomeRecord,
    Observation,
)
from libdib.domain.errors import Conflict, InvalidInput, NotFound, WorkbookInvalid
from libdib.domain.ports import (
    CensusView,
    Clock,
    Offload,
    Page,
    Provenance,
    RecordFilter,
    TablePlace,
    UnitOfWorkFactory,
    Workbook,
    WorkbookReader,
    WorkbookSource,
)

MAX_PAGE_SIZE = 1000
EXPORT_CHUNK = 1000
"""Records an export reads per unit of work (a keyset page in table order)."""
LARGEST_NUMBER = 2**31 - 1
"""The number columns are 32-bit integers."""
MAX_POPULATION_LENGTH = 200
YEAR_PARAMETERS = {"year": "year", "year_from": "from", "year_to": "to"}
"""The public name of each year field of a ``RecordFilter``, for the messages that name it."""
FOOTNOTE = re.compile(r"[0-9]{1,20}")
"""ASCII digits only: ``\\d`` would also take Arabic-Indic or full-width digits, which name no footnote."""
NUMBER_FIELDS = Observation._fields[4:]
ROW_KEY: Callable[[Observation], tuple[str, str, int, str | None]] = itemgetter(0, 1, 2, 3)
"""What no two rows of a table may share: population, age section, year and footnote (built in C)."""
POPULATION: Callable[[Observation], str] = itemgetter(0)
SHOWN_TEXT = 60
"""How much of a refused text a message quotes: enough to find it, never a whole hostile cell."""

NaturalKey = tuple[str, str, int, str, str]
"""Race, age range, year, population and footnote (``""`` for none): what makes a record unique."""
ReadTable = tuple[CensusTable, Provenance]
"""A workbook's table, checked, and where it came from."""


class RecordExists(Conflict):
    """A record with the same race, population, age range, year and footnote exists."""

    def __init__(self, race: str, observation: Observation) -> None:
        super().__init__(
            f"a record for race {race!r}, population {observation.population!r}, age range"
            f" {observation.age_range}, year {describe_year(observation)} exists already",
        )


class DatasetGone(Conflict):
    """The dataset a record was being added to was deleted or replaced meanwhile."""

    def __init__(self, race: str) -> None:
        super().__init__(f"the dataset of race {race!r} was deleted or replaced meanwhile; try again")


class NoDatasetLoaded(InvalidInput):
    """A record was added for a race group whose table is not loaded."""


class LoadStage(enum.StrEnum):
    """How far a workbook has got in a load."""

    FETCHED = "fetched"
    READ = "read"
    STORED = "stored"


@dataclass(frozen=True, slots=True)
class LoadEvent:
    """Progress of a load: workbook ``index`` of ``total`` reached ``stage`` (with its size or row count)."""

    stage: LoadStage
    workbook: str
    index: int
    total: int
    size: int = 0
    rows: int = 0


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What a load stored: the datasets it replaced or created, and their rows in total."""

    datasets: list[Dataset]
    rows: int


def describe_year(observation: Observation) -> str:
    """The year as the table writes it: ``2017 (40)`` for a footnoted estimate."""
    return f"{observation.year} ({observation.footnote})" if observation.footnote else str(observation.year)


def public_source(source: str) -> str:
    """Where a workbook came from, safe to store and show: a URL without credentials, query or fragment.

    A signed URL's query or ``user:password@`` would otherwise reach every reader of ``GET /datasets``.
    """
    try:
        parts = urllib.parse.urlsplit(source)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return source.split("?", 1)[0].split("#", 1)[0].rpartition("@")[2]
    if not parts.scheme or not parts.netloc:
        return source
    netloc = f"[{host}]" if ":" in host else host
    return urllib.parse.urlunsplit((parts.scheme, netloc + (f":{port}" if port else ""), parts.path, "", ""))


def natural_key(race: str, observation: Observation) -> NaturalKey:
    """The key no two records may share."""
    return (race, observation.age_range, observation.year, observation.population, observation.footnote or "")


def is_plain_text(text: str) -> bool:
    """Whether ``text`` has no control characters (NUL, line breaks) or lone surrogates, which no store keeps."""
    return not any(unicodedata.category(character) in {"Cc", "Cs"} for character in text)


def check_race(race: str, field: str = "race") -> str:
    """The race group key in lower case, if the Census Bureau publishes a P-8 table for it; else ``InvalidInput``."""
    key = race.strip().lower()
    if key not in KNOWN_RACES:
        raise InvalidInput(f"{field}: {race!r} is not a known race group; use one of {', '.join(KNOWN_RACES)}")
    return key


def check_year(year: int, field: str = "year") -> int:
    """``year`` if the tables can hold it; else ``InvalidInput`` naming ``field``."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidInput(f"{field}: {year} is outside {MIN_YEAR} to {MAX_YEAR}")
    return year


def check_age_range(age_range: str, field: str = "age_range") -> AgeBracket:
    """The age bracket named ``age_range``; else ``InvalidInput`` naming ``field`` and the seven brackets."""
    try:
        return AgeBracket(age_range)
    except ValueError:
        brackets = ", ".join(bracket.value for bracket in AgeBracket)
        raise InvalidInput(f"{field}: {age_range!r} is not an age bracket; use one of {brackets}") from None


def check_observation(observation: Observation) -> Observation:
    """``observation`` if a record may hold it; else ``InvalidInput`` naming the field that breaks a rule."""
    check_population(observation.population)
    check_age_range(observation.age_range)
    check_year(observation.year)
    observation = observation._replace(footnote=normal_footnote(observation.footnote))
    for field in NUMBER_FIELDS:
        value = getattr(observation, field)
        if value is not None and not 0 <= value <= LARGEST_NUMBER:
            raise InvalidInput(f"{field}: {value} is outside 0 to {LARGEST_NUMBER}")
    return observation


def normal_footnote(footnote: str | None) -> str | None:
    """The footnote number without leading zeros ('040' is footnote 40); ``InvalidInput`` unless ASCII digits."""
    if footnote is None:
        return None
    if not FOOTNOTE.fullmatch(footnote):
        raise InvalidInput(f"footnote: expected the footnote number (such as '40') or null, got {footnote!r}")
    return str(int(footnote))


def population_problem(population: str) -> str | None:
    """Why ``population`` cannot be a sub-section heading (what the records' column can hold); None if it can."""
    if not population.strip():
        return "is empty"
    if len(population) > MAX_POPULATION_LENGTH:
        return f"is {len(population):,} characters long, more than {MAX_POPULATION_LENGTH}"
    if population != population.strip():
        return "begins or ends with a space"
    if not is_plain_text(population):
        return "holds a control character (such as NUL or a line break)"
    return None


def shown(text: str) -> str:
    """``text`` quoted for a message, control characters escaped, cut short if long."""
    return repr(text) if len(text) <= SHOWN_TEXT else f"{text[:SHOWN_TEXT]!r}..."


def check_population(population: str) -> str:
    """``population`` if it can be a sub-section heading; else ``InvalidInput``."""
    if population_problem(population) is not None:
        raise InvalidInput(
            f"population: expected the sub-section heading as published, 1 to {MAX_POPULATION_LENGTH} characters"
            " without control characters or leading or trailing spaces",
        )
    return population


def same_population(population: str, headings: Iterable[str]) -> str:
    """The heading of the table that ``population`` names regardless of case, as filters match; else ``population``.

    Its exact spelling first; if the table spells one sub-section several ways (a workbook may), the least.
    """
    spellings = [heading for heading in headings if heading.lower() == population.lower()]
    return population if population in spellings else min(spellings, default=population)


def check_filter(where: RecordFilter) -> RecordFilter:
    """A filter whose races and age range name things that exist (races in lower case); else ``InvalidInput``."""
    if where.population is not None:
        check_population(where.population)
    if where.age_range is not None:
        check_age_range(where.age_range)
    for field in ("year", "year_from", "year_to"):
        if (year := getattr(where, field)) is not None:
            check_year(year, YEAR_PARAMETERS[field])
    if where.year_from is not None and where.year_to is not None and where.year_from > where.year_to:
        raise InvalidInput(f"from, to: the first year ({where.year_from}) is after the last ({where.year_to})")
    if where.races is None:
        return where
    if not where.races:
        raise InvalidInput("race: expected one or more race groups, comma-separated, such as asian,white")
    return replace(where, races=tuple(dict.fromkeys(check_race(race) for race in where.races)))


def check_page(limit: int, offset: int) -> None:
    """Refuse a page size outside 1 to ``MAX_PAGE_SIZE`` or a negative offset."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit: {limit} is outside 1 to {MAX_PAGE_SIZE}")
    if offset < 0:
        raise InvalidInput(f"offset: {offset} is negative")


def check_table(workbook: str, table: CensusTable) -> CensusTable:
    """``table`` if it can be stored: a known race group, some rows, texts a store can hold, no row listed twice.

    Else ``WorkbookInvalid``, naming the row where the reader says it found a refused text.
    """
    if table.race not in KNOWN_RACES:
        raise WorkbookInvalid(workbook, f"is about race group {table.race!r}; known groups: {', '.join(KNOWN_RACES)}")
    if not table.observations:
        raise WorkbookInvalid(workbook, "has no year rows")
    check_year(table.constant_dollar_year, "constant dollar year")
    if not is_plain_text(table.title):
        raise WorkbookInvalid(
            workbook, f"the title {shown(table.title)} holds a control character (such as NUL)", row=table.title_row
        )
    check_headings(workbook, table)
    # The keys' hashes, not the keys: cheaper to build, and no set of a million tuples held at the
    # load's memory peak. Equal hashes of different keys are all but impossible, and only send us looking.
    if len(set(map(hash, map(ROW_KEY, table.observations)))) < len(table.observations):
        check_rows_distinct(workbook, table.observations)
    return table


def check_headings(workbook: str, table: CensusTable) -> None:
    """Refuse the first population heading, in table order, that a record could not hold.

    The rule of ``POST /records`` (``check_population``): every store then refuses the same workbooks, before
    anything is written, rather than one store taking a heading another cannot keep.
    """
    # Each distinct heading once: a table repeats one heading object for every year row under it.
    for population in dict.fromkeys(map(POPULATION, table.observations)):
        if (problem := population_problem(population)) is not None:
            first = next(o for o in table.observations if o.population == population)
            raise WorkbookInvalid(
                workbook,
                f"the population heading {shown(population)} of age section {first.age_range} {problem}; a heading"
                f" has 1 to {MAX_POPULATION_LENGTH} characters, without control characters or leading or trailing"
                " spaces",
                row=table.heading_rows.get(population),
            )


def check_rows_distinct(workbook: str, observations: Iterable[Observation]) -> None:
    """Refuse the first observation whose population, age section, year and footnote came before."""
    seen: set[tuple[str, str, int, str | None]] = set()
    for observation in observations:
        key = ROW_KEY(observation)
        if key in seen:
            raise WorkbookInvalid(
                workbook,
                f"age section {observation.age_range}, population {observation.population!r} lists"
                f" {describe_year(observation)} twice; each year (and footnote) may appear once",
            )
        seen.add(key)


def check_distinct_races(tables: Sequence[ReadTable]) -> None:
    """Refuse a load in which two workbooks are the table of one race group (the second would undo the first)."""
    first_of: dict[str, str] = {}
    for table, provenance in tables:
        if table.race in first_of:
            raise InvalidInput(
                f"{first_of[table.race]} and {provenance.source} are both the table of race group {table.race!r};"
                " load one of them",
            )
        first_of[table.race] = provenance.source


class DatasetService:
    """Loads P-8 tables (all or nothing) and manages the records they hold."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        view: CensusView,
        reader: WorkbookReader,
        source: WorkbookSource,
        clock: Clock,
        offload: Offload,
        default_locations: Sequence[str] = (),
    ) -> None:
        self._uow = uow
        self._view = view
        self._reader = reader
        self._offload = offload
        self._source = source
        self._clock = clock
        self._default_locations = tuple(default_locations)

    async def load(
        self,
        locations: Sequence[str] | None = None,
        progress: Callable[[LoadEvent], None] | None = None,
    ) -> LoadResult:
        """Fetch and read every workbook, then replace their tables in one transaction; on any error nothing changes."""
        report = progress or _ignore
        wanted = tuple(self._default_locations if locations is None else locations)
        if not wanted:
            raise InvalidInput("no workbook locations are configured: name paths, directories or http(s) URLs")
        workbooks = await self._source.fetch(wanted)
        if not workbooks:
            raise InvalidInput(f"no workbooks found in {', '.join(wanted)}")
        total = len(workbooks)
        for index, workbook in enumerate(workbooks, 1):
            report(LoadEvent(LoadStage.FETCHED, workbook.name, index, total, size=len(workbook.content)))
        tables: list[ReadTable] = []
        for index, workbook in enumerate(workbooks, 1):
            tables.append(await self._offload.run(partial(self._read, workbook)))
            report(LoadEvent(LoadStage.READ, workbook.name, index, total, rows=len(tables[-1][0].observations)))
        check_distinct_races(tables)
        datasets = await self._store(tables, report)
        return LoadResult(datasets, sum(dataset.rows for dataset in datasets))

    async def upload(self, workbook: Workbook) -> Dataset:
        """Read one uploaded ``.xlsx`` workbook and replace its table; on any error nothing changes."""
        if not workbook.name.lower().endswith(".xlsx") or not is_plain_text(workbook.name):
            raise InvalidInput(f"file: expected an .xlsx workbook, got {workbook.name!r}")
        (dataset,) = await self._store([await self._offload.run(partial(self._read, workbook))], _ignore)
        return dataset

    async def data_version(self) -> str:
        """A token that changes when, and only when, the loaded data changes (what an ``ETag`` is made of)."""
        return await self._view.version()

    async def list_datasets(self) -> list[Dataset]:
        """Every loaded dataset, by race."""
        return await self._view.datasets()

    async def delete_dataset(self, dataset_id: int) -> None:
        """Delete a dataset and its records; raises ``NotFound``."""
        async with self._uow() as uow:
            if not await uow.datasets.delete(dataset_id):
                raise NotFound(f"there is no dataset with id {dataset_id}")
            await uow.commit()

    async def records(self, where: RecordFilter, limit: int, offset: int) -> Page[IncomeRecord]:
        """One page of the matching records in table order; raises ``InvalidInput`` for a bad filter or page."""
        where = check_filter(where)
        check_page(limit, offset)
        return await self._view.page(where, limit, offset)

    def export(self, where: RecordFilter) -> AsyncIterator[IncomeRecord]:
        """Every matching record in table order, read in keyset chunks of ``EXPORT_CHUNK``, each in its own unit.

        Chunks follow the listing's order and begin after the place of the last record sent, never at an offset,
        so a deep chunk costs what the first does and the export's records come as the listing's pages list them.

        No unit (so no pooled connection or transaction) stays open while the records are handed on, so a
        client that stops reading holds nothing. The export is not one snapshot: a record added or deleted
        while it runs may or may not be in it. The filter is checked now, before anything streams, so a bad
        one is refused while a response can say so.
        """
        return self._stream(check_filter(where))

    async def get_record(self, record_id: int) -> IncomeRecord:
        """The record with this id; raises ``NotFound``."""
        record = await self._view.record(record_id)
        if record is None:
            raise NotFound(f"there is no record with id {record_id}")
        return record

    async def add_record(self, race: str, observation: Observation) -> IncomeRecord:
        """Append a record to the dataset of ``race``; raises ``InvalidInput`` or ``RecordExists``.

        A population that names one of the table's sub-sections regardless of case is that sub-section, under
        the table's spelling: filters could not tell the two apart, so neither may uniqueness.
        """
        race = check_race(race)
        observation = check_observation(observation)
        async with self._uow() as uow:
            dataset = await uow.datasets.get_by_race(race)
            if dataset is None:
                raise NoDatasetLoaded(f"race: no dataset is loaded for race {race!r}; load its table first")
            headings = await uow.records.lock_populations(race)
            observation = observation._replace(population=same_population(observation.population, headings))
            record = await uow.records.add(dataset, observation)
            await uow.commit()
        return record

    async def delete_record(self, record_id: int) -> None:
        """Delete one record; raises ``NotFound``."""
        async with self._uow() as uow:
            if not await uow.records.delete(record_id):
                raise NotFound(f"there is no record with id {record_id}")
            await uow.commit()

    def _read(self, workbook: Workbook) -> ReadTable:
        """Read, check and fingerprint one workbook (CPU-bound: offloaded)."""
        table = check_table(workbook.name, self._reader.read(workbook))
        return table, Provenance(public_source(workbook.name), hashlib.sha256(workbook.content).hexdigest())

    async def _store(self, tables: Sequence[ReadTable], report: Callable[[LoadEvent], None]) -> list[Dataset]:
        """Replace every table in one unit of work, committing once."""
        loaded_at = self._clock.now()
        datasets = []
        async with self._uow() as uow:
            for index, (table, provenance) in enumerate(tables, 1):
                dataset = await uow.datasets.replace(table, provenance, loaded_at)
                report(LoadEvent(LoadStage.STORED, provenance.source, index, len(tables), rows=dataset.rows))
                datasets.append(dataset)
            await uow.commit()
        return datasets

    async def _stream(self, where: RecordFilter) -> AsyncIterator[IncomeRecord]:
        place: TablePlace | None = None
        while True:
            async with self._uow(read_only=True) as uow:
                chunk = await uow.records.after(where, place, EXPORT_CHUNK)
            for record in chunk.items:
                yield record
            if len(chunk.items) < EXPORT_CHUNK or chunk.last is None:
                return
            place = chunk.last


def _ignore(_: LoadEvent) -> None:
    """A progress callback that does nothing."""
