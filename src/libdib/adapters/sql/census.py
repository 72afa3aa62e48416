"""Datasets and records in SQL: Core statements mapped to domain objects, and COPY for bulk loads on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

import asyncpg
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Row,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from libdib.adapters.sql.connection import UnitConnection
from libdib.adapters.sql.hot import HotQuery
from libdib.adapters.sql.tables import DatasetRow, RecordRow
from libdib.adapters.sql.violations import Violation, violated
from libdib.domain.census import CensusTable, Dataset, IncomeRecord, LoadedTable, Observation
from libdib.domain.datasets import DatasetGone, RecordExists
from libdib.domain.errors import Conflict
from libdib.domain.ports import DatasetRepository, Page, Provenance, RecordFilter, RecordRepository

datasets: Table = DatasetRow.__table__  # type: ignore[assignment]
records: Table = RecordRow.__table__  # type: ignore[assignment]

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
"""Every column a record is written with (the id comes from the sequence), in the order rows are built."""
RECORD_COLUMNS = (records.c.id, *(records.c[name] for name in STORED_COLUMNS))
"""What a record is read with: id, dataset_id, race, constant_dollar_year, then the observation's fields."""
OBSERVATION_COLUMNS = slice(4, 4 + len(Observation._fields))
RECORD_BY_ID = HotQuery(select(*RECORD_COLUMNS).where(records.c.id == bindparam("id")))
COMPARED_RECORDS = HotQuery(
    select(*RECORD_COLUMNS)
    .where(
        records.c.race.in_([bindparam("race_a"), bindparam("race_b")]),
        records.c.age_range == bindparam("age_range"),
        records.c.year.in_([bindparam("year_a"), bindparam("year_b")]),
    )
    .order_by(records.c.id)
)
"""Two races and up to two years in fixed parameters, so one compiled statement serves every comparison."""
TABLE_ROWS = (
    select(datasets.c.id, datasets.c.race, datasets.c.title, datasets.c.constant_dollar_year, *RECORD_COLUMNS[4:])
    .select_from(records.join(datasets, records.c.dataset_id == datasets.c.id))
    .order_by(records.c.id)
)
"""Every record with its dataset's title and constant-dollar year, in table order (by id)."""
INSERT_CHUNK = 5000
"""Rows per executemany where COPY is not available (SQLite)."""
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


