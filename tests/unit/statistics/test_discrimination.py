"""Discrimination statistics against reference implementations on fixed data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import ks_2samp
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    roc_auc_score,
)
from sklearn.metrics import log_loss as sk_log_loss

from riskops.statistics.discrimination import (
    auc,
    brier,
    gini,
    ks,
    log_loss,
    pr_auc,
    summary,
    weighted_metrics,
)


def test_auc_of_a_small_fixed_example() -> None:
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert gini([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5)


def test_ks_equals_scipys_two_sample_statistic() -> None:
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 2000)
    score = rng.normal(0.0, 1.0, 2000) + 0.8 * y
    expected = ks_2samp(score[y == 1], score[y == 0]).statistic
    assert ks(y, score) == pytest.approx(expected, abs=1e-12)


@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.floats(0, 1, allow_nan=False)), min_size=4, max_size=60
    ).filter(lambda rows: len({r[0] for r in rows}) == 2)
)
def test_bounds_and_symmetry(rows: list[tuple[int, float]]) -> None:
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows])
    values = summary(y, s)
    assert 0.0 <= values["auc"] <= 1.0
    assert 0.0 <= values["ks"] <= 1.0
    assert values["gini"] == pytest.approx(2 * values["auc"] - 1)
    # Flipping the score flips the AUC around 0.5 and leaves KS unchanged.
    assert auc(y, -s) == pytest.approx(1 - values["auc"])
    assert ks(y, -s) == pytest.approx(values["ks"])


def test_one_class_cannot_be_measured() -> None:
    with pytest.raises(ValueError, match="both classes"):
        auc([1, 1, 1], [0.2, 0.4, 0.6])


# --- Brier score, log-loss, PR-AUC and the frequency-weighted forms -------------------------


def _fixed_data(seed: int = 5, rows: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probability scores with ties (rounded to two decimals) and both classes."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    score = np.clip(np.round(rng.beta(2, 5, rows) + 0.3 * y, 2), 0.0, 1.0)
    return y, score


def test_brier_log_loss_and_pr_auc_equal_scikit_learn() -> None:
    y, score = _fixed_data()
    assert brier(y, score) == pytest.approx(brier_score_loss(y, score), abs=1e-12)
    assert log_loss(y, score) == pytest.approx(sk_log_loss(y, score), abs=1e-12)
    assert pr_auc(y, score) == pytest.approx(average_precision_score(y, score), abs=1e-12)


def test_a_small_example_by_hand() -> None:
    # Brier: ((0.2 - 0)^2 + (0.9 - 1)^2) / 2; log-loss: -(ln 0.8 + ln 0.9) / 2.
    assert brier([0, 1], [0.2, 0.9]) == pytest.approx(0.025)
    assert log_loss([0, 1], [0.2, 0.9]) == pytest.approx(-(np.log(0.8) + np.log(0.9)) / 2)
    # Ranked 0.8 (event), 0.4 (non-event), 0.35 (event): AP = 0.5 * 1 + 0.5 * 2/3.
    assert pr_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5 + 1 / 3)


def test_weighted_metrics_with_unit_weights_match_the_plain_ones() -> None:
    y, score = _fixed_data()
    values = {name: float(v[0]) for name, v in weighted_metrics(y, score).items()}
    assert values["auc"] == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert values["gini"] == pytest.approx(gini(y, score), abs=1e-12)
    assert values["ks"] == pytest.approx(ks(y, score), abs=1e-12)
    assert values["brier"] == pytest.approx(brier(y, score), abs=1e-12)
    assert values["log_loss"] == pytest.approx(log_loss(y, score), abs=1e-12)
    assert values["pr_auc"] == pytest.approx(pr_auc(y, score), abs=1e-12)


def test_each_weight_row_equals_the_metric_on_repeated_rows() -> None:
    y, score = _fixed_data(rows=150)
    counts = np.random.default_rng(2).integers(0, 4, (6, len(y)))
    batch = weighted_metrics(y, score, counts)
    for b, w in enumerate(counts):
        ys, ss = np.repeat(y, w), np.repeat(score, w)
        assert batch["auc"][b] == pytest.approx(roc_auc_score(ys, ss), abs=1e-12)
        assert batch["ks"][b] == pytest.approx(ks_2samp(ss[ys == 1], ss[ys == 0]).statistic)
        assert batch["brier"][b] == pytest.approx(brier_score_loss(ys, ss), abs=1e-12)
        assert batch["log_loss"][b] == pytest.approx(sk_log_loss(ys, ss), abs=1e-12)
        assert batch["pr_auc"][b] == pytest.approx(average_precision_score(ys, ss), abs=1e-12)


def test_a_weighting_without_events_leaves_the_ranking_metrics_undefined() -> None:
    weights = np.array([[1, 1, 0, 0]])
    values = weighted_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], weights)
    assert np.isnan(values["auc"][0])
    assert np.isnan(values["ks"][0])
    assert np.isnan(values["pr_auc"][0])
    assert values["brier"][0] == pytest.approx((0.1**2 + 0.4**2) / 2)


def test_log_loss_stays_finite_at_certain_wrong_scores() -> None:
    # A score of exactly 0 for an event is clipped to machine epsilon, as scikit-learn does.
    assert log_loss([1, 0], [0.0, 0.0]) == pytest.approx(sk_log_loss([1, 0], [0.0, 0.0]))


@pytest.mark.parametrize(
    ("weights", "message"),
    [(np.ones((2, 3)), r"must be \(resamples, 4\)"), (-np.ones((1, 4)), "must not be negative")],
)
def test_bad_weights_are_refused(weights: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        weighted_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], weights)


@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])),
        min_size=2,
        max_size=40,
    ).filter(lambda rows: len({r[0] for r in rows}) == 2)
)
def test_weighted_forms_agree_with_scikit_learn_on_any_tied_data(
    rows: list[tuple[int, float]],
) -> None:
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows])
    values = weighted_metrics(y, s)
    assert values["auc"][0] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert values["ks"][0] == pytest.approx(ks(y, s), abs=1e-12)
    assert values["pr_auc"][0] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert 0.0 <= values["brier"][0] <= 1.0
