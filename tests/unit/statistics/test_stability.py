"""Population stability index: hand computations, its bins, and the properties it must keep."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskops.statistics.stability import (
    EPSILON,
    categorical_stability,
    numeric_stability,
    population_stability_index,
    quantile_edges,
)


def test_psi_of_two_bins_by_hand() -> None:
    # (0.6 − 0.5)·ln(0.6/0.5) + (0.4 − 0.5)·ln(0.4/0.5)
    expected = 0.1 * np.log(1.2) - 0.1 * np.log(0.8)
    assert population_stability_index([0.5, 0.5], [0.6, 0.4]) == pytest.approx(expected)


def test_an_empty_bin_is_floored_at_epsilon() -> None:
    value = population_stability_index([0.5, 0.5, 0.0], [0.4, 0.4, 0.2])
    by_hand = 2 * (0.4 - 0.5) * np.log(0.4 / 0.5) + (0.2 - EPSILON) * np.log(0.2 / EPSILON)
    assert value == pytest.approx(by_hand)


def test_numeric_bins_are_the_expected_samples_deciles() -> None:
    expected = np.arange(1.0, 101.0)  # deciles at 10, 20, ..., 90
    actual = np.concatenate([np.arange(1.0, 51.0), np.arange(1.0, 51.0)])  # all in the lower half
    index = numeric_stability(expected, actual, bins=10)
    assert len(index.bins) == 10
    assert [b.expected_count for b in index.bins] == [10] * 10
    # The first five deciles hold 1..50 twice over; the upper five nothing.
    assert [b.actual_count for b in index.bins] == [20, 20, 20, 20, 20, 0, 0, 0, 0, 0]
    by_hand = 5 * (0.2 - 0.1) * np.log(0.2 / 0.1) + 5 * (EPSILON - 0.1) * np.log(EPSILON / 0.1)
    assert index.value == pytest.approx(by_hand)
    assert index.bins[0].lower is None
    assert index.bins[0].upper == 10.0
    assert index.bins[0].label == "(-inf, 10]"
    assert index.bins[-1].upper is None
    assert sum(b.contribution for b in index.bins) == pytest.approx(index.value)


def test_missing_values_get_their_own_bin() -> None:
    expected = np.array([1.0, 2.0, 3.0, 4.0])
    actual = np.array([1.0, 2.0, np.nan, np.nan])
    index = numeric_stability(expected, actual, bins=2)
    assert index.bins[-1].label == "missing"
    assert (index.bins[-1].expected_count, index.bins[-1].actual_count) == (0, 2)
    assert index.actual_rows == 4


def test_tied_quantiles_merge_into_fewer_bins() -> None:
    expected = np.repeat([1.0, 2.0, 3.0, 4.0], [60, 20, 10, 10])
    # Deciles 1 (x6), 2 (x2), 3 collapse to three cut points, so four bins.
    assert quantile_edges(expected, 10).tolist() == [1.0, 2.0, 3.0]
    index = numeric_stability(expected, expected, bins=10)
    assert index.value == 0.0
    assert [b.expected_count for b in index.bins] == [60, 20, 10, 10]


def test_categories_by_hand_with_missing_last() -> None:
    index = categorical_stability([0, 0, 1, -1], [0, 1, 1, 1], ["a", "b", "c"])
    assert [b.label for b in index.bins] == ["a", "b", "missing"]  # 'c' is empty in both
    assert [b.expected_share for b in index.bins] == [0.5, 0.25, 0.25]
    assert [b.actual_share for b in index.bins] == [0.25, 0.75, 0.0]
    by_hand = (
        (0.25 - 0.5) * np.log(0.25 / 0.5)
        + (0.75 - 0.25) * np.log(0.75 / 0.25)
        + (EPSILON - 0.25) * np.log(EPSILON / 0.25)
    )
    assert index.value == pytest.approx(by_hand)


def test_codes_outside_the_categories_are_refused() -> None:
    with pytest.raises(ValueError, match=r"codes must lie in \[-1, 1\]"):
        categorical_stability([0, 2], [0, 1], ["a", "b"])


values = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=80)


@given(values)
def test_a_sample_against_itself_is_perfectly_stable(sample: list[float]) -> None:
    assert numeric_stability(sample, sample, bins=10).value == 0.0


@given(values, values, st.integers(2, 20))
def test_psi_is_never_negative_and_its_shares_sum_to_one(
    expected: list[float], actual: list[float], bins: int
) -> None:
    index = numeric_stability(expected, actual, bins=bins)
    assert index.value >= 0.0
    assert sum(b.expected_share for b in index.bins) == pytest.approx(1.0)
    assert sum(b.actual_share for b in index.bins) == pytest.approx(1.0)


@given(
    st.lists(st.integers(-1, 3), min_size=1, max_size=50),
    st.lists(st.integers(-1, 3), min_size=1, max_size=50),
)
def test_categorical_psi_is_symmetric(first: list[int], second: list[int]) -> None:
    categories = ["a", "b", "c", "d"]
    forward = categorical_stability(first, second, categories).value
    backward = categorical_stability(second, first, categories).value
    assert forward == pytest.approx(backward)
    assert forward >= 0.0
