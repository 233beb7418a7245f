"""Calibration statistics against hand computations, scikit-learn's unpenalised logistic
regression and scipy's chi-square test."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare
from sklearn.linear_model import LogisticRegression

from riskops.statistics.calibration import (
    calibration_table,
    expected_calibration_error,
    hosmer_lemeshow,
    hosmer_lemeshow_power,
    logistic_recalibration,
    logit,
)


def _miscalibrated(seed: int, rows: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``p`` and outcomes drawn from ``logit P(y=1) = a + b · logit(p)``."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.95, rows)
    truth = 1.0 / (1.0 + np.exp(-(a + b * logit(p))))
    return (rng.uniform(size=rows) < truth).astype(int), p


def test_table_and_ece_by_hand() -> None:
    y = [0, 1, 0, 1, 1]
    score = [0.1, 0.9, 0.2, 0.6, 1.0]
    table = calibration_table(y, score, bins=2)
    assert [(b.band, b.lower, b.upper, b.count, b.events) for b in table] == [
        (1, 0.0, 0.5, 2, 0),
        (2, 0.5, 1.0, 3, 3),
    ]
    assert table[0].mean_score == pytest.approx(0.15)
    assert table[1].mean_score == pytest.approx(2.5 / 3)
    assert table[1].observed_rate == 1.0
    # ECE = (2/5)·|0.15 − 0| + (3/5)·|0.8333 − 1|
    assert expected_calibration_error(y, score, bins=2) == pytest.approx(0.4 * 0.15 + 0.6 / 6)


def test_an_empty_band_is_listed_without_a_rate() -> None:
    table = calibration_table([0, 1], [0.05, 0.07], bins=4)
    assert [b.count for b in table] == [2, 0, 0, 0]
    assert table[1].mean_score is None
    assert table[1].observed_rate is None
    assert table[1].as_dict()["band"] == 2


def test_slope_and_intercept_equal_an_unpenalised_scikit_learn_fit() -> None:
    y, p = _miscalibrated(seed=3, rows=600, a=0.3, b=1.4)
    fit = logistic_recalibration(y, p)
    reference = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(logit(p)[:, None], y)
    assert fit.converged
    assert fit.intercept == pytest.approx(reference.intercept_[0], abs=1e-5)
    assert fit.slope == pytest.approx(reference.coef_[0, 0], abs=1e-5)


def test_the_standard_errors_come_from_the_information_matrix() -> None:
    y, p = _miscalibrated(seed=4, rows=500, a=0.0, b=1.0)
    fit = logistic_recalibration(y, p)
    x = np.column_stack([np.ones_like(p), logit(p)])
    mu = 1.0 / (1.0 + np.exp(-(x @ [fit.intercept, fit.slope])))
    covariance = np.linalg.inv(x.T @ (x * (mu * (1 - mu))[:, None]))
    assert fit.intercept_se == pytest.approx(np.sqrt(covariance[0, 0]), rel=1e-6)
    assert fit.slope_se == pytest.approx(np.sqrt(covariance[1, 1]), rel=1e-6)


def test_calibration_in_the_large_is_the_offset_model_intercept() -> None:
    # Scores half the true odds: with slope fixed at 1, the intercept is about ln 2.
    rng = np.random.default_rng(6)
    true = rng.uniform(0.05, 0.9, 20_000)
    y = (rng.uniform(size=true.size) < true).astype(int)
    odds = true / (1 - true) / 2
    fit = logistic_recalibration(y, odds / (1 + odds))
    assert fit.calibration_in_the_large == pytest.approx(np.log(2), abs=0.05)
    assert fit.slope == pytest.approx(1.0, abs=0.05)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_well_calibrated_scores_recover_slope_one(seed: int) -> None:
    y, p = _miscalibrated(seed=seed, rows=4000, a=0.0, b=1.0)
    fit = logistic_recalibration(y, p)
    assert fit.converged
    assert fit.slope == pytest.approx(1.0, abs=5 * (fit.slope_se or 1.0))
    assert abs(fit.intercept) <= 5 * (fit.intercept_se or 1.0)


def test_perfect_separation_has_no_finite_fit() -> None:
    fit = logistic_recalibration([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert not fit.converged
    assert fit.slope_se is None


def test_hosmer_lemeshow_equals_pearsons_chi_square_on_the_grouped_table() -> None:
    y, p = _miscalibrated(seed=3, rows=400, a=0.3, b=1.4)
    result = hosmer_lemeshow(y, p)
    observed = np.array([g["observed"] for g in result.groups])
    expected = np.array([g["expected"] for g in result.groups])
    rows = np.array([g["count"] for g in result.groups])
    groups = len(result.groups)
    assert groups == 10
    assert rows.sum() == 400
    # Events and non-events in each group, with the g − 2 degrees of freedom:
    # 2g cells − 1 − ddof = g − 2, so ddof = g + 1.
    reference = chisquare(
        np.concatenate([observed, rows - observed]),
        np.concatenate([expected, rows - expected]),
        ddof=groups + 1,
    )
    assert result.df == groups - 2
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-10)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-8)
    assert result.p_value < 0.05  # scores this far off are detected on 400 rows


def test_tied_scores_share_a_group_and_too_few_groups_have_no_p_value() -> None:
    score = np.repeat([0.1, 0.5], 50)
    y = np.tile([0, 1], 50)
    result = hosmer_lemeshow(y, score)
    assert [g["count"] for g in result.groups] == [50, 50]
    assert result.df == 0
    assert result.p_value is None


@pytest.mark.parametrize(
    ("score", "message"),
    [([0.1, 1.2], r"probabilities in \[0, 1\]"), ([0.1], "one length")],
)
def test_bad_scores_are_refused(score: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expected_calibration_error([0, 1], score)


def test_hosmer_lemeshow_power_is_what_a_simulation_of_the_test_finds() -> None:
    rng = np.random.default_rng(3)
    scores = rng.uniform(0.05, 0.6, 2000)
    groups = hosmer_lemeshow(np.zeros(len(scores), dtype=int), scores).groups
    power = hosmer_lemeshow_power(groups, alpha=0.05, power=0.8)
    assert power is not None
    assert (power.rows, power.groups, power.alpha) == (2000, 10, 0.05)
    rejected = [
        hosmer_lemeshow(
            (rng.uniform(size=len(scores)) < scores + power.detectable_gap).astype(int), scores
        ).p_value
        < 0.05
        for _ in range(400)
    ]
    assert np.mean(rejected) == pytest.approx(0.8, abs=0.07)


def test_hosmer_lemeshow_detectable_gap_shrinks_as_one_over_root_n() -> None:
    groups = [{"count": 100, "expected": 5.0 + 6.0 * k} for k in range(10)]
    larger = [{"count": 400, "expected": 4 * g["expected"]} for g in groups]
    small, large = hosmer_lemeshow_power(groups), hosmer_lemeshow_power(larger)
    assert small is not None
    assert large is not None
    assert large.detectable_gap == pytest.approx(small.detectable_gap / 2)
    assert small.gap_at_10x == pytest.approx(small.detectable_gap / np.sqrt(10))
    assert "At 1,000 rows in 10 groups" in small.statement()
    assert f"a gap of {small.detectable_gap:.3f}" in small.statement()
    assert hosmer_lemeshow_power(groups[:2]) is None  # fewer than 3 groups: no test
    with pytest.raises(ValueError, match=r"strictly between 0 and 1, not 0\.05, 1\.0"):
        hosmer_lemeshow_power(groups, power=1.0)  # no finite gap reaches certainty
