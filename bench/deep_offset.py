"""How long a deep page of one race group takes: ``GET /records?race=black&limit=1000&offset=300000``.

Runs the repository's page statement on a scratch PostgreSQL database holding 1,200,000 records (400,000
of race ``black``), with and without the (race, dataset, position) index of migration 0005, and prints the median of
several runs of each. ``uv run python -m bench.deep_offset``
"""

from __future__ import annotations

import asyncio
import statistics
import time

from bench.harness import run_sql, scratch_database, sqlalchemy_url, stop_cleanly_on_sigterm
from libdib.adapters.sql.census import SqlRecordRepository
from libdib.adapters.sql.engine import create_engine
from libdib.adapters.sql.migrate import upgrade
from libdib.domain.ports import RecordFilter

ROWS_PER_RACE = 400_000
RUNS = 7
DATASETS = """
INSERT INTO datasets (race, title, source, sha256, rows, first_year, last_year, constant_dollar_year, loaded_at)
SELECT race, 'P-8 ' || race, 'generated', repeat('0', 64), {rows}, 1940, 2039, 2019, now()
FROM unnest(ARRAY['asian', 'black', 'white']) AS race
"""
RECORDS = """
INSERT INTO income_records (dataset_id, race, population, age_range, year, footnote, male_number_with_income,
    male_median_income_current, male_median_income_constant, female_number_with_income,
    female_median_income_current, female_median_income_constant, constant_dollar_year, position)
SELECT d.id, d.race, 'Population ' || (n / 1000), '25-34', 1940 + n % 1000 / 10, (n % 10)::text, n, n, n, n, n, n,
    2019, n
FROM datasets AS d, generate_series(1, {rows}) AS n
"""


async def median_page_seconds(url: str) -> float:
    """The median wall time of the deep page (and its total) through ``SqlRecordRepository.page``."""
    engine = create_engine(url, 2)
    timings = []
    try:
        for _ in range(RUNS):
            started = time.perf_counter()
            async with engine.connect() as connection:
                page = await SqlRecordRepository(connection).page(RecordFilter(races=("black",)), 1000, 300_000)
            timings.append(time.perf_counter() - started)
            assert len(page.items) == 1000
            assert page.total == ROWS_PER_RACE
    finally:
        await engine.dispose()
    return statistics.median(timings)


def main() -> None:
    stop_cleanly_on_sigterm()
    with scratch_database() as dsn:
        url = sqlalchemy_url(dsn)
        upgrade(url)
        run_sql(dsn, DATASETS.format(rows=ROWS_PER_RACE), RECORDS.format(rows=ROWS_PER_RACE))
        run_sql(dsn, "VACUUM ANALYZE income_records")
        with_index = asyncio.run(median_page_seconds(url))
        run_sql(dsn, "DROP INDEX ix_income_records_race_table_order", "ANALYZE income_records")
        without_index = asyncio.run(median_page_seconds(url))
    print(f"race=black&limit=1000&offset=300000 over {3 * ROWS_PER_RACE:,} records, median of {RUNS} runs")
    print(f"  with the (race, dataset, position) index: {with_index * 1000:8.1f} ms")
    print(f"  without it:                               {without_index * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
