"""The arithmetic of series, in exact fractions over plain values: chained changes, re-basing, rounding.

A series is a list of ``YearValues`` in ascending years. A year listed twice in a table has two estimates:
the first-listed one continues the series toward later years, the last-listed one toward earlier years.
So a step from one year to the next always runs from the earlier year's first-listed estimate to the later
year's last-listed one, and the gap between two estimates of one year (a break) never counts as change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import floor

Value = Fraction | None
"""An exact value, or ``None`` where the table has a symbol or a value is undefined."""
HALF = Fraction(1, 2)
HUNDRED = Fraction(100)


@dataclass(frozen=True, slots=True)
class YearValues:
    """One year of a series: the values of its estimates in table order (one, or two for a year listed twice)."""

    year: int
    values: tuple[Value, ...]

    @property
    def head(self) -> Value:
        """The first-listed estimate: it continues the series toward later years."""
        return self.values[0]

    @property
    def tail(self) -> Value:
        """The last-listed estimate: it continues the series toward earlier years."""
        return self.values[-1]

    @property
    def has_value(self) -> bool:
        """Whether any estimate of the year is published."""
        return any(value is not None for value in self.values)


@dataclass(frozen=True, slots=True)
class Step:
    """The move into ``year`` from ``since``, the previous year with a value: from its head to ``year``'s tail."""

    since: int
    year: int
    start: Value
    end: Value

    @property
    def change(self) -> Value:
        """``end - start``, or ``None`` when either is missing."""
        return None if self.start is None or self.end is None else self.end - self.start

    @property
    def growth(self) -> Value:
        """``end / start``, or ``None`` when either is missing or ``start`` is 0."""
        return None if self.start is None or self.end is None or self.start == 0 else self.end / self.start


def round_half_away(value: Fraction, places: int) -> int | float:
    """``value`` rounded to ``places`` decimals, ties away from zero; an ``int`` for 0 places.

    Exact: the fraction is rounded, then divided once, so the float is the closest one to the decimal.
    """
    if value.denominator == 1:
        return value.numerator if places == 0 else float(value.numerator)
    scale = 10**places
    magnitude: int = floor(abs(value) * scale + HALF)
    signed = magnitude if value >= 0 else -magnitude
    return signed if places == 0 else signed / scale


def steps(series: Sequence[YearValues]) -> list[Step]:
    """The step into each year with a value from the previous year with a value (none into the first)."""
    found: list[Step] = []
    previous: YearValues | None = None
    for point in series:
        if not point.has_value:
            continue
        if previous is not None:
            found.append(Step(previous.year, point.year, previous.head, point.tail))
        previous = point
    return found


def changes(series: Sequence[YearValues]) -> dict[int, Value]:
    """Each year's change from the previous year with a value."""
    return {step.year: step.change for step in steps(series)}


def percent_changes(series: Sequence[YearValues]) -> dict[int, Value]:
    """Each year's percent change from the previous year with a value."""
    return {step.year: _percent(step.growth) for step in steps(series)}


def change_since(series: Sequence[YearValues], base_year: int) -> dict[int, Value]:
    """Each year's change from ``base_year``: the sum of the year-over-year changes between them (0 in the base)."""
    return _accumulate(
        series, base_year, start=Fraction(0), of=lambda step: step.change, forward=_add, backward=_subtract
    )


def index(series: Sequence[YearValues], base_year: int) -> dict[int, Value]:
    """Each year's index, ``base_year`` = 100: 100 times the product of the year-over-year growths between them."""
    return _accumulate(
        series, base_year, start=HUNDRED, of=lambda step: step.growth, forward=_multiply, backward=_divide
    )


def percent_change_since(series: Sequence[YearValues], base_year: int) -> dict[int, Value]:
    """Each year's percent change from ``base_year``, chained: the index minus 100."""
    return {year: None if value is None else value - HUNDRED for year, value in index(series, base_year).items()}


def has_value_in(series: Sequence[YearValues], year: int) -> bool:
    """Whether the series has a published value in ``year``."""
    return any(point.year == year and point.has_value for point in series)


def combine(
    first: Sequence[YearValues], second: Sequence[YearValues], operation: Callable[[Fraction, Fraction], Value]
) -> list[YearValues]:
    """``operation(first, second)`` year by year where both have a value, estimate by estimate.

    A year listed twice in one series and once in the other pairs the single estimate with both.
    """
    by_year = {point.year: point for point in second}
    combined = []
    for point in first:
        other = by_year.get(point.year)
        if other is None:
            continue
        count = max(len(point.values), len(other.values))
        values = tuple(
            _apply(operation, _estimate(point, position, count), _estimate(other, position, count))
            for position in range(count)
        )
        if any(value is not None for value in values):
            combined.append(YearValues(point.year, values))
    return combined


def difference(first: Fraction, second: Fraction) -> Value:
    """The first value minus the second."""
    return first - second


def ratio(first: Fraction, second: Fraction) -> Value:
    """The first value divided by the second; ``None`` when the second is 0."""
    return None if second == 0 else first / second


def dollar_factor(pairs: Iterable[tuple[int | None, int | None]]) -> Fraction | None:
    """k(Y): the sum of current-dollar medians over the sum of constant-dollar ones, where both are published.

    ``pairs`` are (current, constant) medians of every first-listed row of year Y; ``None`` when none has both.
    """
    current = constant = 0
    for now, then in pairs:
        if now is not None and then is not None:
            current += now
            constant += then
    return None if constant == 0 else Fraction(current, constant)


def _estimate(point: YearValues, position: int, count: int) -> Value:
    """Estimate ``position`` of ``count``: the first and last positions are the head and tail of any year."""
    if position == count - 1:
        return point.tail
    return point.values[min(position, len(point.values) - 1)]


def _apply(operation: Callable[[Fraction, Fraction], Value], first: Value, second: Value) -> Value:
    return None if first is None or second is None else operation(first, second)


def _percent(growth: Value) -> Value:
    return None if growth is None else (growth - 1) * HUNDRED


def _accumulate(
    series: Sequence[YearValues],
    base_year: int,
    *,
    start: Fraction,
    of: Callable[[Step], Value],
    forward: Callable[[Fraction, Fraction], Fraction],
    backward: Callable[[Fraction, Fraction], Value],
) -> dict[int, Value]:
    """Walk the steps out from ``base_year`` both ways; a missing or undefined step breaks the chain beyond it."""
    chain = steps(series)
    result: dict[int, Value] = dict.fromkeys((point.year for point in series), None)
    if not has_value_in(series, base_year):
        return result
    result[base_year] = start
    value: Value = start
    for step in chain:
        if step.year > base_year:
            amount = of(step)
            value = None if value is None or amount is None else forward(value, amount)
            result[step.year] = value
    value = start
    for step in reversed(chain):
        if step.year <= base_year:
            amount = of(step)
            value = None if value is None or amount is None else backward(value, amount)
            result[step.since] = value
    return result


def _add(value: Fraction, amount: Fraction) -> Fraction:
    return value + amount


def _subtract(value: Fraction, amount: Fraction) -> Value:
    return value - amount


def _multiply(value: Fraction, amount: Fraction) -> Fraction:
    return value * amount


def _divide(value: Fraction, amount: Fraction) -> Value:
    return None if amount == 0 else value / amount
