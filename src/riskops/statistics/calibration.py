"""Do predicted probabilities match the rates observed? Four views of one question.

* Calibration table: rows cut into ``bins`` equal-width score bands on [0, 1] (the band of
  ``p`` is ``min(⌊p · bins⌋, bins − 1)``); per band the count, events, mean score and
  observed event rate.
* Expected calibration error (Naeini, Cooper & Hauskrecht 2015, AAAI; Guo et al. 2017,
  ICML)::

      ECE = Σ_b (n_b / N) · |mean score_b − observed rate_b|

  over the bands of the table (an empty band adds nothing).
* Logistic recalibration (Cox 1958, *Biometrika* 45:562–565; Van Calster et al. 2019, *BMC
  Medicine* 17:230): the maximum-likelihood fit of::

      logit P(y = 1) = a + b · logit(p)

  Slope ``b`` below 1 means the scores are too extreme (typical of overfitting), above 1 too
  timid; ``a`` is the intercept of that joint fit (the log-odds correction at ``p = 0.5``).
  Calibration-in-the-large, the intercept with the slope fixed at 1
  (``logit P = a₀ + logit(p)``, ``logit(p)`` as an offset), is reported beside it: it says
  whether the scores are too high or too low on average. Both fits are Newton–Raphson on the
  log-likelihood, with standard errors from the inverse information matrix; ``p`` is clipped
  to ``[ε, 1 − ε]`` (ε the float64 machine epsilon) before ``logit``.
* Hosmer–Lemeshow (Hosmer & Lemeshow 2013, *Applied Logistic Regression*, 3rd ed., §5.2.2):
  rows grouped at the deciles of risk (``groups`` quantiles of the score; a group is
  ``(q_{k−1}, q_k]``, so equal scores share a group and tied quantiles leave fewer groups)::

      Ĉ = Σ_g (O_g − E_g)² / (E_g · (1 − E_g / n_g))

  with ``O_g`` events, ``E_g`` the sum of the scores and ``n_g`` rows of group ``g``; the
  p-value is the chi-square upper tail with ``G − 2`` degrees of freedom (``G`` non-empty
  groups) via ``scipy.stats.chi2``. On data the model was not fitted to, ``G − 2`` is the
  stricter choice (``G`` is also used in the literature): it gives the smaller p-value.
* Hosmer–Lemeshow power (Paul, Pennell & Lemeshow 2013, *Statistics in Medicine* 32:67–80,
  on the test's power growing with n): under the alternative where every group's event rate
  is off its mean score ``p_g`` by the same gap ``δ``, ``Ĉ`` is approximately non-central
  chi-square with ``G`` degrees of freedom (scores not fitted to these rows) and
  non-centrality::

      λ = δ² · Σ_g n_g / (p_g · (1 − p_g))

  The detectable gap is the ``δ`` at which ``P(Ĉ > χ²_{G−2, 1−α}) = power`` (``λ`` found by
  root search on ``scipy.stats.ncx2``). ``λ`` grows with ``n``, so ``δ`` shrinks as ``1/√n``:
  at thousands of rows the test flags gaps too small to matter.

Case weights (``weights``, e.g. :func:`riskops.statistics.prevalence.case_weights` on an
enriched sample) turn the table, the ECE and the logistic fit into their weighted forms: a
band's mean score and observed rate are weighted means, ``n_b / N`` becomes the band's share of
the total weight, and the fit maximises ``Σ w_i ℓ_i``. Its standard errors then treat the
weights as frequencies, which they are not; read them as indicative. Hosmer–Lemeshow is not
defined for weighted rows.

Example::

    >>> expected_calibration_error([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.6], bins=2)
    0.2
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.stats import chi2, ncx2

_EPSILON = float(np.finfo(np.float64).eps)
_MAX_ITERATIONS = 100
_TOLERANCE = 1e-10


def _weights(weights: Sequence[float] | np.ndarray | None, rows: int) -> np.ndarray:
    if weights is None:
        return np.ones(rows)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (rows,) or np.isnan(w).any() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {rows} non-negative numbers with a positive sum")
    return w


def _arrays(
    y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=np.int64)
    s_arr = np.asarray(score, dtype=np.float64)
    if y_arr.shape != s_arr.shape or y_arr.ndim != 1 or y_arr.size == 0:
        raise ValueError(
            f"labels {y_arr.shape} and scores {s_arr.shape} must be 1-D, non-empty, one length"
        )
    if not np.isin(y_arr, (0, 1)).all():
        raise ValueError("labels must be 0 (non-event) or 1 (event)")
    if np.isnan(s_arr).any() or (s_arr < 0).any() or (s_arr > 1).any():
        raise ValueError("scores must be probabilities in [0, 1]")
    return y_arr, s_arr


@dataclass(frozen=True)
class Band:
    """One row of the calibration table (mean score and rate are None in an empty band)."""

    band: int
    lower: float
    upper: float
    count: int
    events: int
    mean_score: float | None
    observed_rate: float | None
    weight: float | None = None
    """The band's share of the total case weight (None when unweighted)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def calibration_table(
    y: Sequence[int] | np.ndarray,
    score: Sequence[float] | np.ndarray,
    *,
    bins: int = 10,
    weights: Sequence[float] | np.ndarray | None = None,
) -> list[Band]:
    """Count, events, mean score and observed rate in ``bins`` equal-width bands on [0, 1]
    (with ``weights``, the weighted mean score and rate, and each band's share of weight)."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    y_arr, s_arr = _arrays(y, score)
    w = _weights(weights, len(y_arr))
    band = np.minimum(np.floor(s_arr * bins).astype(np.int64), bins - 1)
    counts = np.bincount(band, minlength=bins)
    events = np.bincount(band, weights=y_arr, minlength=bins)
    mass = np.bincount(band, weights=w, minlength=bins)
    weighted_events = np.bincount(band, weights=w * y_arr, minlength=bins)
    sums = np.bincount(band, weights=w * s_arr, minlength=bins)
    total = float(w.sum())
    table = []
    for b in range(bins):
        n = int(counts[b])
        m = float(mass[b])
        table.append(
            Band(
                band=b + 1,
                lower=round(b / bins, 12),
                upper=round((b + 1) / bins, 12),
                count=n,
                events=int(events[b]),
                mean_score=float(sums[b] / m) if n and m > 0 else None,
                observed_rate=float(weighted_events[b] / m) if n and m > 0 else None,
                weight=m / total if weights is not None else None,
            )
        )
    return table


def expected_calibration_error(
    y: Sequence[int] | np.ndarray,
    score: Sequence[float] | np.ndarray,
    *,
    bins: int = 10,
    weights: Sequence[float] | np.ndarray | None = None,
) -> float:
    """Row-weighted (or case-weighted) mean gap between mean score and observed rate over
    equal-width bands."""
    table = calibration_table(y, score, bins=bins, weights=weights)
    share = [b.weight if b.weight is not None else b.count for b in table]
    return float(
        sum(
            s * abs(b.mean_score - b.observed_rate)
            for s, b in zip(share, table, strict=True)
            if b.mean_score is not None and b.observed_rate is not None
        )
        / sum(share)
    )


def logit(score: Sequence[float] | np.ndarray) -> np.ndarray:
    """``ln(p / (1 − p))`` with ``p`` clipped to ``[ε, 1 − ε]``."""
    p = np.clip(np.asarray(score, dtype=np.float64), _EPSILON, 1.0 - _EPSILON)
    return np.log(p) - np.log1p(-p)


def _log_likelihood(y: np.ndarray, eta: np.ndarray, w: np.ndarray | None = None) -> float:
    # Σ w·(y·η − ln(1 + e^η)), written stably.
    terms = y * eta - np.logaddexp(0.0, eta)
    return float(np.sum(terms if w is None else w * terms))


def _newton(
    y: np.ndarray,
    design: np.ndarray,
    offset: np.ndarray,
    start: np.ndarray,
    w: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, bool, int]:
    """Maximum-likelihood logistic coefficients: (coefficients, covariance, converged, steps)."""
    cases = np.ones(len(y)) if w is None else w
    beta = start.astype(np.float64)
    current = _log_likelihood(y, offset + design @ beta, w)
    information = np.eye(len(beta))
    for step in range(1, _MAX_ITERATIONS + 1):
        eta = offset + design @ beta
        mu = 1.0 / (1.0 + np.exp(-eta))
        weight = cases * mu * (1.0 - mu)
        gradient = design.T @ (cases * (y - mu))
        information = design.T @ (design * weight[:, np.newaxis])
        try:
            change = np.linalg.solve(information, gradient)
        except np.linalg.LinAlgError:
            return beta, np.full((len(beta), len(beta)), np.nan), False, step
        # Halve the step until the likelihood does not fall (guards against overshooting).
        scale = 1.0
        while scale > 1e-8:
            candidate = beta + scale * change
            value = _log_likelihood(y, offset + design @ candidate, w)
            if value >= current - 1e-12:
                break
            scale /= 2.0
        beta, current = candidate, value
        if np.max(np.abs(scale * change)) < _TOLERANCE:
            try:
                return beta, np.linalg.inv(information), True, step
            except np.linalg.LinAlgError:
                return beta, np.full((len(beta), len(beta)), np.nan), False, step
    return beta, np.full((len(beta), len(beta)), np.nan), False, _MAX_ITERATIONS


@dataclass(frozen=True)
class Recalibration:
    """The fit ``logit P(y=1) = intercept + slope · logit(p)`` and calibration-in-the-large.

    ``converged`` is False when no finite maximum exists (the scores separate the classes
    perfectly) or the fit did not settle; the coefficients are then not estimates.
    """

    intercept: float
    slope: float
    intercept_se: float | None
    slope_se: float | None
    calibration_in_the_large: float
    converged: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def logistic_recalibration(
    y: Sequence[int] | np.ndarray,
    score: Sequence[float] | np.ndarray,
    *,
    weights: Sequence[float] | np.ndarray | None = None,
) -> Recalibration:
    """Calibration slope and intercept by logistic regression of ``y`` on ``logit(score)``
    (weighted by ``weights`` when given)."""
    y_arr, s_arr = _arrays(y, score)
    w = None if weights is None else _weights(weights, len(y_arr))
    if len(np.unique(y_arr)) != 2:
        raise ValueError("both classes (0 and 1) must be present to fit a calibration slope")
    x = logit(s_arr)
    events = y_arr.astype(np.float64)
    design = np.column_stack([np.ones_like(x), x])
    beta, covariance, converged, _ = _newton(
        events, design, np.zeros_like(x), np.array([0.0, 1.0]), w
    )
    large, _, large_converged, _ = _newton(events, design[:, :1], x, np.array([0.0]), w)
    return Recalibration(
        intercept=float(beta[0]),
        slope=float(beta[1]),
        intercept_se=_finite(math.sqrt(covariance[0, 0])) if converged else None,
        slope_se=_finite(math.sqrt(covariance[1, 1])) if converged else None,
        calibration_in_the_large=float(large[0]),
        converged=bool(converged and large_converged),
    )


@dataclass(frozen=True)
class HosmerLemeshow:
    """The Hosmer–Lemeshow statistic, its degrees of freedom and p-value, and its groups."""

    statistic: float
    df: int
    p_value: float | None
    groups: list[dict[str, float | int]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def hosmer_lemeshow(
    y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray, *, groups: int = 10
) -> HosmerLemeshow:
    """Hosmer–Lemeshow goodness of fit over ``groups`` quantile groups of the score."""
    if groups < 3:
        raise ValueError(f"Hosmer–Lemeshow needs at least 3 groups, not {groups}")
    y_arr, s_arr = _arrays(y, score)
    inner = np.unique(np.quantile(s_arr, np.linspace(0.0, 1.0, groups + 1))[1:-1])
    group = np.searchsorted(inner, s_arr, side="left")
    rows = np.bincount(group, minlength=len(inner) + 1)
    observed = np.bincount(group, weights=y_arr, minlength=len(inner) + 1)
    expected = np.bincount(group, weights=s_arr, minlength=len(inner) + 1)
    kept = rows > 0
    rows, observed, expected = rows[kept], observed[kept], expected[kept]
    spread = expected * (1.0 - expected / rows)
    terms = np.divide(
        (observed - expected) ** 2, spread, out=np.zeros_like(spread), where=spread > 0
    )
    statistic = float(terms.sum())
    df = int(len(rows) - 2)
    return HosmerLemeshow(
        statistic=statistic,
        df=df,
        p_value=float(chi2.sf(statistic, df)) if df >= 1 else None,
        groups=[
            {
                "group": g + 1,
                "count": int(rows[g]),
                "observed": int(observed[g]),
                "expected": float(expected[g]),
            }
            for g in range(len(rows))
        ],
    )


@dataclass(frozen=True)
class HosmerLemeshowPower:
    """The calibration gap a Hosmer–Lemeshow test detects at ``alpha`` with ``power``, on
    ``rows`` rows in ``groups`` groups; ``gap_at_10x`` is the same at ten times the rows."""

    rows: int
    groups: int
    alpha: float
    power: float
    detectable_gap: float
    gap_at_10x: float

    def statement(self) -> str:
        return (
            f"At {self.rows:,} rows in {self.groups} groups, Hosmer–Lemeshow at alpha "
            f"{self.alpha:g} detects with {self.power:.0%} power a gap of "
            f"{self.detectable_gap:.3f} between each group's mean score and its event rate; "
            f"the gap shrinks as 1/sqrt(n) ({self.gap_at_10x:.3f} at {10 * self.rows:,} rows), "
            "so on thousands of rows it flags miscalibration too small to matter. ECE and "
            "the calibration slope are the judged measures: leave min_hosmer_lemeshow_p unset "
            "on large data, or set it where this gap is the smallest one that matters."
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "statement": self.statement()}


def hosmer_lemeshow_power(
    groups: Sequence[dict[str, float | int]], *, alpha: float = 0.05, power: float = 0.8
) -> HosmerLemeshowPower | None:
    """The gap detectable by the Hosmer–Lemeshow test over ``groups`` (its ``groups`` rows:
    ``count`` and ``expected``), per the module docstring; ``None`` with fewer than 3 groups.

    >>> g = [{"count": 100, "expected": 10.0 * (k + 1)} for k in range(9)]
    >>> round(hosmer_lemeshow_power(g).detectable_gap, 3)
    0.046
    """
    if not (0.0 < alpha < 1.0 and 0.0 < power < 1.0):
        raise ValueError(f"alpha and power must lie strictly between 0 and 1, not {alpha}, {power}")
    kept = [(int(g["count"]), float(g["expected"])) for g in groups if g["count"]]
    rates = [(n, e / n) for n, e in kept if 0.0 < e < n]
    if len(rates) < 3:
        return None
    df = len(rates)
    critical = float(chi2.isf(alpha, df - 2))
    information = sum(n / (p * (1.0 - p)) for n, p in rates)

    def shortfall(lam: float) -> float:
        return float(ncx2.sf(critical, df, lam)) - power

    upper = 1.0
    while shortfall(upper) < 0:
        upper *= 2.0
    noncentrality = 0.0 if shortfall(0.0) >= 0 else float(brentq(shortfall, 0.0, upper))
    gap = math.sqrt(noncentrality / information)
    return HosmerLemeshowPower(
        rows=sum(n for n, _ in kept),
        groups=len(rates),
        alpha=alpha,
        power=power,
        detectable_gap=gap,
        gap_at_10x=math.sqrt(noncentrality / (10.0 * information)),
    )