def _chunks(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


class SqlDatasetRepository(DatasetRepository):
    """Datasets in ``datasets``; their rows in ``income_records``."""

    def __init__(self, connection: UnitConnection) -> None:
        self._connection = connection

    async def replace(self, table: CensusTable, provenance: Provenance, loaded_at: datetime) -> Dataset:
        """Delete the race's dataset and records, insert the new dataset, then bulk-insert its rows."""
        postgres = self._connection.dialect.name == "postgresql"
        if postgres:
            await self._connection.execute(text(LOAD_LOCK), {"race": table.race})
        await self._drop(datasets.c.race == table.race, records.c.race == table.race)
        first_year, last_year = table.years
        statement = (
            insert(datasets)
            .values(
                race=table.race,
                title=table.title,
                source=provenance.source,
                sha256=provenance.sha256,
                rows=len(table.observations),
                first_year=first_year,
                last_year=last_year,
                constant_dollar_year=table.constant_dollar_year,
                loaded_at=loaded_at,
            )
            .returning(*DATASET_COLUMNS)
        )
        dataset = _dataset((await self._connection.execute(statement)).one())
        head = (dataset.id, table.race, table.constant_dollar_year)
        rows = (head + observation for observation in table.observations)
        await (self._copy(table.race, rows) if postgres else self._insert(table.race, rows))
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
        """Delete a dataset and its records."""
        return await self._drop(datasets.c.id == dataset_id, records.c.dataset_id == dataset_id)

    async def _one(self, condition: ColumnElement[bool]) -> Dataset | None:
        row = (await self._connection.execute(select(*DATASET_COLUMNS).where(condition))).one_or_none()
        return None if row is None else _dataset(row)

    async def _drop(self, dataset: ColumnElement[bool], its_records: ColumnElement[bool]) -> bool:
        """Delete a dataset, then its records.

        In that order: deleting the dataset's row waits for every ``add`` that holds it ``FOR KEY SHARE``,
        and the records' DELETE that follows (a new snapshot under READ COMMITTED) then sees their rows too.
        """
        result: CursorResult[Any] = await self._connection.execute(delete(datasets).where(dataset))
        await self._connection.execute(delete(records).where(its_records))
        return result.rowcount > 0

    async def _copy(self, race: str, rows: Iterable[tuple[Any, ...]]) -> None:
        """COPY the rows on the unit's own connection, inside its transaction (LIBRARY-NOTES §5)."""
        driver = await self._connection.driver()
        try:
            await driver.copy_records_to_table(records.name, records=rows, columns=STORED_COLUMNS)
        except asyncpg.UniqueViolationError as error:
            raise Conflict(f"the table of race {race!r} lists a row twice ({error.detail})") from None

    async def _insert(self, race: str, rows: Iterable[tuple[Any, ...]]) -> None:
        """Insert the rows in chunks of ``executemany`` (SQLite has no COPY)."""
        try:
            for chunk in _chunks(rows, INSERT_CHUNK):
                await self._connection.execute(
                    insert(records), [dict(zip(STORED_COLUMNS, row, strict=True)) for row in chunk]
                )
        except IntegrityError as error:
            if violated(error) is Violation.UNIQUE:
                raise Conflict(f"the table of race {race!r} lists a row twice") from None
            raise


class SqlRecordRepository(RecordRepository):
    """Records in ``income_records``; ids follow table order."""

    def __init__(self, connection: UnitConnection) -> None:
        self._connection = connection

    async def page(self, where: RecordFilter, limit: int, offset: int) -> Page[IncomeRecord]:
        """One statement for the page and the total, so both come from one snapshot.

        The offset is walked over ids alone (an index-only scan of the race's index), and only the page's
        rows are fetched: a deep page costs its skipped index entries, not its skipped rows.
        """
        conditions = _where(where)
        total = select(func.count()).select_from(records).where(*conditions).scalar_subquery()
        ids = select(records.c.id).where(*conditions).order_by(records.c.id).limit(limit).offset(offset).subquery()
        statement = select(*RECORD_COLUMNS, total.label("total")).join(ids, ids.c.id == records.c.id)
        ordered = statement.order_by(records.c.id)
        rows = (await self._connection.execute(ordered)).all()
        if rows:
            return Page([_record(row) for row in rows], rows[0].total, limit, offset)
        # Past the last row (or none match) the page carries no total, so count alone.
        count = (await self._connection.execute(select(total))).scalar_one()
        return Page([], count, limit, offset)

    async def after(self, where: RecordFilter, after_id: int, limit: int) -> list[IncomeRecord]:
        """The first ``limit`` matching records with an id above ``after_id``, in id order (a keyset page)."""
        statement = self._select().where(*_where(where), records.c.id > after_id).order_by(records.c.id).limit(limit)
        return [_record(row) for row in await self._connection.execute(statement)]

    async def get(self, record_id: int) -> IncomeRecord | None:
        """The record with this id, if any."""
        row = await RECORD_BY_ID.fetch_one(self._connection, {"id": record_id})
        return None if row is None else _record(row)

    async def add(self, dataset: Dataset, observation: Observation) -> IncomeRecord:
        """Insert a record into ``dataset``; ``RecordExists`` on the natural key, ``DatasetGone`` if it was dropped.

        ``INSERT ... SELECT`` from the dataset's row copies its race and constant-dollar year, and inserts
        nothing when the dataset is gone. The row is read ``FOR KEY SHARE`` (PostgreSQL; SQLite serialises
        writers anyway): a concurrent drop of the dataset waits for this insert and deletes its record too,
        or, if it came first, this insert finds no dataset. That is what a foreign key would guarantee.
        """
        values = (
            literal(value, records.c[name].type) for name, value in zip(Observation._fields, observation, strict=True)
        )
        source = (
            select(datasets.c.id, datasets.c.race, datasets.c.constant_dollar_year, *values)
            .where(datasets.c.id == dataset.id)
            .with_for_update(read=True, key_share=True)
        )
        statement = insert(records).from_select(STORED_COLUMNS, source).returning(*RECORD_COLUMNS)
        try:
            row = (await self._connection.execute(statement)).one_or_none()
        except IntegrityError as error:
            if violated(error) is Violation.UNIQUE:
                raise RecordExists(dataset.race, observation) from None
            raise
        if row is None:
            raise DatasetGone(dataset.race)
        return _record(row)

    async def delete(self, record_id: int) -> bool:
        """Delete one record."""
        result: CursorResult[Any] = await self._connection.execute(delete(records).where(records.c.id == record_id))
        return result.rowcount > 0

    async def for_comparison(self, races: Sequence[str], age_range: str, years: Sequence[int]) -> list[IncomeRecord]:
        """One indexed query (race, age range, year lead the natural key) in id order."""
        if not (0 < len(races) <= 2 and 0 < len(years) <= 2):
            raise ValueError(f"a comparison takes one or two races and years, not {races} and {years}")
        parameters = {
            "race_a": races[0],
            "race_b": races[-1],
            "age_range": age_range,
            "year_a": years[0],
            "year_b": years[-1],
        }
        return [_record(row) for row in await COMPARED_RECORDS.fetch(self._connection, parameters)]

    async def tables(
        self, races: Sequence[str] | None = None, age_ranges: Sequence[str] | None = None, year: int | None = None
    ) -> list[LoadedTable]:
        """One joined query in id order, grouped by dataset in Python."""
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

    @staticmethod
    def _select() -> Select[Any]:
        return select(*RECORD_COLUMNS)
