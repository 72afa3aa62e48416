"""The matplotlib renderer: SVG and PNG that name what they show, drawn in a child process while the loop runs."""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from libdib.adapters.chart import ChartsBusy, MatplotlibChartRenderer, draw
from libdib.domain.charts import SOURCE_LINE, Chart, ChartFormat, ChartLine

pytestmark = pytest.mark.anyio

YEARS = range(1967, 2020)


def lines(count: int) -> tuple[ChartLine, ...]:
    return tuple(
        ChartLine(f"Series {n}", "2019 dollars", tuple((y, None if y == 1990 else 1000.0 * n + y) for y in YEARS))
        for n in range(count)
    )


def svg_text(content: bytes) -> str:
    root = ET.fromstring(content)  # noqa: S314 - our own output
    return " ".join("".join(element.itertext()) for element in root.iter())


def test_a_fourteen_series_chart_names_each_series_in_svg_and_decodes_as_png() -> None:
    chart = Chart("Fourteen series, 1967-2019", lines(14), listed_twice=(2013, 2017))

    text = svg_text(draw(chart, ChartFormat.SVG))
    png = Image.open(io.BytesIO(draw(chart, ChartFormat.PNG)))

    assert all(f"Series {n}" in text for n in range(14))
    assert "2019 dollars" in text
    assert "Year" in text
    assert SOURCE_LINE in text
    assert "year listed twice (two estimates)" in text
    assert png.format == "PNG"
    assert png.width >= 800


def test_two_units_get_two_axes() -> None:
    ratio = ChartLine("A / B", "ratio", ((2018, 1.1), (2019, 1.2)), derived=True)
    chart = Chart("Ratio and levels", (ratio, *lines(2)), listed_twice=())

    text = svg_text(draw(chart, ChartFormat.SVG))

    assert "ratio" in text
    assert "2019 dollars" in text


VARIED_CHARTS = (
    Chart("Fourteen series", lines(14), listed_twice=(2013, 2017)),
    Chart("One series", lines(1), listed_twice=()),
    Chart("Ratio and levels", (ChartLine("A / B", "ratio", ((2018, 1.1), (2019, 1.2)), derived=True), *lines(2)), ()),
    Chart("Two years", (ChartLine("Short", "2019 dollars", ((2002, 5.0), (2003, 7.0))),), listed_twice=(2002,)),
    Chart("A series with no value", (ChartLine("None at all", "2019 dollars", ((2018, None), (2019, None))),), ()),
    Chart("A long title " * 12, lines(3), listed_twice=(2013,)),
)


@pytest.mark.parametrize("image_format", list(ChartFormat))
def test_a_chart_is_drawn_the_same_whatever_was_drawn_before_it(image_format: ChartFormat) -> None:
    """A chart child keeps its figures between charts: nothing of one chart may show in the next."""
    forward = list(VARIED_CHARTS)
    orders = (forward, forward[::-1], forward[::2] + forward[1::2])  # each chart after a different one each time
    drawn: dict[str, set[bytes]] = {chart.title: set() for chart in VARIED_CHARTS}
    for order in orders:
        for chart in order:
            drawn[chart.title].add(draw(chart, image_format))

    assert {title: len(images) for title, images in drawn.items()} == dict.fromkeys(drawn, 1)


def test_a_chart_that_fails_halfway_leaves_nothing_in_the_next() -> None:
    chart = Chart("One series", lines(1), listed_twice=())
    before = draw(chart, ChartFormat.SVG)
    unplottable = ChartLine("Not a number", "2019 dollars", ((2018, object()),))  # type: ignore[arg-type]

    with pytest.raises(TypeError):
        draw(Chart("Fails at its second line", (*lines(1), unplottable), ()), ChartFormat.SVG)

    assert draw(chart, ChartFormat.SVG) == before


async def test_the_event_loop_keeps_running_while_a_chart_is_drawn() -> None:
    renderer = MatplotlibChartRenderer()
    await renderer.render(Chart("warm", lines(1), ()), ChartFormat.SVG)  # starts the child process
    chart = asyncio.ensure_future(renderer.render(Chart("Busy", lines(14), ()), ChartFormat.PNG))
    ticks = 0
    while not chart.done():
        ticks += 1
        await asyncio.sleep(0.001)

    assert (await chart).startswith(b"\x89PNG")
    assert ticks > 1


async def test_past_its_queue_bound_a_renderer_says_it_is_busy() -> None:
    renderer = MatplotlibChartRenderer(max_waiting=1)
    first = asyncio.ensure_future(renderer.render(Chart("one", lines(3), ()), ChartFormat.SVG))
    await asyncio.sleep(0)

    with pytest.raises(ChartsBusy):
        await renderer.render(Chart("two", lines(3), ()), ChartFormat.SVG)
    assert (await first).startswith(b"<?xml")


async def test_serving_starts_the_chart_process_before_the_first_chart(client: object) -> None:
    """The app's start launches the chart child (importing matplotlib takes seconds), not the first chart."""
    del client  # its lifespan has run
    children = multiprocessing.active_children()

    assert any(child.name.startswith("SpawnProcess") for child in children), children
