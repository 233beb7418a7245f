"""Exact two-sample KS and Wasserstein-1 of raw values from one merge of the sorted samples.

:func:`riskops.statistics.drift.ks_exact` and :func:`~riskops.statistics.drift.wasserstein_exact`
each sort both samples and binary-search every value in each (``scipy.stats.ks_2samp``,
``scipy.stats.wasserstein_distance``): on 1M rows a column costs about a second. Both
statistics are functions of the same two empirical CDFs on the pooled sorted values, so one
stable merge gives them together:

* with ``x_(1) ≤ … ≤ x_(N)`` the pooled values and ``F_a``, ``F_b`` the empirical CDFs
  (right-continuous: at a run of equal values, the count up to its last member),
* KS ``D = max_i |F_a(x_(i)) − F_b(x_(i))|`` over the last member of each run (Smirnov 1939),
* Wasserstein-1 ``W = Σ_i |F_a(x_(i)) − F_b(x_(i))| · (x_(i+1) − x_(i))``, the area between the
  CDFs (Vallender 1974); inside a run of ties the step is 0, so every ``i`` may be summed.

``D`` is computed with the same operations as scipy's, so it is bit-identical; its two-sided
p-value is scipy's too: for samples of more than 10,000 values Smirnov's asymptotic
``kstwo.sf(D, round(mn / (m + n)))`` exactly as ``ks_2samp(method="auto")`` does, and for smaller
samples ``ks_2samp`` itself (its exact distribution). ``W`` agrees with scipy to rounding
(the products are summed in another order). ``normed`` is ``W`` divided by the first sample's
standard deviation (``ddof = 0``), NaN when that is 0, as ``wasserstein_exact(normed=True)``.

Example::

    >>> result = ks_wasserstein([0.0, 1.0, 2.0], [1.0, 2.0, 3.0])
    >>> round(result.ks, 4), round(result.wasserstein, 4)
    (0.3333, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from riskops.statistics import drift

EXACT_P_MAX_N = 10_000  # scipy's ks_2samp MAX_AUTO_N: up to it, the exact p-value


@dataclass(frozen=True)
class TwoSample:
    """KS statistic and p-value, Wasserstein-1, and Wasserstein-1 in units of ``a``'s std."""

    ks: float
    ks_p: float
    wasserstein: float
    normed: float


def ks_wasserstein(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, presorted: bool = False
) -> TwoSample:
    """KS and Wasserstein-1 of the finite-or-NaN samples ``a`` (reference) and ``b`` (NaN
    dropped; an empty sample or an infinity is refused as by the drift module). With
    ``presorted`` the caller says both are sorted ascending already (not checked)."""
    reference = drift.finite_sample(a, "reference")
    current = drift.finite_sample(b, "current")
    if not presorted:
        reference, current = np.sort(reference), np.sort(current)
    m, n = reference.size, current.size
    spread = float(np.std(reference))
    pooled = np.concatenate([reference, current])
    # Two sorted runs: a stable argsort merges them in linear time.
    order = np.argsort(pooled, kind="stable")
    values = pooled[order]
    below_a = np.cumsum(order < m)
    below_b = np.arange(1, m + n + 1) - below_a
    gaps = below_a / m - below_b / n
    last = np.empty(m + n, dtype=bool)
    np.not_equal(values[:-1], values[1:], out=last[:-1])
    last[-1] = True
    differences = gaps[last]
    d = max(float(np.clip(-differences.min(), 0, 1)), float(differences.max()))
    if max(m, n) <= EXACT_P_MAX_N:
        d, p_value = drift.ks_exact(reference, current)
    else:
        en = float(m) * float(n) / (float(m) + float(n))
        p_value = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1))
    distance = float(np.dot(np.abs(gaps[:-1]), np.diff(values)))
    return TwoSample(
        ks=d,
        ks_p=p_value,
        wasserstein=distance,
        normed=distance / spread if spread > 0 else math.nan,
    )
