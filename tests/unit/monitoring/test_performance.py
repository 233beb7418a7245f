from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import beta, ks_2samp
from sklearn.metrics import roc_auc_score

from riskops.monitoring.performance import (
    SCORE_BINS,
    binned_auc,
    binned_ks,
    expected_auc,
    jeffreys,
    rate,
    score_bin,
    vintage,
)
from riskops.statistics.delong import auc_covariance


def _bins(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b = np.minimum((p * SCORE_BINS).astype(int), SCORE_BINS - 1)
    pos = np.bincount(b[y == 1], minlength=SCORE_BINS)
    neg = np.bincount(b[y == 0], minlength=SCORE_BINS)
    return b, pos, neg


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20261207)
    p = rng.beta(2.0, 6.0, size=3000)
    y = (rng.random(3000) < p).astype(int)
    return y, p


def test_score_bin_is_the_fixed_grid() -> None:
    assert [score_bin(v) for v in (0.0, 0.009999, 0.01, 0.5, 0.999, 1.0)] == [0, 0, 1, 50, 99, 99]
    with pytest.raises(ValueError, match=r"a score must be in \[0, 1\]"):
        score_bin(1.5)


def test_binned_auc_and_delong_match_sklearn_and_the_row_level_delong(
    sample: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = sample
    b, pos, neg = _bins(y, p)
    result = binned_auc(pos, neg)
    assert result.auc == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    aucs, covariance = auc_covariance(y, [b.astype(float)])
    assert result.auc == pytest.approx(aucs[0], abs=1e-12)
    assert result.variance == pytest.approx(covariance[0, 0], rel=1e-9)
    half = 1.959963984540054 * math.sqrt(result.variance)
    assert (result.low, result.high) == pytest.approx((result.auc - half, result.auc + half))
    assert result.gini == pytest.approx(2 * roc_auc_score(y, b) - 1, abs=1e-12)
    # Binning costs little on a fine grid.
    assert abs(result.auc - roc_auc_score(y, p)) < 0.005


def test_binned_ks_matches_scipy(sample: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = sample
    b, pos, neg = _bins(y, p)
    assert binned_ks(pos, neg) == pytest.approx(ks_2samp(b[y == 1], b[y == 0]).statistic, abs=1e-12)


def test_expected_auc_is_the_pairwise_expectation() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.99, size=60)
    b = np.minimum((p * SCORE_BINS).astype(int), SCORE_BINS - 1)
    # E[concordant pairs] / E[event/non-event pairs] over distinct rows i != j.
    num = den = 0.0
    for i in range(60):
        for j in range(60):
            if i == j:
                continue
            w = p[i] * (1 - p[j])
            den += w
            num += w * (1.0 if b[i] > b[j] else 0.5 if b[i] == b[j] else 0.0)
    n = np.bincount(b, minlength=SCORE_BINS)
    sp = np.bincount(b, weights=p, minlength=SCORE_BINS)
    sp2 = np.bincount(b, weights=p * p, minlength=SCORE_BINS)
    assert expected_auc(n, sp, sp2) == pytest.approx(num / den, rel=1e-12)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        expected_auc(np.array([2.0]), np.array([0.0]), np.array([0.0]))


def test_jeffreys_matches_the_beta_quantiles() -> None:
    low, high = jeffreys(7, 50)
    assert low == pytest.approx(beta.ppf(0.025, 7.5, 43.5))
    assert high == pytest.approx(beta.ppf(0.975, 7.5, 43.5))
    assert jeffreys(0, 10)[0] == 0.0
    assert jeffreys(10, 10)[1] == 1.0
    with pytest.raises(ValueError, match="need 0 <= events <= n"):
        jeffreys(3, 2)
    assert rate(0, 0, 0.0).calibrated is None
    assert rate(50, 7, 50 * 0.14).calibrated is True
    assert rate(50, 7, 50 * 0.40).calibrated is False


def test_vintage_is_the_cumulative_bad_rate() -> None:
    matrix = vintage(np.array([[1, 2, 0], [0, 1, 3]]), np.array([10, 0]))
    assert matrix[0].tolist() == [0.1, 0.3, 0.3]
    assert np.isnan(matrix[1]).all()


counts = st.lists(st.integers(0, 40), min_size=SCORE_BINS, max_size=SCORE_BINS)


@given(counts, counts)
def test_binned_auc_properties(pos_list: list[int], neg_list: list[int]) -> None:
    pos, neg = np.array(pos_list), np.array(neg_list)
    if pos.sum() < 2 or neg.sum() < 2:
        return
    result = binned_auc(pos, neg)
    assert 0.0 <= result.low <= result.auc <= result.high <= 1.0
    assert result.variance >= 0.0
    # Reversing the score order mirrors the AUC; swapping the classes does too.
    assert binned_auc(pos[::-1], neg[::-1]).auc == pytest.approx(1.0 - result.auc, abs=1e-12)
    assert binned_auc(neg, pos).auc == pytest.approx(1.0 - result.auc, abs=1e-12)
    y = np.repeat([1, 0], [pos.sum(), neg.sum()])
    scores = np.concatenate(
        [np.repeat(np.arange(SCORE_BINS), pos), np.repeat(np.arange(SCORE_BINS), neg)]
    )
    assert result.auc == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    assert 0.0 <= binned_ks(pos, neg) <= 1.0
    assert binned_ks(pos, neg) == pytest.approx(binned_ks(neg, pos), abs=1e-12)


scores = st.lists(st.floats(0.001, 0.999), min_size=2, max_size=200)


@given(scores)
def test_expected_auc_properties(values: list[float]) -> None:
    p = np.array(values)
    b = np.minimum((p * SCORE_BINS).astype(int), SCORE_BINS - 1)
    n = np.bincount(b, minlength=SCORE_BINS)
    sp = np.bincount(b, weights=p, minlength=SCORE_BINS)
    sp2 = np.bincount(b, weights=p * p, minlength=SCORE_BINS)
    value = expected_auc(n, sp, sp2)
    assert 0.0 <= value <= 1.0
    if len(set(b.tolist())) == 1:
        assert value == pytest.approx(0.5)  # one bin: every pair is a tie
