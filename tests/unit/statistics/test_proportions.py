"""Wilson intervals and minimum detectable differences: published values and the properties
that make them usable (the interval holds the rate, narrows with rows; the size formula inverts
the difference formula)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskops.statistics.proportions import (
    group_size_to_detect,
    minimum_detectable_difference,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("events", "rows", "low", "high"),
    [
        (3, 10, 0.1078, 0.6032),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
    ],
)
def test_wilson_interval_matches_published_values(
    events: int, rows: int, low: float, high: float
) -> None:
    assert wilson_interval(events, rows) == (
        pytest.approx(low, abs=1e-4),
        pytest.approx(high, abs=1e-4),
    )


def test_wilson_interval_of_no_rows_is_empty_and_bad_counts_are_refused() -> None:
    assert wilson_interval(0, 0) == (None, None)
    with pytest.raises(ValueError, match="need 0 <= events <= rows, not 5 of 3"):
        wilson_interval(5, 3)


@given(st.integers(1, 400), st.data(), st.integers(2, 6))
def test_wilson_interval_holds_the_rate_and_narrows_with_rows(
    rows: int, data: st.DataObject, factor: int
) -> None:
    events = data.draw(st.integers(0, rows))
    low, high = wilson_interval(events, rows)
    assert low is not None
    assert high is not None
    assert 0.0 <= low <= events / rows <= high <= 1.0
    more_low, more_high = wilson_interval(events * factor, rows * factor)
    assert more_low is not None
    assert more_high is not None
    assert more_high - more_low < high - low


@given(st.integers(2, 5000), st.integers(2, 5000), st.floats(0.05, 0.95))
def test_detectable_difference_shrinks_with_rows_and_the_size_formula_inverts_it(
    rows: int, other: int, rate: float
) -> None:
    delta = minimum_detectable_difference(rows, other, rate=rate)
    assert delta is not None
    assert delta > 0
    bigger = minimum_detectable_difference(rows * 2, other, rate=rate)
    assert bigger is not None
    assert bigger < delta
    if delta <= 1.0:
        needed = group_size_to_detect(delta, rate=rate, other_rows=other)
        assert needed is not None
        assert abs(needed - rows) <= 1


def test_thirty_rows_detect_only_a_large_gap() -> None:
    # 2.802 * sqrt(0.25 / 30) = 0.2558 against an unlimited reference at a 50% rate.
    assert minimum_detectable_difference(30, None, rate=0.5) == pytest.approx(0.2558, abs=1e-4)
    # A ten-point gap needs 2.802² · 0.25 / 0.01 = 196.2 → 197 rows; a reference of 150 rows
    # cannot get there at any group size.
    assert group_size_to_detect(0.1, rate=0.5) == 197
    assert group_size_to_detect(0.1, rate=0.5, other_rows=150) is None
    assert minimum_detectable_difference(0, 10, rate=0.5) is None
