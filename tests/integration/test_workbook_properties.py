"""Property tests: any table written in the full published P-8 layout reads back cell for cell."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from libdib.adapters.workbook import PolarsWorkbookReader
from libdib.domain.ports import Workbook
from tests.support.p8 import RACE_KEYS, P8Table, expected_observations, p8_tables, p8_workbook

READER = PolarsWorkbookReader()


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=p8_tables())
def test_a_generated_table_reads_back_cell_for_cell_with_symbols_as_none(table: P8Table) -> None:
    census_table = READER.read(Workbook("generated.xlsx", p8_workbook(table)))

    assert census_table.observations == expected_observations(table)
    assert (census_table.race, census_table.title) == (RACE_KEYS[table.race], table.title)
    assert census_table.constant_dollar_year == table.constant_dollar_year


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=p8_tables())
def test_a_table_written_with_inline_strings_reads_the_same(table: P8Table) -> None:
    census_table = READER.read(Workbook("generated.xlsx", p8_workbook(table, constant_memory=True)))

    assert census_table.observations == expected_observations(table)
