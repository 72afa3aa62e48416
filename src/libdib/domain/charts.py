"""What a chart shows, decided by the domain; a ``ChartRenderer`` adapter only draws it."""

from __future__ import annotations

import enum
from dataclasses import dataclass

SOURCE_LINE = "Source: U.S. Census Bureau, Current Population Survey, Table P-8"


class ChartFormat(enum.StrEnum):
    """The image formats a chart is drawn in."""

    SVG = "svg"
    PNG = "png"


@dataclass(frozen=True, slots=True)
class ChartLine:
    """One series: its legend label, the unit of its axis and its points (``None`` leaves a gap)."""

    label: str
    unit: str
    points: tuple[tuple[int, float | None], ...]
    derived: bool = False
    """A compare series (difference or ratio), drawn heavier than the races' own."""


@dataclass(frozen=True, slots=True)
class Chart:
    """A line chart over years: title, lines, the years a table lists twice, and the source line."""

    title: str
    lines: tuple[ChartLine, ...]
    listed_twice: tuple[int, ...]
    source: str = SOURCE_LINE
    x_label: str = "Year"

    @property
    def units(self) -> tuple[str, ...]:
        """The distinct units of the lines, in order of appearance: one axis each (at most two)."""
        return tuple(dict.fromkeys(line.unit for line in self.lines))
