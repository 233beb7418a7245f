"""Group outcomes need fairlearn, the ``validate`` extra; without it the gate says so. Their
stratified bootstrap intervals hold the estimates and narrow with more rows."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskops.errors import MissingExtraError
from riskops.statistics.fairness import (
    FairnessIntervals,
    GroupOutcome,
    approval_rate_ratio,
    bootstrap_intervals,
    group_outcomes,
)


def test_group_outcomes_compare_approval_rates() -> None:
    outcomes = group_outcomes(
        ["a", "a", "b", "b"],
        [0, 1, 0, 1],
        [0.1, 0.3, 0.1, 0.1],
        approve_below=0.2,
        min_group_size=1,
    )
    assert approval_rate_ratio(outcomes) == 0.5


def test_without_fairlearn_the_fairness_check_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m == "fairlearn" or m.startswith("fairlearn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fairlearn", None)  # as if the extra were not installed
    with pytest.raises(
        MissingExtraError, match=r"^The fairness gate needs fairlearn, which is not installed\.$"
    ) as raised:
        group_outcomes(["a", "b"], [0, 1], [0.1, 0.3], approve_below=0.2, min_group_size=1)
    assert raised.value.hint == "Install it with: pip install 'riskops[validate]'"


def _rows(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    size = draw(st.integers(10, 60))
    groups = np.array(["a"] * size + ["b"] * draw(st.integers(10, 60)), dtype=object)
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=len(groups), max_size=len(groups))))
    approved = np.array(draw(st.lists(st.booleans(), min_size=len(groups), max_size=len(groups))))
    scores = np.array(draw(st.lists(st.floats(0, 1), min_size=len(groups), max_size=len(groups))))
    return groups, y, scores, approved


rows_strategy = st.composite(_rows)


def _intervals(
    groups: np.ndarray, y: np.ndarray, scores: np.ndarray, approved: np.ndarray
) -> tuple[list[GroupOutcome], FairnessIntervals]:
    outcomes = group_outcomes(groups, y, scores, approved=approved, min_group_size=1)
    found = bootstrap_intervals(
        groups, y, scores, approved, outcomes, resamples=400, confidence=0.95, seed=7
    )
    return outcomes, found


@settings(max_examples=30)
@given(rows_strategy())
def test_group_intervals_hold_the_estimate_and_narrow_with_more_rows(
    rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    outcomes, found = _intervals(*rows)
    four_times, more = _intervals(*(np.tile(column, 4) for column in rows))
    for outcome, interval, wider in zip(outcomes, found.groups, more.groups, strict=True):
        for metric in ("approval_rate", "mean_score", "observed_rate"):
            estimate = getattr(outcome, metric)
            i, j = getattr(interval, metric), getattr(wider, metric)
            assert i.low <= estimate + 1e-12
            assert estimate - 1e-12 <= i.high
            # Four times the rows at the same rates: half the spread, up to resampling noise.
            assert j.high - j.low <= (i.high - i.low) + 1e-12
    assert [o.approval_rate for o in four_times] == pytest.approx(
        [o.approval_rate for o in outcomes]
    )


def test_comparisons_keep_the_pair_that_sets_them_and_are_reproducible() -> None:
    rng = np.random.default_rng(3)
    groups = np.array(["a"] * 300 + ["b"] * 100 + ["c"] * 200, dtype=object)
    approved = rng.random(600) < np.select([groups == "a", groups == "b"], [0.6, 0.3], 0.5)
    y = (rng.random(600) < 0.3).astype(int)
    scores = rng.random(600)
    outcomes, found = _intervals(groups, y, scores, approved)
    ratio = next(c for c in found.comparisons if c.statistic == "approval_rate_ratio")
    assert (ratio.low_group, ratio.high_group) == ("b", "a")
    assert ratio.value == approval_rate_ratio(outcomes)
    assert ratio.interval.low is not None
    assert ratio.interval.high is not None
    assert ratio.interval.low < ratio.value < ratio.interval.high < 0.8
    assert {c.statistic for c in found.comparisons} == {
        "approval_rate_ratio",
        "equal_opportunity_difference",
        "calibration_difference",
    }
    assert _intervals(groups, y, scores, approved)[1] == found
