"""Performance of a deployed version from binned outcome counts: realised once labels arrive,
estimated from the calibrated scores before they do.

**The grid.** A score ``p`` falls in bin ``min(⌊100 p⌋, 99)`` of 100 equal-width bins on
[0, 1] (:data:`SCORE_BINS`). Per cell (cohort month, months since decision, outcome, bin) the
store keeps ``n``, ``positives``, ``Σp`` and ``Σp²`` (``riskops.store.tables.PerformanceCellRecord``).
Every realised figure below is exact for the *binned* score: it equals the figure computed on
the rows with each score replaced by its bin (rows in one bin are ties). Binning changes AUC
by at most the share of event/non-event pairs that fall in one bin, times ½.

**Realised** (labels), with ``P_b`` events and ``N_b`` non-events in bin ``b``, ``m = ΣP_b``,
``n = ΣN_b``:

* AUC (Mann–Whitney, ties ½): ``θ = Σ_b P_b (Σ_{c<b} N_c + ½ N_b) / (m n)``; Gini ``2θ − 1``.
* Its variance by DeLong, DeLong & Clarke-Pearson (1988, *Biometrics* 44:837–845) on the
  binned data: the structural components are constant within a bin,
  ``V10_b = (Σ_{c<b} N_c + ½ N_b) / n`` for an event and ``V01_b = (Σ_{c>b} P_c + ½ P_b) / m``
  for a non-event, so ``var = S10/m + S01/n`` with ``S10 = Σ_b P_b (V10_b − θ)² / (m − 1)``
  and ``S01 = Σ_b N_b (V01_b − θ)² / (n − 1)``; the interval is ``θ ± z √var``, clipped to
  [0, 1]. This equals :func:`riskops.statistics.delong.auc_covariance` on the binned rows.
* KS: ``max_b |F_P(b) − F_N(b)|`` over the bins' cumulative shares (two-sample KS of the
  binned scores).
* Bad rate per score band (10 bands of 10 bins) and per outcome, with the Jeffreys interval
  ``Beta(k + ½, n − k + ½)`` quantiles, lower bound 0 when ``k = 0`` and upper 1 when
  ``k = n`` (Brown, Cai & DasGupta 2001, *Statistical Science* 16:101–133); a band is
  calibrated when its mean score lies inside the interval.
* The vintage matrix: per cohort month and ``k`` months since decision, the cumulative bad rate
  ``Σ_{j ≤ k} positives(cohort, j) / decisions(cohort)`` — how the cohort's bad rate grows as
  labels mature.

**Estimated** (before labels; the confidence-based estimate of NannyML's CBPE), under two
assumptions: the scores are calibrated (``P(y = 1 | p) = p``) and there is no concept shift
(that relation still holds on the current population). With each row's label a Bernoulli(p):

* expected positives ``E = Σp`` with standard deviation ``√(Σp − Σp²)``; per outcome this is
  the expected confusion matrix at the policy's cut-offs (declined rows that go bad are the
  true positives, approved rows that go bad the false negatives);
* expected AUC: the ratio of the expected concordant pairs to the expected event/non-event
  pairs over distinct rows, each row counting ``p`` as an event and ``1 − p`` as a non-event;
  a row paired with itself is removed, which takes ``½ Σ p(1 − p)`` from the numerator and
  ``Σ p(1 − p)`` from the denominator (that is what ``Σp²`` is kept for).

A realised figure is within the estimate's tolerance when it is inside ``estimate ± 3 σ``
(σ: the binomial standard deviation above for counts and rates, DeLong's for AUC).

Example::

    >>> pos = np.array([0, 1, 3]); neg = np.array([4, 1, 0])
    >>> round(binned_auc(pos, neg).auc, 4)
    0.975
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta, norm

SCORE_BINS = 100
BANDS = 10
TOLERANCE_SIGMAS = 3.0


def score_bin(score: float) -> int:
    """The bin of ``score`` on the fixed grid: ``min(⌊100 p⌋, 99)`` for ``p`` in [0, 1]."""
    if not 0.0 <= score <= 1.0 or math.isnan(score):
        raise ValueError(f"a score must be in [0, 1], got {score!r}")
    return min(int(score * SCORE_BINS), SCORE_BINS - 1)


@dataclass(frozen=True)
class BinnedAuc:
    """AUC of binned scores with DeLong's variance and a normal interval."""

    auc: float
    variance: float
    low: float
    high: float
    events: int
    non_events: int

    @property
    def gini(self) -> float:
        return 2.0 * self.auc - 1.0


