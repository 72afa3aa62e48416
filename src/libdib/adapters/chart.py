"""Charts drawn with matplotlib's object-oriented API, in a child process so that no request waits on one.

matplotlib holds the GIL while it lays out and draws, so a chart drawn in a thread would slow every other
request of the worker; a process does not. The child draws on figures of its own (``_Canvas``): no pyplot state.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import os
import textwrap
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from libdib.adapters.child_processes import exit_with_parent
from libdib.domain.charts import Chart, ChartFormat, ChartLine
from libdib.domain.errors import Unavailable
from libdib.domain.ports import ChartRenderer

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.text import Text

MAX_WAITING = 8
"""Charts a worker draws or queues at once; past that a request is told to come back (503)."""
WIDTH_INCHES, HEIGHT_INCHES, DPI = 10.0, 5.6, 100
LEGEND_COLUMNS_FEW, LEGEND_COLUMNS_MANY = 3, 2
"""Legend columns for up to six entries, and for more (long labels need the width)."""
LEGEND_ROW_INCHES = 0.2
TITLE_WIDTH = 90
THOUSANDS_UNITS = ("dollars", "thousands of people")


class ChartsBusy(Unavailable):
    """Too many charts are being drawn; try again shortly."""

    def __init__(self) -> None:
        super().__init__("too many charts are being drawn right now; try again in a moment")


class MatplotlibChartRenderer(ChartRenderer):
    """Draws charts in the process's chart child, at most ``max_waiting`` at a time from this renderer."""

    def __init__(self, max_waiting: int = MAX_WAITING) -> None:
        self._max_waiting = max_waiting
        self._waiting = 0

    async def render(self, chart: Chart, image_format: ChartFormat) -> bytes:
        """The chart as SVG or PNG bytes; ``ChartsBusy`` past the queue bound or when the child died."""
        if self._waiting >= self._max_waiting:
            raise ChartsBusy()
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(_pool(), draw, chart, image_format)
        except BrokenProcessPool:
            _POOL.clear()
            raise ChartsBusy() from None
        finally:
            self._waiting -= 1


_POOL: list[ProcessPoolExecutor] = []
"""The one chart child of this process, started on the first chart: starting it (importing matplotlib) takes
seconds, so every renderer of the process shares it. It ends with the process, however that ends (see
``child_processes``)."""


def start_chart_process() -> None:
    """Start the chart child now and let it import matplotlib, so that the first chart waits for neither.

    Fire and forget: a child that fails to start is found broken by the first chart, which answers 503.
    """
    _pool().submit(_prepare)


def _prepare() -> None:
    """In the child: import what ``draw`` needs (the imports are most of a first chart's time)."""
    import matplotlib.backends.backend_svg
    import matplotlib.figure  # noqa: F401


def _pool() -> ProcessPoolExecutor:
    if not _POOL:
        # spawn, not fork: the server's threads and event loop must not be copied into the child.
        spawn = multiprocessing.get_context("spawn")
        _POOL.append(
            ProcessPoolExecutor(max_workers=1, mp_context=spawn, initializer=exit_with_parent, initargs=(os.getpid(),))
        )
    return _POOL[0]


def draw(chart: Chart, image_format: ChartFormat) -> bytes:
    """Draw ``chart``: title, one axis per unit (at most two), a legend, the years listed twice and the source."""
    canvas = _canvas(chart)
    try:
        return _draw_on(canvas, chart, image_format)
    except BaseException:
        # A chart that failed halfway may have left lines or settings on its canvas: no later chart may see them.
        _CANVASES.clear()
        raise


