"""Drift statistics between a reference and a current distribution given as counts over the
same bins, one value per row (a row is a feature, or the score), all rows at once.

Inputs are arrays of shape ``(rows, bins)`` of non-negative counts (int64 as
:meth:`riskops.profiles.profile.ReferenceProfile.count` gives them); rows may be padded with
zero bins. Within a row, ``p_i`` and ``q_i`` are the reference and current shares. A row whose
reference or current total is 0 has no distribution, and every statistic is NaN there.

Exact on the bins (the bins are frozen with the model version, so these do not move with the
window):

* :func:`psi` — ``Σ (q − p) · ln(q / p)`` with both shares floored at
  :data:`riskops.statistics.stability.EPSILON`, bins empty in both dropped: the population
  stability index of the validation gate (Siddiqi 2006; Yurdakul 2018).
* :func:`jensen_shannon` — the Jensen–Shannon **distance**, the square root of the divergence
  ``½ KL(p ‖ m) + ½ KL(q ‖ m)``, ``m = ½ (p + q)`` (Lin 1991; Endres & Schindelin 2003 for the
  metric), in log base 2 by default so it lies in [0, 1]; as
  ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.
* :func:`hellinger` — ``sqrt(½ Σ (√p − √q)²)``, in [0, 1] (Hellinger 1909).
* :func:`linf` — ``max |p − q|``, the largest change of one bin's share.
* :func:`chi_square` — Pearson's test of homogeneity of the 2 × k table (reference, current) ×
  bins, bins empty in both dropped, ``k − 1`` degrees of freedom, p-value from the χ²
  distribution; as ``scipy.stats.chi2_contingency(table, correction=False)``.

Bounded (the raw values inside a bin are not kept), on ordered bins with the missing bin left
out by the caller:

* :func:`ks_from_counts` — the two-sample Kolmogorov–Smirnov statistic at the bin edges, a
  lower bound of the exact statistic on the raw values; the exact one lies within
  ``[statistic, statistic + bound]``, ``bound`` at most one bin's share of either sample.
* :func:`wasserstein_from_counts` — Wasserstein-1 ``∫ |F_ref − F_cur| dx``; within each bin the
  CDFs can only lie between their values at the bin's edges, which bounds the integral from
  below and above; the distance returned is the middle of that interval and ``bound`` its
  half-width, at most the share-weighted mean bin width (so at most one bin width).

Exact on raw values: :func:`ks_exact` (``scipy.stats.ks_2samp``) and :func:`wasserstein_exact`
(``scipy.stats.wasserstein_distance``), optionally divided by the reference's standard
deviation so that a distance reads in reference standard deviations.

Example::

    >>> ref = np.array([[50, 50]]); cur = np.array([[60, 40]])
    >>> round(float(psi(ref, cur)[0]), 6)
    0.040547
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

from riskops.errors import InputError
from riskops.statistics.stability import EPSILON

__all__ = [
    "chi_square",
    "hellinger",
    "jensen_shannon",
    "ks_exact",
    "ks_from_counts",
    "linf",
    "psi",
    "wasserstein_exact",
    "wasserstein_from_counts",
]


def _counts(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both count arrays as float64 ``(rows, bins)``; InputError on a bad shape or count."""
    reference = np.asarray(ref)
    current = np.asarray(cur)
    if reference.ndim == 1:
        reference = reference.reshape(1, -1)
    if current.ndim == 1:
        current = current.reshape(1, -1)
    if reference.shape != current.shape or reference.ndim != 2 or reference.shape[1] == 0:
        raise InputError(
            f"Reference counts {np.shape(ref)} and current counts {np.shape(cur)} must have one "
            "shape (rows, bins) with at least one bin.",
            hint="Count both samples over the same profile's bins.",
        )
    for name, array in (("reference", reference), ("current", current)):
        if array.dtype.kind not in "iuf":
            raise InputError(f"The {name} counts are {array.dtype}, not numbers.")
        if array.size and not np.all(np.isfinite(array)):
            raise InputError(f"The {name} counts hold a NaN or an infinity.")
        if array.size and array.min() < 0:
            raise InputError(
                f"The {name} counts hold a negative count ({array.min()}); counts are never "
                "negative.",
                hint="Check how the window's counts were merged or subtracted.",
            )
    return reference.astype(np.float64), current.astype(np.float64)


