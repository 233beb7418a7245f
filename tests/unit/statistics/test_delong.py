"""DeLong's test: the fast midrank algorithm against the O(mn) definition of the structural
components, midranks against scipy, and AUCs against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from riskops.statistics.delong import auc_covariance, compare_aucs, midranks


def brute_force(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) as written: ψ over every event/non-event pair."""
    events = scores[:, y == 1]
    non_events = scores[:, y == 0]
    m, n = events.shape[1], non_events.shape[1]
    psi = (events[:, :, None] > non_events[:, None, :]) + 0.5 * (
        events[:, :, None] == non_events[:, None, :]
    )
    v10 = psi.mean(axis=2)  # per event
    v01 = psi.mean(axis=1)  # per non-event
    covariance = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return psi.mean(axis=(1, 2)), covariance


def test_a_small_example_against_the_definition() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    a = np.array([0.1, 0.2, 0.6, 0.4, 0.7, 0.9])
    b = np.array([0.1, 0.5, 0.2, 0.4, 0.3, 0.9])
    result = compare_aucs(y, a, b)
    aucs, covariance = brute_force(y, np.stack([a, b]))
    assert (result.auc_a, result.auc_b) == (pytest.approx(8 / 9), pytest.approx(7 / 9))
    assert result.difference == pytest.approx(1 / 9)
    assert result.variance == pytest.approx(
        covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    )
    assert aucs.tolist() == [pytest.approx(8 / 9), pytest.approx(7 / 9)]
    assert (result.events, result.non_events) == (3, 3)


def test_midranks_equal_scipys_average_ranks() -> None:
    values = np.random.default_rng(1).integers(0, 6, 200).astype(float)
    assert midranks(values).tolist() == rankdata(values, method="average").tolist()


def test_fixed_data_with_ties_matches_the_definition_and_scikit_learn() -> None:
    rng = np.random.default_rng(12)
    y = rng.integers(0, 2, 250)
    a = np.round(rng.normal(size=250) + 1.0 * y, 1)
    b = np.round(0.7 * a + rng.normal(size=250) * 0.7, 1)
    aucs, covariance = auc_covariance(y, [a, b])
    ref_aucs, ref_covariance = brute_force(y, np.stack([a, b]))
    assert aucs == pytest.approx(ref_aucs, abs=1e-12)
    assert covariance == pytest.approx(ref_covariance, abs=1e-12)
    assert aucs[0] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert aucs[1] == pytest.approx(roc_auc_score(y, b), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 8), st.integers(0, 8)), min_size=4, max_size=40
    ).filter(lambda rows: sum(r[0] for r in rows) >= 2 and sum(1 - r[0] for r in rows) >= 2)
)
def test_the_fast_algorithm_equals_the_definition_on_any_data(
    rows: list[tuple[int, int, int]],
) -> None:
    y = np.array([r[0] for r in rows])
    scores = np.array([[r[1] for r in rows], [r[2] for r in rows]], dtype=float)
    aucs, covariance = auc_covariance(y, scores)
    ref_aucs, ref_covariance = brute_force(y, scores)
    assert aucs == pytest.approx(ref_aucs, abs=1e-12)
    assert covariance == pytest.approx(ref_covariance, abs=1e-12)
    # A covariance matrix: symmetric, with a variance that cannot be negative.
    assert covariance[0, 1] == pytest.approx(covariance[1, 0])
    contrast = compare_aucs(y, scores[0], scores[1])
    assert contrast.variance >= -1e-15
    swapped = compare_aucs(y, scores[1], scores[0])
    assert swapped.difference == pytest.approx(-contrast.difference)
    assert swapped.variance == pytest.approx(contrast.variance)


def test_a_score_compared_with_itself_differs_by_nothing() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    score = rng.uniform(size=100)
    result = compare_aucs(y, score, score)
    assert result.difference == 0.0
    assert result.se == pytest.approx(0.0, abs=1e-12)


def test_the_z_test_has_its_nominal_size_under_the_null() -> None:
    # Two independent noisy copies of one signal have equal AUC; |z| > 1.96 about 5% of the time.
    rng = np.random.default_rng(2024)
    rejections = 0
    trials = 400
    for _ in range(trials):
        y = rng.integers(0, 2, 200)
        signal = y * 0.8
        a = signal + rng.normal(size=200)
        b = signal + rng.normal(size=200)
        result = compare_aucs(y, a, b)
        rejections += abs(result.difference / result.se) > 1.96
    assert 0.02 <= rejections / trials <= 0.09


def test_too_few_events_are_refused() -> None:
    with pytest.raises(ValueError, match="at least two events and two non-events"):
        compare_aucs([0, 0, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
