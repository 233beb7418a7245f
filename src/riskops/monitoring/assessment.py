"""The assessment of one version's window against its reference profile: the statistics a
monitoring run reports, and the findings its alerts are judged on.

Per version with a profile, for every feature and the score: PSI/CSI with its p-value
(:func:`riskops.monitoring.alerts.psi_p_value`), Jensen–Shannon, Hellinger, L∞ and χ² exact on
the coarse bins, KS and Wasserstein-1 with their bounds from the fine bins
(:mod:`riskops.statistics.drift`), the moments, and the missing, out-of-range (outside the
training range: the underflow and overflow bins) and unseen rates, each judged as the excess
over the reference's own rate. Per version: the rate of each outcome against the rate the
reference scores give at the policy's cut-offs (exact binomial tests), the fallback rate, the
latency histogram, and outcomes per segment. A version without a profile gets the decision
layer only, and its result says so.

Example::

    result, findings = version_results("credit-scoring", "production", window, info)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest

from riskops.decisions.aggregates import LATENCY_BUCKETS_MS
from riskops.monitoring.alerts import Finding, psi_p_value
from riskops.monitoring.windows import VersionWindow
from riskops.profiles.profile import NumericBins, ReferenceProfile
from riskops.spec import ModelSpec
from riskops.statistics import drift


@dataclass(frozen=True)
class VersionInfo:
    """What a run needs to know of a version: its spec (policy, monitoring rules) and its
    reference profile; either may be None (a version the store does not know, or one
    registered before profiles existed)."""

    spec: ModelSpec | None
    profile: ReferenceProfile | None


def numeric_statistics(
    profile: ReferenceProfile, current: np.ndarray, moments: np.ndarray | None
) -> dict[str, np.ndarray]:
    """KS and Wasserstein-1 (raw and in reference standard deviations) of every numeric row
    (the numeric features, then the score) on the ordered fine bins, missing left out, with
    their bounds (:func:`riskops.statistics.drift.ks_from_counts`,
    :func:`~riskops.statistics.drift.wasserstein_from_counts`). The window's min and max (its
    ``moments``) give the underflow and overflow bins their width
    (:meth:`~riskops.profiles.profile.ReferenceProfile.ordered_edges`), so the bound holds for
    values outside the training range too."""
    rows = np.array([r for r, b in enumerate(profile.rows) if isinstance(b, NumericBins)])
    low = None if moments is None else moments[:, 3]
    high = None if moments is None else moments[:, 4]
    edges = profile.ordered_edges(low, high)[rows]
    reference, window = profile.reference[rows, 1:], current[rows, 1:]
    ks, ks_bound = drift.ks_from_counts(reference, window)
    w1, w1_bound = drift.wasserstein_from_counts(reference, window, edges)
    reference_moments = profile.moments[rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        std = np.sqrt(reference_moments[:, 2] / (reference_moments[:, 0] - 1))
    return {
        "rows": rows,
        "ks": ks,
        "ks_bound": ks_bound,
        "wasserstein": w1,
        "wasserstein_bound": w1_bound,
        "wasserstein_normed": w1 / std,
    }


def reference_cdf(bins: NumericBins, counts: np.ndarray, x: float) -> float:
    """Share of the finite reference values below ``x``, from fine counts (linear within the
    fine bin that holds ``x``: exact to one fine bin's mass)."""
    edges = np.asarray(bins.fine_edges)
    finite = counts[1 : len(edges) + 2].astype(np.float64)  # underflow, interior, overflow
    total = finite.sum()
    if total == 0:
        return math.nan
    if x <= edges[0]:
        return float(finite[0] / total) if x > edges[0] else 0.0
    if x >= edges[-1]:
        return float((total - finite[-1]) / total)
    j = int(np.searchsorted(edges, x, side="right"))  # edges[j-1] <= x < edges[j]
    below = finite[:j].sum()  # underflow and the interior bins entirely below edges[j-1]
    inside = finite[j] * (x - edges[j - 1]) / (edges[j] - edges[j - 1])
    return float((below + inside) / total)


def expected_rates(spec: ModelSpec, profile: ReferenceProfile) -> dict[str, float]:
    """The share of each outcome the reference scores give at the policy's cut-offs; empty
    for a rules policy (its outcomes depend on more than the score)."""
    cutoffs = spec.policy.score_cutoffs()
    if cutoffs is None:
        return {}
    favourable, review, adverse = spec.outcomes.names
    score = profile.reference[-1]
    below_approve = reference_cdf(profile.score, score, cutoffs[0])
    below_decline = reference_cdf(profile.score, score, cutoffs[1])
    return {
        favourable: below_approve,
        review: below_decline - below_approve,
        adverse: 1.0 - below_decline,
    }


def _binomial_p(k: int, n: int, p: float, alternative: str) -> float:
    if n == 0:
        return 1.0
    if p <= 0.0:
        return 0.0 if k > 0 else 1.0
    if p >= 1.0:
        return 0.0 if k < n else 1.0
    return float(binomtest(k, n, p, alternative=alternative).pvalue)


def version_results(
    model: str, environment: str, window: VersionWindow, info: VersionInfo
) -> tuple[dict[str, Any], list[Finding]]:
    """The statistics of one version's window, and its findings."""
    found: list[Finding] = []
    n = window.n

    def finding(
        alert: str, target: str, value: float, p: float | None, size: int, detail: str
    ) -> None:
        found.append(
            Finding(alert, model, environment, window.version, target, value, size, p, detail)
        )

    rates = {k: v / n for k, v in sorted(window.outcomes.items())} if n else {}
    fallback_rate = window.fallbacks / n if n else 0.0
    result: dict[str, Any] = {
        "version": window.version,
        "n": n,
        "aggregate_rows": window.rows,
        "decisions": {
            "outcomes": dict(sorted(window.outcomes.items())),
            "rates": rates,
            "fallbacks": window.fallbacks,
            "fallback_rate": fallback_rate,
        },
        "latency_ms": {
            "buckets": [*LATENCY_BUCKETS_MS, "+Inf"],
            "counts": [int(c) for c in window.latency],
        },
        "segments": {s: dict(sorted(o.items())) for s, o in sorted(window.segments.items())},
    }
    finding("fallback-rate", "fallback", fallback_rate, None, n, f"{window.fallbacks} of {n}")
    profile = info.profile
    notes: list[str] = []
    if profile is None:
        notes.append(
            "no reference profile for this version: feature and prediction drift are not "
            "computed, only the decision layer"
        )
    elif window.counts is None:
        notes.append("no aggregate of this window carries feature counts")
    elif window.digests != {profile.sha256()}:
        notes.append(
            f"the window's counts are over profile(s) {sorted(window.digests)}, not the "
            f"version's {profile.sha256()}: drift not computed"
        )
    else:
        result.update(_drift(model, environment, window, profile, finding))
    if info.spec is not None and profile is not None and n:
        expected = expected_rates(info.spec, profile)
    else:
        expected = {}
    if expected and all(math.isfinite(share) for share in expected.values()):
        result["decisions"]["expected_rates"] = expected
        for outcome, share in expected.items():
            k = window.outcomes.get(outcome, 0)
            observed = k / n
            finding(
                "decision-rate-shift",
                outcome,
                abs(observed - share),
                _binomial_p(k, n, share, "two-sided"),
                n,
                f"{observed:.4f} against {share:.4f} expected at the policy's cut-offs",
            )
    result["profile_sha256"] = None if profile is None else profile.sha256()
    result["notes"] = notes
    return result, found


def _drift(
    model: str,
    environment: str,
    window: VersionWindow,
    profile: ReferenceProfile,
    finding: Callable[[str, str, float, float | None, int, str], None],
) -> dict[str, Any]:
    assert window.counts is not None  # checked by the caller
    counts = window.counts
    n_ref, n_cur = profile.n, window.profiled_n
    coarse_ref = profile.coarse(profile.reference)
    coarse_cur = profile.coarse(counts)
    psi = drift.psi(coarse_ref, coarse_cur)
    used = ((coarse_ref > 0) | (coarse_cur > 0)).sum(axis=1)
    chi2_stat, chi2_dof, chi2_p = drift.chi_square(coarse_ref, coarse_cur)
    coarse_stats = {
        "jensen_shannon": drift.jensen_shannon(coarse_ref, coarse_cur),
        "hellinger": drift.hellinger(coarse_ref, coarse_cur),
        "linf": drift.linf(coarse_ref, coarse_cur),
        "chi_square": chi2_stat,
        "chi_square_dof": chi2_dof,
        "chi_square_p_value": chi2_p,
    }
    numeric = numeric_statistics(profile, counts, window.moments)
    numeric_row = {int(r): i for i, r in enumerate(numeric["rows"])}
    features: list[dict[str, Any]] = []
    for r, bins in enumerate(profile.rows):
        p = psi_p_value(float(psi[r]), n_ref, n_cur, int(used[r]))
        missing = counts[r, 0] / n_cur if n_cur else 0.0
        missing_ref = profile.reference[r, 0] / n_ref if n_ref else 0.0
        entry: dict[str, Any] = {
            "name": bins.name,
            "psi": _plain(psi[r]),
            "psi_p_value": p,
            "bins": int(used[r]),
            **{name: _plain(values[r]) for name, values in coarse_stats.items()},
            "missing_rate": missing,
            "reference_missing_rate": missing_ref,
        }
        is_score = r == len(profile.features)
        finding(
            "prediction-drift" if is_score else "feature-drift",
            bins.name,
            float(psi[r]),
            p,
            n_cur,
            f"PSI {psi[r]:.4f} over {used[r]} bins",
        )
        k = int(counts[r, 0])
        finding(
            "missing-values",
            bins.name,
            max(0.0, missing - missing_ref),
            _binomial_p(k, n_cur, missing_ref, "greater"),
            n_cur,
            f"{k} missing of {n_cur} (reference {missing_ref:.4f})",
        )
        if isinstance(bins, NumericBins):
            i = numeric_row[r]
            entry.update(
                {
                    name: _plain(numeric[name][i])
                    for name in (
                        "ks",
                        "ks_bound",
                        "wasserstein",
                        "wasserstein_bound",
                        "wasserstein_normed",
                    )
                }
            )
            outside = int(counts[r, 1] + counts[r, bins.size - 1])
            entry["out_of_range_rate"] = outside / n_cur if n_cur else 0.0
            if not is_score:
                finding(
                    "out-of-range-values",
                    bins.name,
                    entry["out_of_range_rate"],
                    _binomial_p(outside, n_cur, 0.0, "greater"),
                    n_cur,
                    f"{outside} of {n_cur} outside the training range",
                )
            if window.moments is not None:
                m = window.moments[r]
                entry["mean"] = None if not m[0] else float(m[1])
                entry["std"] = None if m[0] < 2 else float(math.sqrt(m[2] / (m[0] - 1)))
                entry["min"], entry["max"] = (
                    (None, None) if not m[0] else (float(m[3]), float(m[4]))
                )
        else:
            unseen = int(counts[r, bins.size - 1])
            entry["unseen_rate"] = unseen / n_cur if n_cur else 0.0
            finding(
                "unseen-categories",
                bins.name,
                entry["unseen_rate"],
                _binomial_p(unseen, n_cur, 0.0, "greater"),
                n_cur,
                f"{unseen} of {n_cur} outside the spec's categories",
            )
        features.append(entry)
    return {"features": features[:-1], "score": features[-1], "reference_n": n_ref}


def _plain(value: Any) -> float | int | None:
    """A JSON number (None for NaN or infinity: canonical JSON has neither)."""
    number = float(value)
    if not math.isfinite(number):
        return None
    return int(number) if isinstance(value, np.integer) else number