def _shares(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shares of each row, and which rows have both totals positive (others give NaN)."""
    reference, current = _counts(ref, cur)
    r_total = reference.sum(axis=1, keepdims=True)
    c_total = current.sum(axis=1, keepdims=True)
    valid = (r_total[:, 0] > 0) & (c_total[:, 0] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(r_total > 0, reference / np.where(r_total > 0, r_total, 1.0), 0.0)
        q = np.where(c_total > 0, current / np.where(c_total > 0, c_total, 1.0), 0.0)
    return p, q, valid


def _finish(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return np.where(valid, values, np.nan)


def psi(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Population stability index of each row (see the module docstring)."""
    p, q, valid = _shares(ref, cur)
    used = (p + q) > 0
    p_floor = np.maximum(p, EPSILON)
    q_floor = np.maximum(q, EPSILON)
    terms = np.where(used, (q_floor - p_floor) * np.log(q_floor / p_floor), 0.0)
    return _finish(terms.sum(axis=1), valid)


def jensen_shannon(ref: np.ndarray, cur: np.ndarray, *, base: float = 2.0) -> np.ndarray:
    """Jensen–Shannon distance (the square root of the divergence) of each row, in log
    ``base`` (2: values in [0, 1]; ``math.e`` gives scipy's default)."""
    p, q, valid = _shares(ref, cur)
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / np.where(m > 0, m, 1.0)), 0.0)
        right = np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0) / np.where(m > 0, m, 1.0)), 0.0)
    divergence = (left.sum(axis=1) + right.sum(axis=1)) / (2.0 * np.log(base))
    return _finish(np.sqrt(np.maximum(divergence, 0.0)), valid)


