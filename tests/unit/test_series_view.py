"""Series and dimensions read through the worker's census view: no store read while its lease holds, and the
new data once a load through another worker has answered."""

from __future__ import annotations

import pytest

from libdib.adapters.memory.store import InMemoryStore
from libdib.domain.charts import Chart, ChartFormat
from libdib.domain.ports import ChartRenderer
from libdib.domain.series_query import check_query
from libdib.domain.series_service import SeriesService
from tests.unit.test_token_memo import workers

pytestmark = pytest.mark.anyio

QUERY = check_query("asian", sex="female", age_range="25-34")


class NoCharts(ChartRenderer):
    async def render(self, chart: Chart, image_format: ChartFormat) -> bytes:
        raise AssertionError(f"no chart is asked for here, got {chart.title!r} as {image_format}")


async def test_a_series_held_by_a_worker_is_answered_without_the_store_until_it_changes() -> None:
    store = InMemoryStore()
    async with workers(store) as (first, second):
        series = SeriesService(view=second.held.census, charts=NoCharts())
        await first.datasets.load(["first.xlsx"])
        before = await series.series(QUERY)
        dimensions = await series.dimensions()
        await second.held.sync()  # a fresh lease, however slow the machine is right now

        store.available = False
        assert await series.series(QUERY) == before
        assert await series.dimensions() == dimensions
        store.available = True

        await first.datasets.load(["second.xlsx"])
        after = await series.series(QUERY)

    assert [point.year for point in before.series[0].points] == [2018, 2019]
    assert [point.year for point in after.series[0].points] == [2017]
