"""Datasets and records in SQL: Core statements mapped to domain objects, and COPY for bulk loads on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from itertools import islice
from typing import Any

import asyncpg
from sqlalchemy import (
    Column,
    ColumnElement,
    CursorResult,
    Integer,
    MetaData,
    Row,
    Table,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateTable, DropTable
from sqlalchemy.sql.dml import UpdateBase

from libdib.adapters.sql.tables import DatasetRow, EpochRow, RecordRow
from libdib.adapters.sql.violations import Violation, violated
from libdib.domain.census import CensusTable, Dataset, IncomeRecord, LoadedTable, Observation
from libdib.domain.datasets import DatasetGone, RecordExists
from libdib.domain.errors import Conflict
from libdib.domain.ports import (
    DatasetRepository,
    Page,
    Provenance,
    RecordChunk,
    RecordFilter,
    RecordRepository,
    TablePlace,
)

datasets: Table = DatasetRow.__table__  # type: ignore[assignment]
records: Table = RecordRow.__table__  # type: ignore[assignment]
epochs: Table = EpochRow.__table__  # type: ignore[assignment]

DATASET_COLUMNS = (
    datasets.c.id,
    datasets.c.race,
    datasets.c.title,
    datasets.c.source,
    datasets.c.sha256,
    datasets.c.rows,
    datasets.c.first_year,
    datasets.c.last_year,
    datasets.c.loaded_at,
)
STORED_COLUMNS = ("dataset_id", "race", "constant_dollar_year", *Observation._fields)
TABLE_ORDER = (records.c.dataset_id, records.c.position)
"""Each table in its published order (records added later after its rows), tables in the order first loaded."""
"""Every column a record is written with (the id comes from the sequence), in the order rows are built."""
RECORD_COLUMNS = (records.c.id, *(records.c[name] for name in STORED_COLUMNS))
"""What a record is read with: id, dataset_id, race, constant_dollar_year, then the observation's fields."""
OBSERVATION_COLUMNS = slice(4, 4 + len(Observation._fields))
NATURAL_KEY = (
    records.c.race,
    records.c.age_range,
    records.c.year,
    records.c.population,
    func.coalesce(records.c.footnote, literal_column("''")),
)
"""The unique index an upsert names as its conflict target, as the index spells it (SQLite compares the text)."""
UPDATED_COLUMNS = ("dataset_id", "constant_dollar_year", *Observation._fields[4:], "position")
"""What a reload may change in a row whose natural key it lists again."""
STAGING = Table(
    "income_staging",
    MetaData(),
    Column("ordinal", Integer, nullable=False),
    *(records.c[name]._copy() for name in Observation._fields),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
"""A load's rows before they meet the records: no index, no key, no trigger, so filling it costs what COPY does.
``ordinal`` is the row's place in the table (the records' ``position``)."""
CARDINALITY_VIOLATION = "21000"
UNIQUE_VIOLATION = "23505"
LOCK_NOT_AVAILABLE = "55P03"
LOAD_STATEMENT_SECONDS = 3600
"""How long one statement of a load may take: its time grows with the table, so it is bounded to catch a stuck
server, not sized like a request's queries (the engine's command timeout)."""
TABLE_ROWS = (
    select(datasets.c.id, datasets.c.race, datasets.c.title, datasets.c.constant_dollar_year, *RECORD_COLUMNS[4:])
    .select_from(records.join(datasets, records.c.dataset_id == datasets.c.id))
    .order_by(*TABLE_ORDER)
)
"""Every record with its dataset's title and constant-dollar year, in table order."""
INSERT_CHUNK = 5000
"""Rows per executemany where COPY is not available (SQLite)."""
(FOREIGN_KEY,) = (key.name for key in records.foreign_key_constraints)
"""The records' key to their dataset: enforced by PostgreSQL, whatever a load does (``_built_after``)."""
LOAD_LOCK = "SELECT pg_advisory_xact_lock(hashtext('libdib.datasets'), hashtext(:race))"
"""Loads of one race group take turns: the second replaces what the first committed, instead of failing on it."""


def _dataset(row: Row[*tuple[Any, ...]]) -> Dataset:
    return Dataset(
        id=row.id,
        race=row.race,
        title=row.title,
        source=row.source,
        sha256=row.sha256,
        rows=row.rows,
        years=(row.first_year, row.last_year),
        loaded_at=row.loaded_at,
    )


def _record(row: Sequence[Any]) -> IncomeRecord:
    observation = tuple.__new__(Observation, row[OBSERVATION_COLUMNS])
    return IncomeRecord(row[0], row[1], row[2], row[3], observation)


def _where(where: RecordFilter) -> list[ColumnElement[bool]]:
    """The conditions of a filter; race, age range and year lead the natural-key index."""
    conditions: list[ColumnElement[bool]] = []
    if where.races is not None:
        conditions.append(records.c.race.in_(where.races))
    if where.population is not None:
        conditions.append(func.lower(records.c.population) == where.population.lower())
    if where.age_range is not None:
        conditions.append(records.c.age_range == where.age_range)
    if where.year is not None:
        conditions.append(records.c.year == where.year)
    if where.year_from is not None:
        conditions.append(records.c.year >= where.year_from)
    if where.year_to is not None:
        conditions.append(records.c.year <= where.year_to)
    return conditions


def _sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a driver error, raised directly (COPY, ``_long``) or wrapped by SQLAlchemy."""
    driver = error.orig if isinstance(error, DBAPIError) else error
    return getattr(driver, "sqlstate", None)


def _chunks(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _dialect_insert(connection: AsyncConnection, table: Table) -> Any:
    """An ``INSERT`` that knows ``ON CONFLICT`` for the connection's dialect (both support it)."""
    return (postgresql if connection.dialect.name == "postgresql" else sqlite).insert(table)


async def _serialize_data_writes(connection: AsyncConnection) -> None:
    """Take the data epoch's row lock before any other lock of a data write (PostgreSQL; SQLite has one writer).

    The triggers advance the epoch after each statement; taking its lock first in every data write means no
    write holds a record or dataset lock while it waits for the epoch, so data writes never deadlock.
    """
    if connection.dialect.name == "postgresql":
        await connection.execute(select(epochs.c.value).where(epochs.c.name == "data").with_for_update())


class SqlDatasetRepository(DatasetRepository):
    """Datasets in ``datasets``; their rows in ``income_records``."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def replace(self, table: CensusTable, provenance: Provenance, loaded_at: datetime) -> Dataset:
        """Upsert the race's dataset, then make its records match the table's rows, keeping ids by natural key.

        A race with no rows yet takes its rows by COPY straight into the records; a race with rows stages them
        first, then deletes what the table no longer lists and upserts the rest.
        """
        await _serialize_data_writes(self._connection)
        dataset = await self._upsert_dataset(table, provenance, loaded_at)
        had_rows = (await self._connection.execute(select(exists().where(records.c.race == table.race)))).scalar()
        twice = Conflict(f"the table of race {table.race!r} lists a row twice")
        copied = not had_rows and self._connection.dialect.name == "postgresql"
        try:
            if copied:
                await self._copy_records(dataset, table)
            else:
                await self._merge_from_staging(dataset, table, had_rows=bool(had_rows))
        except (DBAPIError, asyncpg.PostgresError) as error:
            # PostgreSQL refuses to upsert one row twice in a statement and COPY a second row of one key;
            # SQLite lets the second win (counted below).
            if _sqlstate(error) in {CARDINALITY_VIOLATION, UNIQUE_VIOLATION} or (
                isinstance(error, IntegrityError) and violated(error) is Violation.UNIQUE
            ):
                raise twice from None
            raise
        if copied:
            # The COPY wrote every row of the table, or the unique index refused it whole: nothing to count.
            return dataset
        # A merge may skip a second row of one key (an unchanged record meets it twice), so count what is there.
        count = select(func.count()).select_from(records).where(records.c.race == table.race)
        if (await self._connection.execute(count)).scalar_one() != len(table.observations):
            raise twice
        return dataset

    async def list(self) -> list[Dataset]:
        """Every dataset, by race."""
        result = await self._connection.execute(select(*DATASET_COLUMNS).order_by(datasets.c.race))
        return [_dataset(row) for row in result]

    async def get(self, dataset_id: int) -> Dataset | None:
        """The dataset with this id, if any."""
        return await self._one(datasets.c.id == dataset_id)

    async def get_by_race(self, race: str) -> Dataset | None:
        """The dataset of this race group, if loaded."""
        return await self._one(datasets.c.race == race)

    async def delete(self, dataset_id: int) -> bool:
        """Delete a dataset; the foreign key deletes its records."""
        await _serialize_data_writes(self._connection)
        result: CursorResult[Any] = await self._connection.execute(delete(datasets).where(datasets.c.id == dataset_id))
        return result.rowcount > 0

    async def _one(self, condition: ColumnElement[bool]) -> Dataset | None:
        row = (await self._connection.execute(select(*DATASET_COLUMNS).where(condition))).one_or_none()
        return None if row is None else _dataset(row)

    async def _upsert_dataset(self, table: CensusTable, provenance: Provenance, loaded_at: datetime) -> Dataset:
        """The race's dataset row, updated in place when it exists, so its id stays too."""
        first_year, last_year = table.years
        values = {
            "race": table.race,
            "title": table.title,
            "source": provenance.source,
            "sha256": provenance.sha256,
            "rows": len(table.observations),
            "first_year": first_year,
            "last_year": last_year,
            "constant_dollar_year": table.constant_dollar_year,
            "loaded_at": loaded_at,
        }
        statement = _dialect_insert(self._connection, datasets).values(values)
        statement = statement.on_conflict_do_update(index_elements=[datasets.c.race], set_=values)
        return _dataset((await self._connection.execute(statement.returning(*DATASET_COLUMNS))).one())

    async def _copy_records(self, dataset: Dataset, table: CensusTable) -> None:
        """COPY a first load's rows into the records in table order, so the sequence numbers them in that order.

        Into a database that holds no other census data, the foreign key is checked and the indexes are built
        once for all rows rather than row by row (``_built_after``).
        """
        head = (dataset.id, table.race, table.constant_dollar_year)
        rows = ((*head, *observation, position) for position, observation in enumerate(table.observations))
        driver = await self._driver()
        async with self._built_after(driver, dataset):
            await driver.copy_records_to_table(
                records.name, records=rows, columns=[*STORED_COLUMNS, "position"], timeout=LOAD_STATEMENT_SECONDS
            )

    @asynccontextmanager
    async def _built_after(self, driver: asyncpg.Connection, dataset: Dataset) -> AsyncIterator[None]:
        """Into an empty database, run the block without the records' foreign key and secondary indexes.

        They are then declared again from their own definitions. Checked row by row, the key runs a query for
        every row the COPY writes, and indexes updated row by row (the natural key's in no useful order) cost
        the COPY more than its rows do; declaring the key again has PostgreSQL check every row in one statement,
        and an index built at once sorts its rows. Only when no other dataset and no record exist: the
        ``ACCESS EXCLUSIVE`` locks the drops take (on both tables, until commit) then hold back only readers of
        an empty database, never another race group's. Data writes take the epoch's lock first
        (``_serialize_data_writes``), so none adds a dataset or a record between the look and the drops. Inside
        the transaction, as everything else a load does: a failed load leaves the key and the indexes as they
        were, and a row listed twice fails the unique index's build as it fails a COPY.
        """
        alone = select(~exists().where(datasets.c.id != dataset.id) & ~exists(select(records.c.id)))
        if not (await self._connection.execute(alone)).scalar_one() or not await self._locked_at_once():
            yield
            return
        key = await driver.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1::regclass AND conname = $2",
            records.name,
            FOREIGN_KEY,
        )
        indexes = await driver.fetch(
            "SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS definition FROM pg_index"
            " WHERE indrelid = $1::regclass AND NOT EXISTS (SELECT FROM pg_constraint WHERE conindid = indexrelid)"
            " ORDER BY indexrelid",
            records.name,
        )
        if key is not None:
            await driver.execute(f'ALTER TABLE {records.name} DROP CONSTRAINT "{FOREIGN_KEY}"')
        for index in indexes:
            await driver.execute(f"DROP INDEX {index['name']}")
        yield
        for index in indexes:
            await driver.execute(index["definition"], timeout=LOAD_STATEMENT_SECONDS)
        if key is not None:
            await driver.execute(
                f'ALTER TABLE {records.name} ADD CONSTRAINT "{FOREIGN_KEY}" {key}', timeout=LOAD_STATEMENT_SECONDS
            )

    async def _locked_at_once(self) -> bool:
        """Whether the records and datasets were locked for the drops, at once; else no lock is taken.

        A reader that read the datasets and now reads the records would wait for a load that waits for it:
        never waiting for these locks, a load in that case checks row by row rather than deadlock.
        """
        lock = text(f"LOCK TABLE {records.name}, {datasets.name} IN ACCESS EXCLUSIVE MODE NOWAIT")
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(lock)
        except DBAPIError as error:
            if _sqlstate(error) != LOCK_NOT_AVAILABLE:
                raise
            return False
        return True

    async def _merge_from_staging(self, dataset: Dataset, table: CensusTable, *, had_rows: bool) -> None:
        """Stage the rows, delete the race's records the table no longer lists, upsert the rest by natural key."""
        await self._connection.execute(CreateTable(STAGING))
        await self._stage((ordinal, *observation) for ordinal, observation in enumerate(table.observations))
        if self._connection.dialect.name == "postgresql":
            # Without statistics the planner guesses the staging table small and may join it row by row.
            await self._connection.execute(text(f"ANALYZE {STAGING.name}"))
        same_key = and_(
            STAGING.c.age_range == records.c.age_range,
            STAGING.c.year == records.c.year,
            STAGING.c.population == records.c.population,
            func.coalesce(STAGING.c.footnote, "") == func.coalesce(records.c.footnote, ""),
        )
        if had_rows:
            await self._long(delete(records).where(records.c.race == table.race, ~exists().where(same_key)))
        rows = select(
            literal(dataset.id, records.c.dataset_id.type),
            literal(table.race, records.c.race.type),
            literal(table.constant_dollar_year, records.c.constant_dollar_year.type),
            *(STAGING.c[name] for name in Observation._fields),
            STAGING.c.ordinal,
        )
        # SQLite reads ``ON CONFLICT`` after a ``SELECT`` without ``WHERE`` as part of a join (its own advice).
        rows = rows.where(true()).order_by(STAGING.c.ordinal)
        upsert = _dialect_insert(self._connection, records).from_select([*STORED_COLUMNS, "position"], rows)
        if had_rows:
            # Only a table loaded before can meet its own rows; a first load skips the per-row conflict check.
            changed = {name: upsert.excluded[name] for name in UPDATED_COLUMNS}
            upsert = upsert.on_conflict_do_update(
                index_elements=NATURAL_KEY,
                set_=changed,
                where=or_(*(records.c[name].is_distinct_from(value) for name, value in changed.items())),
            )
        await self._long(upsert)
        await self._connection.execute(DropTable(STAGING))

    async def _long(self, statement: UpdateBase) -> None:
        """Run a statement whose time grows with the table under the load's timeout, not the requests' one.

        asyncpg's command timeout (the engine's) is sized for a request's queries and cannot be lifted per
        statement through SQLAlchemy, so on PostgreSQL the statement goes to the driver with its own timeout.
        """
        if self._connection.dialect.name != "postgresql":
            await self._connection.execute(statement)
            return
        compiled = statement.compile(dialect=self._connection.dialect)
        parameters = compiled.construct_params()
        driver = await self._driver()
        await driver.execute(
            str(compiled), *(parameters[name] for name in compiled.positiontup or ()), timeout=LOAD_STATEMENT_SECONDS
        )

    async def _driver(self) -> asyncpg.Connection:
        """The unit's own asyncpg connection: what it runs joins the unit's transaction (LIBRARY-NOTES §5)."""
        raw = await self._connection.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection
        return driver

    async def _stage(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Fill the staging table: COPY on PostgreSQL, else chunks of ``executemany``.

        COPY runs on the unit's own connection, inside its transaction (LIBRARY-NOTES §5).
        """
        if self._connection.dialect.name == "postgresql":
            driver = await self._driver()
            await driver.copy_records_to_table(
                STAGING.name, records=rows, columns=list(STAGING.c.keys()), timeout=LOAD_STATEMENT_SECONDS
            )
            return
        names = STAGING.c.keys()
        for chunk in _chunks(rows, INSERT_CHUNK):
            await self._connection.execute(insert(STAGING), [dict(zip(names, row, strict=True)) for row in chunk])


class SqlRecordRepository(RecordRepository):
    """Records in ``income_records``, in table order (``dataset_id``, ``position``), which ids may not follow."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def page(self, where: RecordFilter, limit: int, offset: int) -> Page[IncomeRecord]:
        """One statement for the page and the total, so both come from one snapshot.

        The offset is walked over ids in table order (an index scan of the race's index), and only the page's
        rows are fetched: a deep page costs its skipped index entries, not its skipped rows.
        """
        conditions = _where(where)
        total = select(func.count()).select_from(records).where(*conditions).scalar_subquery()
        keys = select(records.c.id).where(*conditions).order_by(*TABLE_ORDER).limit(limit).offset(offset).subquery()
        statement = select(*RECORD_COLUMNS, total.label("total")).join(keys, keys.c.id == records.c.id)
        ordered = statement.order_by(*TABLE_ORDER)
        rows = (await self._connection.execute(ordered)).all()
        if rows:
            return Page([_record(row) for row in rows], rows[0].total, limit, offset)
        # Past the last row (or none match) the page carries no total, so count alone.
        count = (await self._connection.execute(select(total))).scalar_one()
        return Page([], count, limit, offset)

    async def after(self, where: RecordFilter, place: TablePlace | None, limit: int) -> RecordChunk:
        """The first ``limit`` matching records after ``place`` in table order (a keyset page).

        The place is compared as one row value, so the table-order indexes (``(race, dataset_id, position)`` under
        a race filter, ``(dataset_id, position)`` without one) begin their scan at it: a deep chunk skips nothing.
        """
        statement = select(*RECORD_COLUMNS, records.c.position).where(*_where(where))
        if place is not None:
            statement = statement.where(tuple_(*TABLE_ORDER) > tuple_(*place))
        rows = (await self._connection.execute(statement.order_by(*TABLE_ORDER).limit(limit))).all()
        last = None if not rows else (rows[-1].dataset_id, rows[-1].position)
        return RecordChunk([_record(row) for row in rows], last)

    async def get(self, record_id: int) -> IncomeRecord | None:
        """The record with this id, if any."""
        row = (await self._connection.execute(select(*RECORD_COLUMNS).where(records.c.id == record_id))).first()
        return None if row is None else _record(row)

    async def lock_populations(self, race: str) -> list[str]:
        """The race's population headings, each once, sorted here (a collation sorts its own way).

        The data writes' lock comes first on PostgreSQL, so no other write adds a heading before this unit's
        insert. SQLite has one writer, and refuses a write from a transaction that read before another's commit.
        """
        await _serialize_data_writes(self._connection)
        statement = select(records.c.population).where(records.c.race == race).distinct()
        return sorted((await self._connection.execute(statement)).scalars())

    async def add(self, dataset: Dataset, observation: Observation) -> IncomeRecord:
        """Insert a record into ``dataset``; ``RecordExists`` on the natural key, ``DatasetGone`` if it was dropped.

        The dataset's constant-dollar year is read in the same statement, and the foreign key refuses a record
        of a dataset deleted meanwhile.
        """
        await _serialize_data_writes(self._connection)
        values: dict[str, Any] = dict(zip(STORED_COLUMNS, (dataset.id, dataset.race, None, *observation), strict=True))
        values["constant_dollar_year"] = (
            select(datasets.c.constant_dollar_year).where(datasets.c.id == dataset.id).scalar_subquery()
        )
        last = select(func.coalesce(func.max(records.c.position), -1)).where(records.c.dataset_id == dataset.id)
        values["position"] = last.scalar_subquery() + 1
        statement = insert(records).values(values).returning(*RECORD_COLUMNS)
        try:
            row = (await self._connection.execute(statement)).one()
        except IntegrityError as error:
            if violated(error) is Violation.UNIQUE:
                raise RecordExists(dataset.race, observation) from None
            if violated(error) is not None:  # the foreign key, or the constant-dollar year of no dataset
                raise DatasetGone(dataset.race) from None
            raise
        return _record(row)

    async def delete(self, record_id: int) -> bool:
        """Delete one record."""
        await _serialize_data_writes(self._connection)
        result: CursorResult[Any] = await self._connection.execute(delete(records).where(records.c.id == record_id))
        return result.rowcount > 0

    async def for_comparison(self, races: Sequence[str], age_range: str, years: Sequence[int]) -> list[IncomeRecord]:
        """One indexed query (race, age range, year lead the natural key) in table order."""
        statement = (
            select(*RECORD_COLUMNS)
            .where(records.c.race.in_(races), records.c.age_range == age_range, records.c.year.in_(years))
            .order_by(*TABLE_ORDER)
        )
        return [_record(row) for row in await self._connection.execute(statement)]

    async def tables(
        self, races: Sequence[str] | None = None, age_ranges: Sequence[str] | None = None, year: int | None = None
    ) -> list[LoadedTable]:
        """One joined query in table order, grouped by dataset in Python."""
        statement = TABLE_ROWS if races is None else TABLE_ROWS.where(records.c.race.in_(list(races)))
        if age_ranges is not None:
            statement = statement.where(or_(records.c.age_range.in_(list(age_ranges)), records.c.year == year))
        heads: dict[int, tuple[str, str, int]] = {}
        rows: dict[int, list[Observation]] = {}
        for row in await self._connection.execute(statement):
            if row[0] not in heads:
                heads[row[0]] = (row[1], row[2], row[3])
                rows[row[0]] = []
            rows[row[0]].append(tuple.__new__(Observation, row[4:]))
        return [LoadedTable(dataset_id, *head, rows[dataset_id]) for dataset_id, head in heads.items()]
