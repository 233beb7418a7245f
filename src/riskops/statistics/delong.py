"""DeLong's test for two correlated ROC AUCs measured on the same rows.

For ``m`` events with scores ``X_i`` and ``n`` non-events with scores ``Y_j``, the AUC is the
Mann–Whitney statistic ``θ = (1/mn) Σ_i Σ_j ψ(X_i, Y_j)`` with ``ψ = 1`` if ``X > Y``, ``1/2``
if equal, ``0`` otherwise. DeLong, DeLong & Clarke-Pearson (1988, *Biometrics* 44(3):837–845)
estimate the covariance of several such AUCs from their structural components::

    V10_i = (1/n) Σ_j ψ(X_i, Y_j)          (one per event)
    V01_j = (1/m) Σ_i ψ(X_i, Y_j)          (one per non-event)
    S = S10 / m + S01 / n

where ``S10`` and ``S01`` are the sample covariance matrices (over events, resp. non-events)
of the components of the k scores. For the difference ``θ_a − θ_b``, the variance is
``S_aa + S_bb − 2 S_ab`` and ``z = (θ_a − θ_b) / √var`` is asymptotically standard normal.

Sun & Xu (2014, *IEEE Signal Processing Letters* 21(11):1389–1393) compute the components
from midranks in O(n log n) instead of O(mn): with ``T_z`` the midranks of all rows, ``T_x``
those of the events among themselves and ``T_y`` of the non-events among themselves::

    V10_i = (T_z(X_i) − T_x(X_i)) / n
    V01_j = 1 − (T_z(Y_j) − T_y(Y_j)) / m
    θ = (Σ_i T_z(X_i) − m(m + 1)/2) / (mn)

Example::

    >>> result = compare_aucs([0, 0, 0, 1, 1, 1], [.1, .2, .6, .4, .7, .9], [.1, .5, .2, .4, .3, .9])
    >>> round(result.auc_a, 4), round(result.auc_b, 4), round(result.difference, 4)
    (0.8889, 0.7778, 0.1111)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AucComparison:
    """Two AUCs on the same rows, their difference ``auc_a − auc_b`` and its DeLong variance."""

    auc_a: float
    auc_b: float
    difference: float
    variance: float
    events: int
    non_events: int

    @property
    def se(self) -> float:
        return math.sqrt(max(self.variance, 0.0))


def midranks(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``; a run of equal values gets the mean of its positions.

    Example::

        >>> midranks([0.3, 0.1, 0.3, 0.7]).tolist()
        [2.5, 1.0, 2.5, 4.0]
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"midranks takes a 1-D array, not shape {array.shape}")
    order = np.argsort(array, kind="mergesort")
    ordered = array[order]
    size = len(ordered)
    # Runs of equal values: [start, end) in sorted positions; each gets (start + 1 + end) / 2.
    boundaries = np.flatnonzero(np.diff(ordered)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [size]))
    sorted_ranks = np.repeat((starts + 1 + ends) / 2.0, ends - starts)
    ranks = np.empty(size, dtype=np.float64)
    ranks[order] = sorted_ranks
    return ranks


def auc_covariance(
    y: Sequence[int] | np.ndarray, scores: Sequence[Sequence[float] | np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The AUCs of ``k`` scores on the same rows and their (k, k) DeLong covariance matrix.

    Needs at least two events and two non-events.
    """
    labels = np.asarray(y, dtype=np.int64)
    matrix = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    if labels.ndim != 1 or matrix.shape[1] != labels.shape[0]:
        raise ValueError(
            f"labels {labels.shape} and scores {matrix.shape} must cover the same rows"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (non-event) or 1 (event)")
    positive = labels == 1
    m = int(positive.sum())
    n = int((~positive).sum())
    if m < 2 or n < 2:
        raise ValueError(
            f"DeLong's variance needs at least two events and two non-events (got {m} and {n})"
        )
    k = matrix.shape[0]
    events = matrix[:, positive]
    non_events = matrix[:, ~positive]
    v10 = np.empty((k, m))
    v01 = np.empty((k, n))
    aucs = np.empty(k)
    for r in range(k):
        t_x = midranks(events[r])
        t_y = midranks(non_events[r])
        t_z = midranks(np.concatenate((events[r], non_events[r])))
        aucs[r] = (t_z[:m].sum() - m * (m + 1) / 2.0) / (m * n)
        v10[r] = (t_z[:m] - t_x) / n
        v01[r] = 1.0 - (t_z[m:] - t_y) / m
    covariance = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, covariance


def compare_aucs(
    y: Sequence[int] | np.ndarray,
    score_a: Sequence[float] | np.ndarray,
    score_b: Sequence[float] | np.ndarray,
) -> AucComparison:
    """AUC of ``score_a`` minus AUC of ``score_b`` on the same rows, with DeLong's variance."""
    aucs, covariance = auc_covariance(y, [score_a, score_b])
    contrast = np.array([1.0, -1.0])
    variance = float(contrast @ covariance @ contrast)
    labels = np.asarray(y, dtype=np.int64)
    return AucComparison(
        auc_a=float(aucs[0]),
        auc_b=float(aucs[1]),
        difference=float(aucs[0] - aucs[1]),
        variance=variance,
        events=int(labels.sum()),
        non_events=int(len(labels) - labels.sum()),
    )