def _draw_on(canvas: _Canvas, chart: Chart, image_format: ChartFormat) -> bytes:
    import matplotlib  # imported in the child only: the server process never pays for it
    from matplotlib.ticker import FuncFormatter, ScalarFormatter

    # The legend goes in columns under the axes, where it never hides a line, whatever their number; a fixed
    # place also spares matplotlib's search for the emptiest corner, a good part of a small chart's drawing time.
    entries = len(chart.lines) + bool(chart.listed_twice)
    columns = LEGEND_COLUMNS_FEW if entries <= LEGEND_COLUMNS_FEW * 2 else LEGEND_COLUMNS_MANY
    legend_rows = -(-entries // columns)
    height = HEIGHT_INCHES + legend_rows * LEGEND_ROW_INCHES
    figure, axes = canvas.figure, canvas.axes[0]
    figure.set_size_inches(WIDTH_INCHES, height)
    bottom = (0.95 + legend_rows * LEGEND_ROW_INCHES) / height
    right = 0.91 if len(canvas.axes) > 1 else 0.97
    figure.subplots_adjust(left=0.09, right=right, top=1 - 0.75 / height, bottom=bottom)
    axes_of = dict(zip(chart.units, canvas.axes, strict=False))
    palette = matplotlib.colormaps["tab10" if len(chart.lines) <= 10 else "tab20"]
    handles: list[Any] = []
    for number, line in enumerate(chart.lines):
        handles += _plot(axes_of.get(line.unit, axes), line, palette(number % palette.N))
    for unit, on in axes_of.items():
        on.set_ylabel(unit)
        thousands = unit.endswith(THOUSANDS_UNITS)
        on.yaxis.set_major_formatter(FuncFormatter(_thousands) if thousands else ScalarFormatter())
    axes.set_xlabel(chart.x_label)
    for number, year in enumerate(chart.listed_twice):
        label = "year listed twice (two estimates)" if number == 0 else None
        handles.append(axes.axvline(year, color="#888888", linestyle=":", linewidth=1.2, label=label))
    labelled = [handle for handle in handles if not str(handle.get_label()).startswith("_")]
    anchor = (0.5, 0.3 / height)  # just above the source line
    legend = figure.legend(
        handles=labelled, loc="lower center", bbox_to_anchor=anchor, ncol=columns, fontsize=8, frameon=False
    )
    canvas.drawn += [*handles, legend]
    canvas.title.set_text("\n".join(textwrap.wrap(chart.title, TITLE_WIDTH)))
    canvas.source.set_text(chart.source)
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "libdib"}):
        # Text stays text in SVG (searchable, and names the series); no date, so the same chart gives the same bytes.
        metadata = {"Date": None} if image_format is ChartFormat.SVG else {"Software": "libdib"}
        figure.savefig(buffer, format=image_format.value, metadata=metadata)
    return buffer.getvalue()


@dataclass(slots=True)
class _Canvas:
    """A figure and what every chart of one axes layout has: the axes, their grid and ticks, the title and source.

    Building the axes and their ticks is much of a chart's drawing time, so a chart child keeps one canvas per layout
    and each chart removes what the one before it drew (``drawn``) and sets its own lines, labels, legend and size.
    """

    figure: Figure
    axes: tuple[Axes, ...]
    title: Text
    source: Text
    drawn: list[Artist] = field(default_factory=list)

    @classmethod
    def new(cls, axes_count: int) -> _Canvas:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
        axes = figure.add_subplot()
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(visible=True, color="#dddddd", linewidth=0.6)
        every_axes = (axes, axes.twinx()) if axes_count > 1 else (axes,)
        title = figure.suptitle("", fontsize=12)
        source = figure.text(0.01, 0.01, "", fontsize=8, color="#555555")
        return cls(figure, every_axes, title, source)

    def clear(self) -> None:
        """Remove the last chart's lines and legend, and forget their data limits."""
        for artist in self.drawn:
            artist.remove()
        self.drawn.clear()
        for axes in self.axes:
            axes.relim()


_CANVASES: dict[int, _Canvas] = {}
"""In a chart child: the canvas kept for each number of axes."""


def _canvas(chart: Chart) -> _Canvas:
    """A clear canvas for ``chart``: the kept one of its layout, or a new one when an axis would have no point.

    An axes with no data keeps whatever range it was last shown, so a kept canvas would show the chart before's.
    """
    axes_count = min(len(chart.units), 2)
    plotted = {line.unit for line in chart.lines if any(value is not None for _, value in line.points)}
    if not plotted or plotted != set(chart.units):
        return _Canvas.new(axes_count)
    canvas = _CANVASES.get(axes_count)
    if canvas is None:
        canvas = _CANVASES[axes_count] = _Canvas.new(axes_count)
    canvas.clear()
    return canvas


def _thousands(value: float, _: object) -> str:
    return f"{value:,.0f}"


def _plot(axes: Any, line: ChartLine, color: Any) -> list[Any]:
    years = [year for year, _ in line.points]
    values = [float("nan") if value is None else value for _, value in line.points]
    width, style = (2.6, "-") if line.derived else (1.5, "-" if len(line.points) else "--")
    return list(
        axes.plot(
            years, values, color=color, linewidth=width, linestyle=style, marker="o", markersize=3, label=line.label
        )
    )