def binned_auc(
    positives: np.ndarray, negatives: np.ndarray, *, confidence: float = 0.95
) -> BinnedAuc:
    """AUC of events (``positives[b]`` per bin) against non-events, ties ½, with DeLong's
    variance on the binned data (formulas in the module docstring)."""
    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)
    m, n = float(pos.sum()), float(neg.sum())
    if m == 0 or n == 0:
        raise ValueError("AUC needs at least one event and one non-event")
    neg_below = np.cumsum(neg) - neg
    pos_above = pos.sum() - np.cumsum(pos)
    v10 = (neg_below + 0.5 * neg) / n
    v01 = (pos_above + 0.5 * pos) / m
    theta = float((pos * v10).sum() / m)
    s10 = float((pos * (v10 - theta) ** 2).sum() / (m - 1)) if m > 1 else 0.0
    s01 = float((neg * (v01 - theta) ** 2).sum() / (n - 1)) if n > 1 else 0.0
    variance = s10 / m + s01 / n
    half = float(norm.ppf(0.5 + confidence / 2.0)) * math.sqrt(variance)
    return BinnedAuc(
        auc=theta,
        variance=variance,
        low=max(0.0, theta - half),
        high=min(1.0, theta + half),
        events=int(m),
        non_events=int(n),
    )


def binned_ks(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Two-sample KS statistic of the binned scores of events and non-events."""
    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)
    if pos.sum() == 0 or neg.sum() == 0:
        raise ValueError("KS needs at least one event and one non-event")
    return float(np.max(np.abs(np.cumsum(pos) / pos.sum() - np.cumsum(neg) / neg.sum())))


def expected_auc(n: np.ndarray, sum_p: np.ndarray, sum_p2: np.ndarray) -> float:
    """The AUC expected when each row's label is Bernoulli(its score), per bin counts ``n``,
    ``Σp`` and ``Σp²`` (ratio of expectations over distinct rows; module docstring)."""
    count = np.asarray(n, dtype=np.float64)
    w1 = np.asarray(sum_p, dtype=np.float64)
    w0 = count - w1
    self_pairs = float((w1 - np.asarray(sum_p2, dtype=np.float64)).sum())
    numerator = float((w1 * (np.cumsum(w0) - w0 + 0.5 * w0)).sum()) - 0.5 * self_pairs
    denominator = float(w1.sum() * w0.sum()) - self_pairs
    if denominator <= 0:
        raise ValueError("the expected AUC needs scores strictly between 0 and 1")
    return numerator / denominator


@dataclass(frozen=True)
class Rate:
    """Observed events among ``n`` with the Jeffreys interval, beside the mean score."""

    n: int
    events: int
    mean_score: float
    rate: float | None
    low: float | None
    high: float | None

    @property
    def calibrated(self) -> bool | None:
        """Whether the mean score lies inside the observed rate's interval (None if n = 0)."""
        if self.low is None or self.high is None:
            return None
        return self.low <= self.mean_score <= self.high


def jeffreys(events: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """The Jeffreys interval of a binomial proportion (Brown, Cai & DasGupta 2001)."""
    if n <= 0 or not 0 <= events <= n:
        raise ValueError(f"need 0 <= events <= n and n > 0, got {events} of {n}")
    tail = (1.0 - confidence) / 2.0
    low = 0.0 if events == 0 else float(beta.ppf(tail, events + 0.5, n - events + 0.5))
    high = 1.0 if events == n else float(beta.ppf(1.0 - tail, events + 0.5, n - events + 0.5))
    return low, high


def rate(n: int, events: int, sum_p: float, *, confidence: float = 0.95) -> Rate:
    """The :class:`Rate` of one group."""
    if n == 0:
        return Rate(0, 0, 0.0, None, None, None)
    low, high = jeffreys(events, n, confidence=confidence)
    return Rate(n, events, sum_p / n, events / n, low, high)


def vintage(positives: np.ndarray, decisions: np.ndarray) -> np.ndarray:
    """Cumulative bad rate per cohort (rows) and months since decision (columns):
    ``cumsum(positives, axis=1) / decisions[:, None]``; NaN for a cohort without decisions."""
    pos = np.asarray(positives, dtype=np.float64)
    total = np.asarray(decisions, dtype=np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, np.cumsum(pos, axis=1) / total, np.nan)


def within(realised: float, estimate: float, sigma: float) -> bool:
    """Whether ``realised`` lies within :data:`TOLERANCE_SIGMAS` σ of ``estimate``."""
    return abs(realised - estimate) <= TOLERANCE_SIGMAS * sigma