def hellinger(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Hellinger distance ``sqrt(½ Σ (√p − √q)²)`` of each row, in [0, 1]."""
    p, q, valid = _shares(ref, cur)
    distance = np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2, axis=1))
    return _finish(distance, valid)


def linf(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """``max_i |p_i − q_i|`` of each row: the largest change in one bin's share."""
    p, q, valid = _shares(ref, cur)
    return _finish(np.max(np.abs(p - q), axis=1), valid)


def chi_square(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pearson's χ² test of homogeneity per row: ``(statistic, dof, p_value)``.

    Expected count of bin ``i`` in a sample of ``N`` rows is ``N · (r_i + c_i) / (R + C)``;
    bins empty in both samples are dropped, so ``dof`` is the number of bins in use minus one
    (a row with one bin in use has dof 0, statistic 0 and p-value 1).
    """
    reference, current = _counts(ref, cur)
    r_total = reference.sum(axis=1, keepdims=True)
    c_total = current.sum(axis=1, keepdims=True)
    valid = (r_total[:, 0] > 0) & (c_total[:, 0] > 0)
    pooled = reference + current
    grand = np.where(valid[:, None], r_total + c_total, 1.0)
    used = pooled > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        e_ref = r_total * pooled / grand
        e_cur = c_total * pooled / grand
        terms = np.where(
            used,
            (reference - e_ref) ** 2 / np.where(used, e_ref, 1.0)
            + (current - e_cur) ** 2 / np.where(used, e_cur, 1.0),
            0.0,
        )
    statistic = terms.sum(axis=1)
    dof = np.maximum(used.sum(axis=1) - 1, 0).astype(np.int64)
    p_value = np.where(dof > 0, stats.chi2.sf(statistic, np.maximum(dof, 1)), 1.0)
    return _finish(statistic, valid), dof, _finish(p_value, valid)


def _cdfs(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each sample's share below (``lo``) and up to the end of (``hi``) every bin."""
    p_hi = np.cumsum(p, axis=1)
    q_hi = np.cumsum(q, axis=1)
    return p_hi - p, p_hi, q_hi - q, q_hi


def ks_from_counts(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kolmogorov–Smirnov statistic over ordered bins per row: ``(statistic, bound)``.

    ``statistic = max_i |P(≤ bin i) − Q(≤ bin i)|``, the CDF distance at the bin edges, which
    the exact statistic on the raw values can only exceed. Inside bin ``i`` each CDF lies
    between its values at the bin's edges, so the exact statistic is at most
    ``max_i max(|P_hi − Q_lo|, |P_lo − Q_hi|)``; ``bound`` is that minus ``statistic``, never
    more than the largest share of one bin in either sample.
    """
    p, q, valid = _shares(ref, cur)
    p_lo, p_hi, q_lo, q_hi = _cdfs(p, q)
    statistic = np.max(np.abs(p_hi - q_hi), axis=1)
    upper = np.max(np.maximum(np.abs(p_hi - q_lo), np.abs(p_lo - q_hi)), axis=1)
    return _finish(statistic, valid), _finish(np.maximum(upper - statistic, 0.0), valid)


def wasserstein_from_counts(
    ref: np.ndarray,
    cur: np.ndarray,
    edges: np.ndarray,
    *,
    scale: np.ndarray | float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Wasserstein-1 distance over ordered bins per row: ``(distance, bound)``.

    Bin ``i`` of a row is ``[edges[i], edges[i + 1])``, so ``edges`` is ``(rows, bins + 1)``
    (or ``(bins + 1,)`` for every row), non-decreasing; pad a shorter row by repeating its last
    edge. Inside a bin the two CDFs lie between their values at its edges, which bounds
    ``∫ |F_ref − F_cur|`` there from below (``max(0, P_lo − Q_hi, Q_lo − P_hi)``) and above
    (``max(|P_hi − Q_lo|, |P_lo − Q_hi|)``) times the bin's width. ``distance`` is the middle
    of the two sums and ``bound`` half their gap: the exact W1 of the raw values lies within
    ``distance ± bound``. ``scale`` (e.g. the reference standard deviation per row) divides
    both.
    """
    p, q, valid = _shares(ref, cur)
    boundaries = np.asarray(edges, dtype=np.float64)
    if boundaries.ndim == 1:
        boundaries = np.broadcast_to(boundaries, (p.shape[0], boundaries.shape[0]))
    if boundaries.shape != (p.shape[0], p.shape[1] + 1):
        raise InputError(
            f"Edges of shape {np.shape(edges)} do not fit counts of shape {p.shape}: each row "
            "needs one edge more than it has bins."
        )
    widths = np.diff(boundaries, axis=1)
    if not np.all(np.isfinite(widths)) or (widths < 0).any():
        raise InputError("Bin edges must be finite and non-decreasing along each row.")
    p_lo, p_hi, q_lo, q_hi = _cdfs(p, q)
    upper = np.maximum(np.abs(p_hi - q_lo), np.abs(p_lo - q_hi))
    lower = np.maximum(0.0, np.maximum(p_lo - q_hi, q_lo - p_hi))
    high = np.sum(upper * widths, axis=1)
    low = np.sum(lower * widths, axis=1)
    distance = (high + low) / 2.0
    bound = (high - low) / 2.0
    if scale is not None:
        divisor = np.asarray(scale, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            distance = distance / divisor
            bound = bound / divisor
    return _finish(distance, valid), _finish(bound, valid)


def finite_sample(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    """The non-missing values of one raw sample as float64; InputError for a sample that is
    not one column, is all missing or holds an infinity (``name`` says which sample)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise InputError(f"The {name} sample must be one column, not shape {array.shape}.")
    array = array[~np.isnan(array)]
    if array.size == 0:
        raise InputError(
            f"The {name} sample has no non-missing value to compare.",
            hint="A feature that is all missing is caught by its missing rate, not by drift.",
        )
    if not np.all(np.isfinite(array)):
        raise InputError(f"The {name} sample holds an infinity; only finite values compare.")
    return array


def ks_exact(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample KS ``(statistic, p_value)`` of the raw values (NaN dropped), as
    ``scipy.stats.ks_2samp`` computes them (exact p-value for small samples, else asymptotic;
    where the exact computation does not converge scipy itself falls back to the asymptotic
    one, and says so in a warning that is expected here)."""
    reference, current = finite_sample(a, "reference"), finite_sample(b, "current")
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="ks_2samp: Exact calculation unsuccessful", category=RuntimeWarning
        )
        result = stats.ks_2samp(reference, current)
    return float(result.statistic), float(result.pvalue)


def wasserstein_exact(a: np.ndarray, b: np.ndarray, *, normed: bool = False) -> float:
    """Wasserstein-1 distance of the raw values (NaN dropped), ``scipy.stats
    .wasserstein_distance``; with ``normed``, divided by the reference's standard deviation
    (population, ``ddof=0``), NaN when that is 0."""
    reference = finite_sample(a, "reference")
    distance = float(stats.wasserstein_distance(reference, finite_sample(b, "current")))
    if not normed:
        return distance
    spread = float(np.std(reference))
    return distance / spread if spread > 0 else float("nan")
