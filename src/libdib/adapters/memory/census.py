"""In-memory datasets and records: the same behaviour as the SQL adapters, over dicts."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from libdib.adapters.memory.state import MemoryState
from libdib.domain.census import CensusTable, Dataset, IncomeRecord, LoadedTable, Observation
from libdib.domain.datasets import DatasetGone, NaturalKey, RecordExists, natural_key
from libdib.domain.ports import (
    DatasetRepository,
    Page,
    Provenance,
    RecordChunk,
    RecordFilter,
    RecordRepository,
    TablePlace,
)

DATASETS = "datasets"
RECORDS = "income_records"
KEYS = "income_record_keys"
"""The natural key of every record, as the SQL unique index keeps it."""
ORDER = "income_record_order"
"""Each record's (dataset id, place in its table), as the SQL table keeps it: the order of every listing."""


@dataclass(frozen=True, slots=True)
class _StoredDataset:
    dataset: Dataset
    constant_dollar_year: int


class _Tables:
    """The three tables the census repositories share, and the rules that keep them consistent."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state
        self.datasets: dict[int, _StoredDataset] = state.table(DATASETS)
        self.records: dict[int, IncomeRecord] = state.table(RECORDS)
        self.keys: dict[NaturalKey, int] = state.table(KEYS)
        self.order: dict[int, tuple[int, int]] = state.table(ORDER)

    def insert(
        self,
        dataset_id: int,
        race: str,
        constant_dollar_year: int,
        observation: Observation,
        *,
        position: int,
        record_id: int | None = None,
    ) -> IncomeRecord:
        """Store a record at ``position`` in its table, under ``record_id`` or the next id when it has none yet."""
        key = natural_key(race, observation)
        if key in self.keys:
            raise RecordExists(race, observation)
        record_id = self.state.next_id(RECORDS) if record_id is None else record_id
        record = IncomeRecord(record_id, dataset_id, race, constant_dollar_year, observation)
        self.records[record.id] = record
        self.keys[key] = record.id
        self.order[record.id] = (dataset_id, position)
        return record

    def delete_record(self, record_id: int) -> bool:
        record = self.records.pop(record_id, None)
        if record is None:
            return False
        del self.keys[natural_key(record.race, record.observation)]
        del self.order[record_id]
        return True

    def delete_dataset(self, dataset_id: int) -> bool:
        if self.datasets.pop(dataset_id, None) is None:
            return False
        for record_id in [record.id for record in self.records.values() if record.dataset_id == dataset_id]:
            self.delete_record(record_id)
        return True

    def matching(self, where: RecordFilter) -> list[IncomeRecord]:
        """The records ``where`` selects, in table order."""
        return self.in_table_order(list(filter(where.matches, self.records.values())))

    def in_table_order(self, found: list[IncomeRecord]) -> list[IncomeRecord]:
        """``found`` in the order of every listing."""
        return sorted(found, key=lambda record: self.order[record.id])

    def next_position(self, dataset_id: int) -> int:
        """The place after the last row of a dataset's table."""
        return max((place for owner, place in self.order.values() if owner == dataset_id), default=-1) + 1


