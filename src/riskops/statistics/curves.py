"""Curves of a score for the documents: ROC, precision–recall and the score histogram by class.

Each curve is reduced to at most ``points`` points on a fixed grid, so a stored record stays
small whatever the number of rows, and a chart drawn from it matches the metric it illustrates.

* ROC: the true-positive rate at ``points`` false-positive rates evenly spaced on [0, 1],
  linearly interpolated between the curve's vertices (the same trapezoids whose area is the
  AUC; Fawcett 2006, *Pattern Recognition Letters* 27:861–874, §5 and §7).
* Precision–recall: the interpolated precision ``P(r) = max_{r' ≥ r} P(r')`` at ``points``
  recalls evenly spaced on [0, 1] (Manning, Raghavan & Schütze 2008, *Introduction to
  Information Retrieval* §8.4); linear interpolation would overstate precision in PR space
  (Davis & Goadrich 2006, ICML).
* Score histogram: counts of events and non-events in equal-width bins on [0, 1].

Example::

    >>> roc_points([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], points=3)
    {'fpr': [0.0, 0.5, 1.0], 'tpr': [0.5, 1.0, 1.0]}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve


def _binary(
    y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=np.int64)
    s_arr = np.asarray(score, dtype=np.float64)
    if y_arr.shape != s_arr.shape or y_arr.ndim != 1:
        raise ValueError(f"labels {y_arr.shape} and scores {s_arr.shape} must be 1-D of one length")
    if len(np.unique(y_arr)) != 2:
        raise ValueError("both classes (0 and 1) must be present to draw a curve")
    return y_arr, s_arr


def roc_points(
    y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray, *, points: int = 101
) -> dict[str, list[float]]:
    """True-positive rate at ``points`` evenly spaced false-positive rates."""
    y_arr, s_arr = _binary(y, score)
    fpr, tpr, _ = roc_curve(y_arr, s_arr, drop_intermediate=False)
    grid = np.linspace(0.0, 1.0, points)
    # The last vertex at or left of x: at a vertical run (several TPRs at one FPR) the top.
    left = np.searchsorted(fpr, grid, side="right") - 1
    # The next vertex right of x is the first of its run, its bottom.
    right = np.minimum(left + 1, len(fpr) - 1)
    span = fpr[right] - fpr[left]
    share = np.divide(grid - fpr[left], span, out=np.zeros_like(grid), where=span > 0)
    rates = tpr[left] + share * (tpr[right] - tpr[left])
    return {"fpr": [float(v) for v in grid], "tpr": [float(v) for v in rates]}


def pr_points(
    y: Sequence[int] | np.ndarray,
    score: Sequence[float] | np.ndarray,
    *,
    points: int = 101,
    weights: Sequence[float] | np.ndarray | None = None,
) -> dict[str, list[float]]:
    """Interpolated precision at ``points`` evenly spaced recalls (with case ``weights``, the
    weighted precision, e.g. at a population's prevalence)."""
    y_arr, s_arr = _binary(y, score)
    precision, recall, _ = precision_recall_curve(y_arr, s_arr, sample_weight=weights)
    # scikit-learn lists recall descending; the running maximum from the high-recall end
    # gives max_{r' >= r} P(r').
    best = np.maximum.accumulate(precision)
    grid = np.linspace(0.0, 1.0, points)
    ascending_recall = recall[::-1]
    ascending_best = best[::-1]
    # For each grid recall, the first curve point whose recall reaches it.
    at = np.searchsorted(ascending_recall, grid, side="left")
    at = np.minimum(at, len(ascending_recall) - 1)
    return {"recall": [float(v) for v in grid], "precision": [float(v) for v in ascending_best[at]]}


def score_histogram(
    y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray, *, bins: int = 20
) -> dict[str, list[float] | list[int]]:
    """Event and non-event counts in ``bins`` equal-width bins on [0, 1] (last bin closed)."""
    y_arr, s_arr = _binary(y, score)
    edges = np.linspace(0.0, 1.0, bins + 1)
    events, _ = np.histogram(s_arr[y_arr == 1], bins=edges)
    non_events, _ = np.histogram(s_arr[y_arr == 0], bins=edges)
    return {
        "edges": [round(float(v), 12) for v in edges],
        "events": [int(v) for v in events],
        "non_events": [int(v) for v in non_events],
    }
