"""How well a score separates the event (label 1) from the non-event (label 0).

* AUC: area under the ROC curve, the probability that a random event scores above a random
  non-event (ties count half); computed with scikit-learn's ``roc_auc_score``.
* Gini (accuracy ratio, Somers' D): ``2 * AUC - 1``.
* KS: the Kolmogorov–Smirnov statistic between the score distributions of events and
  non-events, ``max_t |F1(t) - F0(t)|``, which equals ``max(TPR - FPR)`` over the ROC curve.
* Brier score, log-loss and PR-AUC (average precision): accuracy of the score as a
  probability, and separation judged by the events found; formulas in :func:`weighted_metrics`.

:func:`weighted_metrics` computes all of them for many frequency weightings at once, which is
what a bootstrap needs (see ``riskops.statistics.bootstrap``).

Example::

    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

_EPSILON = float(np.finfo(np.float64).eps)


def _arrays(
    y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=np.int64)
    s_arr = np.asarray(score, dtype=np.float64)
    if y_arr.shape != s_arr.shape or y_arr.ndim != 1:
        raise ValueError(f"labels {y_arr.shape} and scores {s_arr.shape} must be 1-D of one length")
    if len(np.unique(y_arr)) != 2:
        raise ValueError("both classes (0 and 1) must be present to measure discrimination")
    return y_arr, s_arr


def auc(y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray) -> float:
    y_arr, s_arr = _arrays(y, score)
    return float(roc_auc_score(y_arr, s_arr))


def gini(y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray) -> float:
    return 2.0 * auc(y, score) - 1.0


def ks(y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray) -> float:
    y_arr, s_arr = _arrays(y, score)
    fpr, tpr, _ = roc_curve(y_arr, s_arr)
    return float(np.max(np.abs(tpr - fpr)))


def summary(y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray) -> dict[str, float]:
    """AUC, Gini and KS together."""
    value = auc(y, score)
    return {"auc": value, "gini": 2.0 * value - 1.0, "ks": ks(y, score)}


# --- Frequency-weighted forms, vectorised over many weightings at once ----------------------
#
# A bootstrap resample is a vector of counts: how often each row was drawn. Every metric below
# takes a (B, n) matrix of such non-negative weights and returns B values, so B resamples cost
# one sort of the scores and a few matrix operations. With all weights 1 each equals the plain
# metric (the scalar functions ``brier``, ``log_loss`` and ``pr_auc`` are that case).


def _weight_matrix(weights: np.ndarray | None, rows: int) -> np.ndarray:
    if weights is None:
        return np.ones((1, rows), dtype=np.float64)
    matrix = np.asarray(weights, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[np.newaxis, :]
    if matrix.ndim != 2 or matrix.shape[1] != rows:
        raise ValueError(f"weights {matrix.shape} must be (resamples, {rows})")
    if (matrix < 0).any():
        raise ValueError("weights are counts and must not be negative")
    return matrix


def _tie_groups(sorted_scores: np.ndarray) -> np.ndarray:
    """Start positions of each run of equal values in an ascending array."""
    change = np.flatnonzero(np.diff(sorted_scores)) + 1
    return np.concatenate(([0], change))


def _class_weights_by_score(
    y: np.ndarray, score: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted event and non-event totals at each distinct score, ascending: two (B, G)."""
    order = np.argsort(score, kind="mergesort")
    starts = _tie_groups(score[order])
    w = weights[:, order]
    events = y[order].astype(np.float64)
    per_event = np.add.reduceat(w * events, starts, axis=1)
    per_non_event = np.add.reduceat(w * (1.0 - events), starts, axis=1)
    return per_event, per_non_event


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` with NaN where the denominator is 0 (undefined)."""
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def weighted_metrics(
    y: Sequence[int] | np.ndarray,
    score: Sequence[float] | np.ndarray,
    weights: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """AUC, Gini, KS, Brier score, log-loss and PR-AUC for each row of frequency ``weights``.

    ``weights`` is a (B, n) matrix (or None for one row of ones); the result maps each metric
    name to B values. A weighting in which one class has no weight leaves the ranking metrics
    undefined (NaN). With weights ``w_i``, events ``y_i = 1`` and scores ``p_i``:

    * AUC (Mann–Whitney, ties count half; Hanley & McNeil 1982, *Radiology* 143:29–36)::

          AUC = Σ_g W1_g · (W0_{<g} + W0_g / 2) / (W1 · W0)

      over groups ``g`` of equal score, ``W1_g``/``W0_g`` the event/non-event weight in the
      group, ``W0_{<g}`` the non-event weight below it. Gini = 2·AUC − 1.
    * KS: ``max_g |F1(g) − F0(g)|`` with ``F1``, ``F0`` the weighted cumulative distributions
      of the events' and non-events' scores.
    * Brier score (Brier 1950, *Monthly Weather Review* 78:1–3): ``Σ w (p − y)² / Σ w``.
    * Log-loss (cross-entropy): ``−Σ w [y ln p + (1 − y) ln(1 − p)] / Σ w``, with ``p``
      clipped to ``[ε, 1 − ε]``, ``ε`` the float64 machine epsilon (as scikit-learn does).
    * PR-AUC as average precision (scikit-learn's ``average_precision_score``; Manning,
      Raghavan & Schütze 2008, *Introduction to Information Retrieval* §8.4)::

          AP = Σ_k (R_k − R_{k−1}) · P_k

      over thresholds ``t_k`` at each distinct score, descending, with precision
      ``P_k = TP_k / (TP_k + FP_k)`` and recall ``R_k = TP_k / W1`` of the rule ``p ≥ t_k``.

    Example::

        >>> {k: round(float(v[0]), 4) for k, v in weighted_metrics([0, 1], [0.2, 0.9]).items()}
        {'auc': 1.0, 'gini': 1.0, 'ks': 1.0, 'brier': 0.025, 'log_loss': 0.1643, 'pr_auc': 1.0}
    """
    y_arr = np.asarray(y, dtype=np.int64)
    s_arr = np.asarray(score, dtype=np.float64)
    if y_arr.shape != s_arr.shape or y_arr.ndim != 1:
        raise ValueError(f"labels {y_arr.shape} and scores {s_arr.shape} must be 1-D of one length")
    if not np.isin(y_arr, (0, 1)).all():
        raise ValueError("labels must be 0 (non-event) or 1 (event)")
    w = _weight_matrix(weights, len(y_arr))
    events = y_arr.astype(np.float64)

    per_event, per_non_event = _class_weights_by_score(y_arr, s_arr, w)
    total_event = per_event.sum(axis=1)
    total_non_event = per_non_event.sum(axis=1)
    non_event_below = np.cumsum(per_non_event, axis=1) - per_non_event
    concordant = (per_event * (non_event_below + 0.5 * per_non_event)).sum(axis=1)
    area = _ratio(concordant, total_event * total_non_event)

    cdf_event = _ratio(np.cumsum(per_event, axis=1), total_event[:, np.newaxis])
    cdf_non_event = _ratio(np.cumsum(per_non_event, axis=1), total_non_event[:, np.newaxis])
    separation = np.abs(cdf_event - cdf_non_event).max(axis=1)

    # Thresholds from the highest score down: true and false positives of "score >= t".
    true_pos = np.cumsum(per_event[:, ::-1], axis=1)
    false_pos = np.cumsum(per_non_event[:, ::-1], axis=1)
    precision = _ratio(true_pos, true_pos + false_pos)
    recall_step = _ratio(per_event[:, ::-1], total_event[:, np.newaxis])
    # A threshold that adds no event adds no recall; its (possibly undefined) precision is moot.
    average_precision = np.where(recall_step > 0, recall_step * precision, 0.0).sum(axis=1)
    average_precision[total_event <= 0] = np.nan

    total = w.sum(axis=1)
    clipped = np.clip(s_arr, _EPSILON, 1.0 - _EPSILON)
    losses = -(events * np.log(clipped) + (1.0 - events) * np.log1p(-clipped))
    return {
        "auc": area,
        "gini": 2.0 * area - 1.0,
        "ks": np.where(np.isnan(area), np.nan, separation),
        "brier": _ratio(w @ (s_arr - events) ** 2, total),
        "log_loss": _ratio(w @ losses, total),
        "pr_auc": average_precision,
    }


def brier(y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray) -> float:
    """Mean squared difference between the score and the outcome (see :func:`weighted_metrics`).

    Example::

        >>> brier([0, 1], [0.2, 0.9])
        0.025
    """
    y_arr, s_arr = _arrays(y, score)
    return float(np.mean((s_arr - y_arr) ** 2))


def log_loss(y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray) -> float:
    """Mean negative log-likelihood of the outcomes under the score (see
    :func:`weighted_metrics` for the formula and the clipping)."""
    y_arr, s_arr = _arrays(y, score)
    return float(weighted_metrics(y_arr, s_arr)["log_loss"][0])


def pr_auc(y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray) -> float:
    """Area under the precision–recall curve as average precision (see
    :func:`weighted_metrics`); a no-skill score gets the event rate."""
    y_arr, s_arr = _arrays(y, score)
    return float(weighted_metrics(y_arr, s_arr)["pr_auc"][0])
