"""The percentile bootstrap: how much a statistic would move if the rows were drawn again.

Each resample draws ``n`` of the ``n`` rows with replacement; it is stored as a vector of
counts (how often each row was drawn), and a statistic that accepts a (B, n) matrix of such
frequency weights evaluates all B resamples at once (see
``riskops.statistics.discrimination.weighted_metrics``). The interval at confidence ``c`` is
the pair of empirical quantiles ``(α/2, 1 − α/2)`` of the B replicates, ``α = 1 − c``
(Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 13). Paired statistics (the
difference of two scores' AUCs on the same rows) use one weight matrix for both, so rows are
resampled jointly. A replicate that is undefined (NaN: a resample with one class only) is left
out, and the count of those kept is reported.

The random generator is numpy's PCG64 seeded with ``seed``: the same rows, resamples and seed
always give the same interval.

Example::

    >>> counts = resample_counts(rows=4, resamples=2, seed=0)
    >>> counts.shape, counts.sum(axis=1).tolist()
    ((2, 4), [4, 4])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

Statistic = Callable[[np.ndarray], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class Interval:
    """A bootstrap interval: its bounds, the confidence, and the replicates behind it."""

    low: float | None
    high: float | None
    confidence: float
    replicates: int

    def as_list(self) -> list[float | None]:
        return [self.low, self.high]


def resample_counts(*, rows: int, resamples: int, seed: int) -> np.ndarray:
    """A (resamples, rows) matrix of how often each row is drawn in each resample."""
    if rows < 1:
        raise ValueError("a bootstrap needs at least one row")
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, rows, size=(resamples, rows))
    offsets = (np.arange(resamples) * rows)[:, np.newaxis]
    return np.bincount((drawn + offsets).ravel(), minlength=resamples * rows).reshape(
        resamples, rows
    )


def percentile_interval(replicates: np.ndarray, confidence: float) -> Interval:
    """The ``(α/2, 1 − α/2)`` quantiles of the defined (non-NaN) ``replicates``."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, not {confidence}")
    values = np.asarray(replicates, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return Interval(None, None, confidence, 0)
    alpha = 1.0 - confidence
    low, high = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
    return Interval(float(low), float(high), confidence, int(values.size))


def lower_bound(replicates: np.ndarray, confidence: float) -> float | None:
    """The one-sided lower confidence bound: the ``1 − c`` quantile of the replicates."""
    values = np.asarray(replicates, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return None
    return float(np.quantile(values, 1.0 - confidence))


def bootstrap(
    statistic: Statistic, *, rows: int, resamples: int, confidence: float, seed: int
) -> dict[str, Interval]:
    """Percentile intervals for every value ``statistic`` returns, from one set of resamples.

    ``statistic`` maps a (B, n) count matrix to named arrays of B replicates.
    """
    if resamples < 1:
        return {}
    replicates = statistic(resample_counts(rows=rows, resamples=resamples, seed=seed))
    return {name: percentile_interval(values, confidence) for name, values in replicates.items()}
