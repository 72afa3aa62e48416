"""Properties of the series arithmetic: chaining, breaks between estimates, and rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from libdib.domain import series_math as math
from libdib.domain.series_math import YearValues

positive = st.integers(1, 250_000).map(Fraction)
maybe = st.one_of(positive, st.none())


@st.composite
def plain_series(draw: st.DrawFn, values: st.SearchStrategy[Fraction | None] = maybe) -> list[YearValues]:
    """Consecutive years, each listed once, some without a value; at least two with one."""
    start = draw(st.integers(1967, 2010))
    found = draw(st.lists(values, min_size=2, max_size=30).filter(lambda vs: sum(v is not None for v in vs) >= 2))
    return [YearValues(start + offset, (value,)) for offset, value in enumerate(found)]


@st.composite
def twice_listed_series(draw: st.DrawFn) -> list[YearValues]:
    """Consecutive years, some listed twice with two different estimates, every estimate published."""
    start = draw(st.integers(1967, 2010))
    count = draw(st.integers(2, 30))
    return [
        YearValues(start + offset, tuple(draw(st.lists(positive, min_size=1, max_size=2)))) for offset in range(count)
    ]


def years_with_value(series: list[YearValues]) -> list[int]:
    return [point.year for point in series if point.has_value]


@given(plain_series(), st.data())
def test_a_chained_index_equals_the_direct_ratio_where_no_year_is_listed_twice(
    series: list[YearValues], data: st.DataObject
) -> None:
    base = data.draw(st.sampled_from(years_with_value(series)))
    base_value = next(point.head for point in series if point.year == base)
    index = math.index(series, base)
    for point in series:
        expected = None if point.head is None else 100 * point.head / base_value  # type: ignore[operator]
        assert index[point.year] == expected


@given(st.one_of(plain_series(), twice_listed_series()), st.data())
def test_change_since_is_the_sum_of_the_year_over_year_changes(series: list[YearValues], data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(years_with_value(series)))
    changes = math.changes(series)
    since = math.change_since(series, base)
    for year in years_with_value(series):
        between = [change for into, change in changes.items() if min(year, base) < into <= max(year, base)]
        known = [change for change in between if change is not None]
        if len(known) < len(between):
            continue
        total = sum(known, Fraction(0))
        assert since[year] == (total if year >= base else -total)


@given(st.one_of(plain_series(positive), twice_listed_series()), st.data())
def test_percent_change_since_and_index_agree(series: list[YearValues], data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(years_with_value(series)))
    index = math.index(series, base)
    percent = math.percent_change_since(series, base)
    for year, value in index.items():
        assert value is not None
        assert percent[year] == value - 100
        if abs(value) < 10**9:  # beyond that a float served as JSON carries no hundredths
            served = math.round_half_away(percent[year], 2)  # type: ignore[arg-type]
            assert abs(math.round_half_away(value, 2) - 100 - served) <= 0.01 + 1e-6


@given(
    st.lists(st.tuples(positive, st.booleans()), min_size=2, max_size=25),
    st.integers(1967, 2000),
    st.data(),
)
def test_a_break_between_two_estimates_never_shows_as_change(
    levels: list[tuple[Fraction, bool]], start: int, data: st.DataObject
) -> None:
    """Each run of years keeps one level; a new level starts only at a year listed twice (old and new estimate)."""
    series: list[YearValues] = []
    current = levels[0][0]
    for offset, (level, breaks) in enumerate(levels):
        if breaks and offset:
            # Listed newest first: the first-listed estimate continues later years (the new level).
            series.append(YearValues(start + offset, (level, current)))
            current = level
        else:
            series.append(YearValues(start + offset, (current,)))
    base = data.draw(st.sampled_from(years_with_value(series)))
    assert set(math.changes(series).values()) == {0}
    assert set(math.change_since(series, base).values()) == {0}
    assert set(math.index(series, base).values()) == {100}
    assert set(math.percent_changes(series).values()) == {0}


@given(st.fractions(min_value=-(10**7), max_value=10**7, max_denominator=10**6), st.sampled_from([0, 2, 4]))
def test_rounding_is_half_away_from_zero_as_decimal_rounds_half_up(value: Fraction, places: int) -> None:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    expected = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    # Decimal's own division may round at 28 digits: only compare where it is exact enough to tell.
    if abs(Fraction(exact) - value) < Fraction(1, 10**20):
        assert Decimal(str(math.round_half_away(value, places))) == expected


@given(st.integers(0, 10**6), st.sampled_from([0, 2, 4]))
def test_a_tie_rounds_away_from_zero_on_both_sides(units: int, places: int) -> None:
    tie = Fraction(2 * units + 1, 2 * 10**places)
    served = (units + 1) / 10**places  # the float closest to the decimal, as JSON shows it
    assert math.round_half_away(tie, places) == served
    assert math.round_half_away(-tie, places) == -served


def test_a_change_into_a_year_listed_twice_uses_its_second_estimate_and_out_of_it_the_first() -> None:
    series = [
        YearValues(2012, (Fraction(100),)),
        YearValues(2013, (Fraction(130), Fraction(110))),
        YearValues(2014, (Fraction(140),)),
    ]

    assert math.changes(series) == {2013: 10, 2014: 10}
    assert math.index(series, 2012) == {2012: 100, 2013: 110, 2014: Fraction(110) * 140 / 130}


def test_a_missing_year_is_skipped_and_a_zero_start_leaves_growth_undefined() -> None:
    series = [YearValues(2010, (Fraction(0),)), YearValues(2011, (None,)), YearValues(2012, (Fraction(5),))]

    assert math.changes(series) == {2012: 5}
    assert math.percent_changes(series) == {2012: None}
    assert math.index(series, 2012) == {2010: None, 2011: None, 2012: 100}


def test_k_is_the_ratio_of_the_sums_where_both_medians_are_published() -> None:
    assert math.dollar_factor([(100, 200), (50, None), (None, 70), (300, 400)]) == Fraction(400, 600)
    assert math.dollar_factor([(None, 1)]) is None


def test_a_ratio_or_difference_keeps_the_years_where_both_have_a_value() -> None:
    first = [
        YearValues(2012, (Fraction(10),)),
        YearValues(2013, (Fraction(12), Fraction(11))),
        YearValues(2014, (None,)),
    ]
    second = [YearValues(2013, (Fraction(4),)), YearValues(2014, (Fraction(5),)), YearValues(2015, (Fraction(1),))]

    assert math.combine(first, second, math.difference) == [YearValues(2013, (Fraction(8), Fraction(7)))]
    assert math.combine(first, [YearValues(2013, (Fraction(0),))], math.ratio) == []
