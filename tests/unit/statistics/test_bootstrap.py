"""The percentile bootstrap: resample counts, intervals against numpy's quantiles, and the
reproducibility a stored record needs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskops.statistics.bootstrap import (
    bootstrap,
    lower_bound,
    percentile_interval,
    resample_counts,
)
from riskops.statistics.discrimination import weighted_metrics


@given(st.integers(1, 50), st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_every_resample_draws_as_many_rows_as_there_are(
    rows: int, resamples: int, seed: int
) -> None:
    counts = resample_counts(rows=rows, resamples=resamples, seed=seed)
    assert counts.shape == (resamples, rows)
    assert (counts >= 0).all()
    assert counts.sum(axis=1).tolist() == [rows] * resamples


def test_the_counts_are_those_of_drawing_row_indices_with_replacement() -> None:
    counts = resample_counts(rows=7, resamples=3, seed=42)
    drawn = np.random.default_rng(42).integers(0, 7, size=(3, 7))
    expected = np.stack([np.bincount(row, minlength=7) for row in drawn])
    assert (counts == expected).all()


def test_the_same_seed_gives_the_same_interval_and_another_seed_another() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    score = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1)

    def stat(counts: np.ndarray) -> dict[str, np.ndarray]:
        return weighted_metrics(y, score, counts)

    first = bootstrap(stat, rows=300, resamples=200, confidence=0.95, seed=1)
    again = bootstrap(stat, rows=300, resamples=200, confidence=0.95, seed=1)
    other = bootstrap(stat, rows=300, resamples=200, confidence=0.95, seed=2)
    assert first == again
    assert first["auc"] != other["auc"]
    point = float(weighted_metrics(y, score)["auc"][0])
    assert first["auc"].low is not None
    assert first["auc"].high is not None
    assert first["auc"].low < point < first["auc"].high
    assert first["auc"].replicates == 200


def test_the_interval_is_the_pair_of_tail_quantiles() -> None:
    replicates = np.arange(1001, dtype=float)
    interval = percentile_interval(replicates, 0.9)
    low, high = np.quantile(replicates, [0.05, 0.95])
    assert (interval.low, interval.high) == (pytest.approx(low), pytest.approx(high))
    assert interval.as_list() == [pytest.approx(50.0), pytest.approx(950.0)]
    assert lower_bound(replicates, 0.9) == pytest.approx(100.0)


def test_undefined_replicates_are_left_out_and_counted() -> None:
    interval = percentile_interval(np.array([np.nan, 1.0, 2.0, 3.0]), 0.5)
    assert interval.replicates == 3
    assert interval.low == pytest.approx(1.5)
    assert interval.high == pytest.approx(2.5)
    empty = percentile_interval(np.array([np.nan]), 0.95)
    assert empty.as_list() == [None, None]
    assert lower_bound(np.array([np.nan]), 0.95) is None


def test_a_95_percent_interval_for_a_mean_covers_the_normal_theory_one() -> None:
    values = np.random.default_rng(3).normal(10.0, 2.0, 400)

    def mean(counts: np.ndarray) -> dict[str, np.ndarray]:
        return {"mean": counts @ values / counts.sum(axis=1)}

    interval = bootstrap(mean, rows=400, resamples=2000, confidence=0.95, seed=0)["mean"]
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(400)
    assert interval.low == pytest.approx(values.mean() - half_width, abs=0.03)
    assert interval.high == pytest.approx(values.mean() + half_width, abs=0.03)


def test_no_resamples_give_no_intervals_and_bad_arguments_are_refused() -> None:
    assert (
        bootstrap(lambda c: {"x": c.sum(axis=1)}, rows=3, resamples=0, confidence=0.9, seed=0) == {}
    )
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        percentile_interval(np.ones(3), 1.0)
    with pytest.raises(ValueError, match="at least one row"):
        resample_counts(rows=0, resamples=3, seed=0)
