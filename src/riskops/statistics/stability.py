"""Population stability: has a distribution moved between an expected and an actual sample?

The population stability index over bins ``i`` with expected shares ``e_i`` and actual shares
``a_i`` (Siddiqi 2006, *Credit Risk Scorecards*, ch. 8; Yurdakul 2018, *Statistical
Properties of Population Stability Index*, Western Michigan University)::

    PSI = Σ_i (a_i − e_i) · ln(a_i / e_i)

Applied to a model's score it is the PSI; applied to one input feature it is usually called
the characteristic stability index (CSI), with the same formula. Common reading: below 0.1
stable, 0.1–0.25 a moderate shift worth a look, above 0.25 a major shift.

Bins:

* numeric values: cut at the ``k / bins`` quantiles (k = 1 … bins − 1) of the *expected*
  sample, bins ``(−∞, q₁], (q₁, q₂], …, (q_last, ∞)``. A quantile is the smallest observed
  value whose empirical CDF reaches ``k / bins`` (the inverted-CDF definition, Hyndman & Fan
  1996 type 1), so each cut is a real value and, without ties, each bin holds ``1 / bins`` of
  the expected rows; equal quantiles (a discrete or heavily tied variable) merge, so there may
  be fewer bins. Missing values (NaN) form a bin of their
  own when either sample has any.
* categorical values: one bin per category, plus one for missing values.

A bin empty in both samples is dropped (it adds nothing). A share of 0 in one sample would make
the logarithm infinite, so every share is floored at ``EPSILON = 1e-4`` (one row in ten
thousand) before the formula; the floor is not renormalised, so identical samples still give
exactly 0.

Example::

    >>> round(population_stability_index([0.5, 0.5], [0.6, 0.4]), 6)
    0.040547
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

EPSILON = 1e-4


def population_stability_index(
    expected_shares: Sequence[float] | np.ndarray, actual_shares: Sequence[float] | np.ndarray
) -> float:
    """``Σ (a − e) · ln(a / e)`` with each share floored at :data:`EPSILON`."""
    expected = np.maximum(np.asarray(expected_shares, dtype=np.float64), EPSILON)
    actual = np.maximum(np.asarray(actual_shares, dtype=np.float64), EPSILON)
    if expected.shape != actual.shape or expected.ndim != 1:
        raise ValueError(f"shares {expected.shape} and {actual.shape} must be 1-D of one length")
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@dataclass(frozen=True)
class StabilityBin:
    """One bin: its label (an interval, a category or ``missing``), counts and shares."""

    label: str
    expected_count: int
    actual_count: int
    expected_share: float
    actual_share: float
    contribution: float
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class StabilityIndex:
    """A PSI (or CSI) value with the bins it was summed over."""

    value: float
    expected_rows: int
    actual_rows: int
    bins: list[StabilityBin] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _index(
    labels: list[str],
    expected: np.ndarray,
    actual: np.ndarray,
    edges: list[tuple[float | None, float | None]],
) -> StabilityIndex:
    expected_total = int(expected.sum())
    actual_total = int(actual.sum())
    if expected_total == 0 or actual_total == 0:
        raise ValueError("both samples need at least one row to compare their distributions")
    keep = (expected + actual) > 0
    e_share = expected[keep] / expected_total
    a_share = actual[keep] / actual_total
    e_floor = np.maximum(e_share, EPSILON)
    a_floor = np.maximum(a_share, EPSILON)
    contributions = (a_floor - e_floor) * np.log(a_floor / e_floor)
    kept = [i for i in range(len(labels)) if keep[i]]
    bins = [
        StabilityBin(
            label=labels[i],
            expected_count=int(expected[i]),
            actual_count=int(actual[i]),
            expected_share=float(e),
            actual_share=float(a),
            contribution=float(c),
            lower=edges[i][0],
            upper=edges[i][1],
        )
        for i, e, a, c in zip(kept, e_share, a_share, contributions, strict=True)
    ]
    return StabilityIndex(
        value=float(contributions.sum()),
        expected_rows=expected_total,
        actual_rows=actual_total,
        bins=bins,
    )


def quantile_edges(expected: Sequence[float] | np.ndarray, bins: int) -> np.ndarray:
    """The distinct inner cut points: the ``k / bins`` quantiles of the non-missing values."""
    if bins < 2:
        raise ValueError(f"bins must be at least 2, not {bins}")
    values = np.asarray(expected, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return np.array([], dtype=np.float64)
    return np.unique(np.quantile(values, np.arange(1, bins) / bins, method="inverted_cdf"))


def _interval(lower: float | None, upper: float | None) -> str:
    left = "(-inf" if lower is None else f"({lower:.6g}"
    right = "inf)" if upper is None else f"{upper:.6g}]"
    return f"{left}, {right}"


def numeric_stability(
    expected: Sequence[float] | np.ndarray,
    actual: Sequence[float] | np.ndarray,
    *,
    bins: int = 10,
) -> StabilityIndex:
    """PSI of a numeric variable, binned at the expected sample's quantiles (NaN = missing)."""
    e_values = np.asarray(expected, dtype=np.float64)
    a_values = np.asarray(actual, dtype=np.float64)
    inner = quantile_edges(e_values, bins)
    count = len(inner) + 1

    def counts(values: np.ndarray) -> np.ndarray:
        present = values[~np.isnan(values)]
        return np.bincount(np.searchsorted(inner, present, side="left"), minlength=count)

    e_counts = counts(e_values)
    a_counts = counts(a_values)
    bounds: list[tuple[float | None, float | None]] = [
        (
            float(inner[i - 1]) if i > 0 else None,
            float(inner[i]) if i < len(inner) else None,
        )
        for i in range(count)
    ]
    labels = [_interval(low, high) for low, high in bounds]
    e_missing = int(np.isnan(e_values).sum())
    a_missing = int(np.isnan(a_values).sum())
    if e_missing or a_missing:
        e_counts = np.append(e_counts, e_missing)
        a_counts = np.append(a_counts, a_missing)
        labels.append("missing")
        bounds.append((None, None))
    return _index(labels, e_counts, a_counts, bounds)


def categorical_stability(
    expected_codes: Sequence[int] | np.ndarray,
    actual_codes: Sequence[int] | np.ndarray,
    categories: Sequence[str],
) -> StabilityIndex:
    """PSI of a categorical variable given as codes into ``categories`` (-1 = missing)."""
    e_codes = np.asarray(expected_codes, dtype=np.int64)
    a_codes = np.asarray(actual_codes, dtype=np.int64)
    size = len(categories)
    for codes in (e_codes, a_codes):
        if codes.size and (codes.min() < -1 or codes.max() >= size):
            raise ValueError(f"category codes must lie in [-1, {size - 1}]")
    # Shift by one so missing (-1) lands in slot 0, then move that slot to the end.
    e_counts = np.bincount(e_codes + 1, minlength=size + 1)
    a_counts = np.bincount(a_codes + 1, minlength=size + 1)
    e_counts = np.append(e_counts[1:], e_counts[0])
    a_counts = np.append(a_counts[1:], a_counts[0])
    labels = [*categories, "missing"]
    return _index(labels, e_counts, a_counts, [(None, None)] * (size + 1))
