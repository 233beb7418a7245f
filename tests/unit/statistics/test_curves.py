"""ROC and precision–recall curves on a fixed grid, and the score histogram by class."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, roc_auc_score

from riskops.statistics.curves import pr_points, roc_points, score_histogram


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 500)
    score = 1.0 / (1.0 + np.exp(-(rng.normal(size=500) + 1.2 * y - 0.6)))
    return y, score


def test_a_small_roc_by_hand() -> None:
    # Vertices (0, 0) → (0, 0.5) → (0.5, 0.5) → (0.5, 1) → (1, 1).
    curve = roc_points([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], points=5)
    assert curve == {"fpr": [0.0, 0.25, 0.5, 0.75, 1.0], "tpr": [0.5, 0.5, 1.0, 1.0, 1.0]}


def test_the_roc_grid_traces_the_curve_whose_area_is_the_auc() -> None:
    y, score = _data()
    curve = roc_points(y, score)
    assert len(curve["fpr"]) == len(curve["tpr"]) == 101
    assert np.all(np.diff(curve["tpr"]) >= 0)
    assert curve["tpr"][-1] == 1.0
    area = np.trapezoid(curve["tpr"], curve["fpr"])
    assert area == pytest.approx(roc_auc_score(y, score), abs=0.005)


def test_between_vertices_the_roc_is_interpolated_linearly() -> None:
    # Four non-events put vertices at FPR 0, 0.25, 0.5, ...; FPR 0.125 lies halfway.
    y = [0, 0, 0, 0, 1, 1]
    score = [0.1, 0.2, 0.3, 0.6, 0.5, 0.9]
    curve = roc_points(y, score, points=9)
    # Vertices: (0, 0.5) top of the first run, then (0.25, 0.5) → (0.25, 1).
    assert curve["tpr"][1] == pytest.approx(0.5)  # FPR 0.125, on a flat stretch
    assert curve["tpr"][2] == pytest.approx(1.0)  # FPR 0.25: the top of its vertical run


def test_precision_is_the_best_at_this_recall_or_beyond() -> None:
    y, score = _data()
    curve = pr_points(y, score)
    precision, recall, _ = precision_recall_curve(y, score)
    assert len(curve["recall"]) == 101
    assert np.all(np.diff(curve["precision"]) <= 1e-12)  # interpolated precision never rises
    for r, p in zip(curve["recall"], curve["precision"], strict=True):
        assert p == pytest.approx(precision[recall >= r - 1e-12].max())


def test_the_histogram_counts_every_row_once_by_class() -> None:
    y, score = _data()
    histogram = score_histogram(y, score)
    assert len(histogram["edges"]) == 21
    assert histogram["edges"][0] == 0.0
    assert histogram["edges"][-1] == 1.0
    assert sum(histogram["events"]) == int(y.sum())
    assert sum(histogram["non_events"]) == int((1 - y).sum())
    expected, _ = np.histogram(score[y == 1], bins=20, range=(0.0, 1.0))
    assert histogram["events"] == expected.tolist()


def test_a_score_of_exactly_one_falls_in_the_last_bin() -> None:
    histogram = score_histogram([0, 1], [0.0, 1.0], bins=4)
    assert histogram["events"] == [0, 0, 0, 1]
    assert histogram["non_events"] == [1, 0, 0, 0]


def test_one_class_has_no_curve() -> None:
    with pytest.raises(ValueError, match="both classes"):
        roc_points([1, 1], [0.2, 0.3])
