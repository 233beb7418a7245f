"""How well a score separates the event (label 1) from the non-event (label 0).

* AUC: area under the ROC curve, the probability that a random event scores above a random
  non-event (ties count half); computed with scikit-learn's ``roc_auc_score``.
* Gini (accuracy ratio, Somers' D): ``2 * AUC - 1``.
* KS: the Kolmogorov–Smirnov statistic between the score distributions of events and
  non-events, ``max_t |F1(t) - F0(t)|``, which equals ``max(TPR - FPR)`` over the ROC curve.

Example::

    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


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