class InMemoryDatasetRepository(DatasetRepository):
    """Datasets by id, one per race group."""

    def __init__(self, state: MemoryState) -> None:
        self._tables = _Tables(state)

    async def replace(self, table: CensusTable, provenance: Provenance, loaded_at: datetime) -> Dataset:
        """Store ``table`` as the race's dataset, keeping its id and the id of every row whose natural key stays."""
        tables = self._tables
        old = await self.get_by_race(table.race)
        kept: dict[NaturalKey, IncomeRecord] = {}
        if old is not None:
            kept = {natural_key(r.race, r.observation): r for r in tables.records.values() if r.dataset_id == old.id}
            for record in kept.values():
                tables.delete_record(record.id)
        dataset = Dataset(
            id=old.id if old is not None else tables.state.next_id(DATASETS),
            race=table.race,
            title=table.title,
            source=provenance.source,
            sha256=provenance.sha256,
            rows=len(table.observations),
            years=table.years,
            loaded_at=loaded_at,
        )
        tables.datasets[dataset.id] = _StoredDataset(dataset, table.constant_dollar_year)
        for position, observation in enumerate(table.observations):
            same = kept.get(natural_key(table.race, observation))
            record_id = same.id if same is not None else None
            tables.insert(
                dataset.id, table.race, table.constant_dollar_year, observation, position=position, record_id=record_id
            )
        return dataset

    async def list(self) -> list[Dataset]:
        """Every dataset, by race."""
        return sorted((stored.dataset for stored in self._tables.datasets.values()), key=lambda dataset: dataset.race)

    async def get(self, dataset_id: int) -> Dataset | None:
        """The dataset with this id, if any."""
        stored = self._tables.datasets.get(dataset_id)
        return None if stored is None else stored.dataset

    async def get_by_race(self, race: str) -> Dataset | None:
        """The dataset of this race group, if loaded."""
        return next((stored.dataset for stored in self._tables.datasets.values() if stored.dataset.race == race), None)

    async def delete(self, dataset_id: int) -> bool:
        """Delete a dataset and its records."""
        return self._tables.delete_dataset(dataset_id)


class InMemoryRecordRepository(RecordRepository):
    """Records by id, listed in table order."""

    def __init__(self, state: MemoryState) -> None:
        self._tables = _Tables(state)

    async def page(self, where: RecordFilter, limit: int, offset: int) -> Page[IncomeRecord]:
        """One page of the matching records in table order, and how many match."""
        found = self._tables.matching(where)
        return Page(found[offset : offset + limit], len(found), limit, offset)

    async def after(self, where: RecordFilter, place: TablePlace | None, limit: int) -> RecordChunk:
        """The first ``limit`` matching records after ``place`` in table order."""
        places = self._tables.order
        found = self._tables.matching(where)
        start = 0 if place is None else bisect.bisect_right(found, place, key=lambda record: places[record.id])
        items = found[start : start + limit]
        return RecordChunk(items, places[items[-1].id] if items else None)

    async def get(self, record_id: int) -> IncomeRecord | None:
        """The record with this id, if any."""
        return self._tables.records.get(record_id)

    async def lock_populations(self, race: str) -> list[str]:
        """The race's population headings, each once, sorted (units run one at a time: nothing more to hold)."""
        records = self._tables.records.values()
        return sorted({record.observation.population for record in records if record.race == race})

    async def add(self, dataset: Dataset, observation: Observation) -> IncomeRecord:
        """Append a record to ``dataset``; raises ``RecordExists`` on a duplicate natural key."""
        stored = self._tables.datasets.get(dataset.id)
        if stored is None:
            raise DatasetGone(dataset.race)
        position = self._tables.next_position(dataset.id)
        return self._tables.insert(
            dataset.id, dataset.race, stored.constant_dollar_year, observation, position=position
        )

    async def delete(self, record_id: int) -> bool:
        """Delete one record."""
        return self._tables.delete_record(record_id)

    async def for_comparison(self, races: Sequence[str], age_range: str, years: Sequence[int]) -> list[IncomeRecord]:
        """The records of these races, age bracket and years, in table order."""
        found = [
            record
            for record in self._tables.records.values()
            if record.race in races and record.observation.age_range == age_range and record.observation.year in years
        ]
        return self._tables.in_table_order(found)

    async def tables(
        self, races: Sequence[str] | None = None, age_ranges: Sequence[str] | None = None, year: int | None = None
    ) -> list[LoadedTable]:
        """These races' records (and brackets, or of ``year``) with their dataset's title and dollars, in order."""
        tables = self._tables
        rows: dict[int, list[Observation]] = {}
        for record in tables.in_table_order(list(tables.records.values())):
            wanted = age_ranges is None or record.observation.age_range in age_ranges or record.observation.year == year
            if wanted and (races is None or record.race in races) and record.dataset_id in tables.datasets:
                rows.setdefault(record.dataset_id, []).append(record.observation)
        return [
            LoadedTable(dataset_id, stored.dataset.race, stored.dataset.title, stored.constant_dollar_year, found)
            for dataset_id, found in rows.items()
            for stored in (tables.datasets[dataset_id],)
        ]
