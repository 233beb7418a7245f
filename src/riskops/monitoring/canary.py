"""Canary analysis: a challenger (the canary, or a shadow) against the champion on the same
window of aggregates, judged by the spec's ``monitoring.canary`` rule, and the rule's action
taken through governance.

Both versions' windows come from ``monitoring_aggregates`` (:mod:`riskops.monitoring.windows`),
so nothing personal is read. Compared:

- **score distribution**: PSI and KS between the two versions' score counts. Each version's
  score is binned on its own profile's frozen grid, so both are put on one grid first: the
  count of scores below ``x`` is exact at each version's own fine edges and linear between
  them (:func:`scores_below`). PSI is taken on the champion's coarse (decile) bins plus the
  missing bin — exact when both versions share the champion's score bins — with its p-value
  from its null distribution (:func:`riskops.monitoring.alerts.psi_p_value`). KS is the largest
  CDF distance on the union of both versions' fine edges; the exact statistic lies within
  ``ks_bound`` (the largest fine bin's share in either version) of it;
- **decision rates per outcome**: the pooled two-proportion z test,
  ``z = (p₁ − p₂) / sqrt(p̄ (1 − p̄) (1/n₁ + 1/n₂))`` (its square is Pearson's χ² of the 2 × 2
  table without continuity correction; Agresti 2013, §2.1, §3.1);
- **latency**: the 99th percentile from the latency histogram, as the upper edge of the bucket
  that holds it (so it never under-states), and the challenger's over the champion's;
- **fallbacks** (decisions answered without a score), with the same two-proportion test;
- **performance where labels exist** (:func:`riskops.monitoring.outcomes.performance_report`):
  realised AUC and bad rate of each version's served, labelled decisions.

The rule fails the challenger when its score PSI exceeds ``max_score_psi``, its decline rate
rose by more than ``max_decline_rate_increase`` (each also significant at :data:`ALPHA`), or
its p99 latency is more than ``max_latency_p99_ratio`` times the champion's. A window where
either version holds fewer than ``min_decisions`` is ``insufficient`` and nothing is done.

With ``action: rollback`` a failing challenger's lane is ended
(:func:`riskops.governance.deployments.end_challenger`); with ``action: promote`` a failing one
is rolled back too, and a passing one is deployed in full
(:func:`riskops.governance.deployments.deploy`) — only if it may serve (approved, with both
sign-offs; :func:`riskops.governance.serving.ineligibility`). The actor is
``riskops-monitor``, and the deployment's audit event carries the analysis's SHA-256 and its
numbers as ``evidence``.

Example::

    analysis = analyse_canary(ctx, "credit-scoring", environment="production",
                              window=timedelta(hours=1))
    analysis.verdict, analysis.action, analysis.results_sha256
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import numpy as np
from scipy.stats import norm

from riskops.audit.chain import canonical_json
from riskops.context import Context
from riskops.decisions.aggregates import LATENCY_BUCKETS_MS
from riskops.errors import ConflictError, InputError, RiskopsError
from riskops.monitoring.alerts import psi_p_value
from riskops.monitoring.runs import MONITOR_ACTOR, VersionSource, stored_versions
from riskops.monitoring.windows import MAX_WINDOW, VersionWindow, window_totals
from riskops.profiles.profile import NumericBins, ReferenceProfile
from riskops.spec import Canary
from riskops.statistics import drift

log = logging.getLogger(__name__)

ALPHA = 0.05
"""Significance level a PSI or a rate change must reach before it fails a challenger."""

__all__ = [
    "ALPHA",
    "CanaryAnalysis",
    "analyse_canary",
    "latency_quantile",
    "scores_below",
    "two_proportion_test",
]


def two_proportion_test(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    """``(z, p_greater, p_two_sided)`` of the pooled two-proportion z test of ``k1/n1``
    against ``k2/n2``: ``p_greater`` is the one-sided p-value of "the first rate is higher".
    With nothing to compare (an empty sample, or a pooled rate of 0 or 1) z is 0 and both
    p-values are 1."""
    if n1 <= 0 or n2 <= 0:
        return 0.0, 1.0, 1.0
    pooled = (k1 + k2) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if variance <= 0.0:
        return 0.0, 1.0, 1.0
    z = (k1 / n1 - k2 / n2) / math.sqrt(variance)
    return z, float(norm.sf(z)), float(2.0 * norm.sf(abs(z)))


def latency_quantile(histogram: Sequence[int] | np.ndarray, q: float = 0.99) -> float | None:
    """The upper edge (ms) of the latency bucket holding the ``q`` quantile; ``inf`` when it is
    the bucket above the last edge, None for an empty histogram."""
    counts = np.asarray(histogram, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return None
    index = int(np.searchsorted(np.cumsum(counts), math.ceil(q * total)))
    return LATENCY_BUCKETS_MS[index] if index < len(LATENCY_BUCKETS_MS) else math.inf


def scores_below(bins: NumericBins, row: np.ndarray, x: np.ndarray) -> np.ndarray:
    """How many finite scores of a version's window lie below each ``x``, from its score
    row over its profile's fine bins: exact at the fine edges, linear between them, and
    clamped outside (below the first edge, the underflow bin's count; above the last, all but
    the overflow bin's)."""
    edges = np.asarray(bins.fine_edges, dtype=np.float64)
    finite = np.asarray(row[1 : len(edges) + 2], dtype=np.float64)
    below_edges = np.cumsum(finite)[: len(edges)]
    return np.interp(np.asarray(x, dtype=np.float64), edges, below_edges)


@dataclass(frozen=True)
class _Side:
    version: int
    window: VersionWindow
    profile: ReferenceProfile | None

    @property
    def score_row(self) -> np.ndarray | None:
        if self.profile is None or self.window.counts is None:
            return None
        if self.window.digests != {self.profile.sha256()}:
            return None
        return np.asarray(self.window.counts[-1])


def _score_comparison(champion: _Side, challenger: _Side) -> dict[str, Any] | None:
    a, b = champion.score_row, challenger.score_row
    if a is None or b is None or champion.profile is None or challenger.profile is None:
        return None
    bins_a, bins_b = champion.profile.score, challenger.profile.score
    cuts = np.asarray(bins_a.coarse_edges, dtype=np.float64)

    def coarse(bins: NumericBins, row: np.ndarray) -> np.ndarray:
        finite = float(row[1 : len(bins.fine_edges) + 2].sum())
        below = scores_below(bins, row, cuts)
        return np.concatenate([[float(row[0])], np.diff(np.concatenate([[0.0], below, [finite]]))])

    ref, cur = coarse(bins_a, a), coarse(bins_b, b)
    psi = float(drift.psi(ref[None, :], cur[None, :])[0])
    used = int(((ref > 0) | (cur > 0)).sum())
    n_a, n_b = int(a.sum()), int(b.sum())
    grid = np.union1d(np.asarray(bins_a.fine_edges), np.asarray(bins_b.fine_edges))
    finite_a = float(a[1 : len(bins_a.fine_edges) + 2].sum())
    finite_b = float(b[1 : len(bins_b.fine_edges) + 2].sum())
    ks = bound = None
    if finite_a and finite_b:
        cdf_a = scores_below(bins_a, a, grid) / finite_a
        cdf_b = scores_below(bins_b, b, grid) / finite_b
        ks = float(np.max(np.abs(cdf_a - cdf_b)))
        bound = float(max(a[1:].max() / finite_a, b[1:].max() / finite_b))
    return {
        "psi": psi if math.isfinite(psi) else None,
        "psi_p_value": psi_p_value(psi, n_a, n_b, used),
        "bins": used,
        "same_bins": bins_a == bins_b,
        "ks": ks,
        "ks_bound": bound,
        "champion_counts": [float(c) for c in ref],
        "challenger_counts": [float(c) for c in cur],
    }


def _rates(champion: VersionWindow, challenger: VersionWindow) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for outcome in sorted({*champion.outcomes, *challenger.outcomes}):
        k1, k2 = challenger.outcomes.get(outcome, 0), champion.outcomes.get(outcome, 0)
        z, p_greater, p_two = two_proportion_test(k1, challenger.n, k2, champion.n)
        out[outcome] = {
            "champion": k2 / champion.n if champion.n else None,
            "challenger": k1 / challenger.n if challenger.n else None,
            "difference": (k1 / challenger.n - k2 / champion.n)
            if champion.n and challenger.n
            else None,
            "z": z,
            "p_greater": p_greater,
            "p_value": p_two,
        }
    return out


def _performance(ctx: Context, model: str, version: int, environment: str) -> dict[str, Any]:
    from riskops.monitoring.outcomes import performance_report

    try:
        report = performance_report(ctx, model, version=version, environment=environment)
    except RiskopsError:
        return {"labelled": 0}
    auc = report.realised_auc
    return {
        "labelled": report.labelled,
        "bad_rate": report.bad_rate,
        "auc": None if auc is None else auc.auc,
    }


def _plain(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


@dataclass(frozen=True)
class CanaryAnalysis:
    """A canary analysis: the comparison (as hashed), its verdict, and what was done."""

    kind: ClassVar[str] = "riskops.monitoring/canary@1"

    model: str
    environment: str
    champion: int
    challenger: int
    lane: str
    window_start: datetime
    window_end: datetime
    results: dict[str, Any]
    results_sha256: str
    verdict: str  # pass | fail | insufficient
    failed: tuple[str, ...]
    action: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "environment": self.environment,
            "champion": self.champion,
            "challenger": self.challenger,
            "lane": self.lane,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "verdict": self.verdict,
            "failed": list(self.failed),
            "action": self.action,
            "results_sha256": self.results_sha256,
            "results": self.results,
        }


def analyse_canary(
    ctx: Context,
    model: str,
    *,
    environment: str = "production",
    window: timedelta = timedelta(hours=1),
    end: datetime | None = None,
    versions: VersionSource | None = None,
    act: bool = True,
) -> CanaryAnalysis:
    """Compare ``model``'s challenger in ``environment`` (its canary, or else its newest
    shadow) with its champion over ``window`` ending at ``end`` (default now), judge it by the
    champion's spec's ``monitoring.canary`` rule and, when ``act``, take the rule's action.
    See the module docstring."""
    from riskops.governance.serving import lanes_of

    if environment not in ctx.settings.environments:
        raise InputError(
            f"Unknown environment {environment!r}. Valid environments are: "
            f"{', '.join(ctx.settings.environments)}.",
            hint="Pass one of them with --env.",
        )
    if not timedelta(0) < window <= MAX_WINDOW:
        raise InputError(f"The window must be positive and at most 366 days, not {window}.")
    end = ctx.clock() if end is None else end
    start = end - window
    versions = stored_versions(ctx) if versions is None else versions
    with ctx.store.reading() as session:
        lanes = lanes_of(session, model, environment)
        if not lanes:
            raise ConflictError(
                f"{model} does not serve in {environment}, so it has no canary to analyse.",
                hint=f"riskops show {model} shows what serves where.",
            )
        challengers = [(row, lane) for row, lane in lanes if lane != "champion"]
        if not challengers:
            raise ConflictError(
                f"{model} has no canary or shadow in {environment}: only "
                f"{model}@{lanes[0][0].version} serves there.",
                hint=f"Deploy one beside the champion: riskops deploy {model}@<version> "
                f"--env {environment} --mode canary --share 0.1 --as <operator>",
            )
        canaries = [c for c in challengers if c[1] == "canary"]
        row, lane = canaries[0] if canaries else challengers[-1]
        champion_v, challenger_v = lanes[0][0].version, row.version
        totals = window_totals(session, model, environment, start, end)
        info_a = versions(session, model, champion_v)
        info_b = versions(session, model, challenger_v)
    rule = info_a.spec.monitoring.canary if info_a.spec is not None else Canary()
    adverse = info_a.spec.outcomes.adverse if info_a.spec is not None else "decline"
    champion = _Side(champion_v, totals.get(champion_v, VersionWindow(champion_v)), info_a.profile)
    challenger = _Side(
        challenger_v, totals.get(challenger_v, VersionWindow(challenger_v)), info_b.profile
    )
    a, b = champion.window, challenger.window
    score = _score_comparison(champion, challenger)
    rates = _rates(a, b)
    p99_a, p99_b = latency_quantile(a.latency), latency_quantile(b.latency)
    ratio = (
        p99_b / p99_a
        if p99_a is not None and p99_b is not None and math.isfinite(p99_a) and p99_a > 0
        else None
    )
    _, fallback_p, _ = two_proportion_test(b.fallbacks, b.n, a.fallbacks, a.n)
    results: dict[str, Any] = {
        "kind": CanaryAnalysis.kind,
        "model": model,
        "environment": environment,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "champion": {"version": champion_v, "n": a.n, "outcomes": dict(sorted(a.outcomes.items()))},
        "challenger": {
            "version": challenger_v,
            "lane": lane,
            "n": b.n,
            "outcomes": dict(sorted(b.outcomes.items())),
        },
        "rule": rule.model_dump(),
        "adverse_outcome": adverse,
        "score": score,
        "rates": rates,
        "latency_ms": {
            "champion_p99": _plain(p99_a),
            "challenger_p99": _plain(p99_b),
            "ratio": ratio,
        },
        "fallbacks": {
            "champion_rate": a.fallbacks / a.n if a.n else None,
            "challenger_rate": b.fallbacks / b.n if b.n else None,
            "p_greater": fallback_p,
        },
        "performance": {
            "champion": _performance(ctx, model, champion_v, environment),
            "challenger": _performance(ctx, model, challenger_v, environment),
        },
    }
    verdict, failed = _judge(rule, results, a.n, b.n)
    results["verdict"], results["failed"] = verdict, failed
    digest = "sha256:" + hashlib.sha256(canonical_json(results).encode()).hexdigest()
    action = "none"
    if act:
        action = _act(ctx, model, environment, rule, verdict, challenger_v, results, digest)
    log.info("canary analysis of %s@%s: %s (%s)", model, challenger_v, verdict, action)
    return CanaryAnalysis(
        model,
        environment,
        champion_v,
        challenger_v,
        lane,
        start,
        end,
        results,
        digest,
        verdict,
        tuple(failed),
        action,
    )


def _judge(
    rule: Canary, results: dict[str, Any], n_champion: int, n_challenger: int
) -> tuple[str, list[str]]:
    if min(n_champion, n_challenger) < rule.min_decisions:
        return "insufficient", []
    failed: list[str] = []
    score = results["score"] or {}
    psi = score.get("psi")
    if psi is not None and psi > rule.max_score_psi and score["psi_p_value"] < ALPHA:
        failed.append(f"score PSI {psi:.4f} > {rule.max_score_psi}")
    adverse = results.get("adverse_outcome", "decline")
    decline = results["rates"].get(adverse) or {}
    rise = decline.get("difference")
    if rise is not None and rise > rule.max_decline_rate_increase and decline["p_greater"] < ALPHA:
        failed.append(f"{adverse} rate +{rise:.4f} > {rule.max_decline_rate_increase}")
    ratio = results["latency_ms"]["ratio"]
    if ratio is not None and ratio > rule.max_latency_p99_ratio:
        failed.append(f"p99 latency ratio {ratio:.2f} > {rule.max_latency_p99_ratio}")
    return ("fail" if failed else "pass"), failed


def _evidence(results: dict[str, Any], digest: str) -> dict[str, Any]:
    score = results["score"] or {}
    decline = results["rates"].get(results.get("adverse_outcome", "decline")) or {}
    return {
        "kind": CanaryAnalysis.kind,
        "analysis_sha256": digest,
        "verdict": results["verdict"],
        "failed": results["failed"],
        "window": results["window"],
        "champion": {k: results["champion"][k] for k in ("version", "n")},
        "challenger": {k: results["challenger"][k] for k in ("version", "lane", "n")},
        "score_psi": score.get("psi"),
        "score_psi_p_value": score.get("psi_p_value"),
        "score_ks": score.get("ks"),
        "decline_rate_difference": decline.get("difference"),
        "decline_rate_p_greater": decline.get("p_greater"),
        "latency_p99_ratio": results["latency_ms"]["ratio"],
    }


def _act(
    ctx: Context,
    model: str,
    environment: str,
    rule: Canary,
    verdict: str,
    version: int,
    results: dict[str, Any],
    digest: str,
) -> str:
    from riskops.governance.deployments import deploy, end_challenger
    from riskops.governance.serving import ineligibility
    from riskops.registry.versions import ModelRef

    ref = ModelRef(model, version)
    evidence = _evidence(results, digest)
    reason = f"canary analysis {digest}: {verdict}"
    if verdict == "fail" and rule.action in ("rollback", "promote"):
        try:
            end_challenger(
                ctx,
                model,
                environment=environment,
                actor=MONITOR_ACTOR,
                reason=f"{reason} ({'; '.join(results['failed'])})",
                evidence=evidence,
            )
        except RiskopsError as exc:
            log.error("canary: the rollback of %s failed: %s", ref, exc)
            return f"rollback of {ref} refused: {exc}"
        return f"rolled back {ref}'s {results['challenger']['lane']} in {environment}"
    if verdict == "pass" and rule.action == "promote":
        with ctx.store.reading() as session:
            why = ineligibility(session, model, version)
        if why is not None:
            return f"promotion of {ref} refused: it may not serve in {environment} ({why})"
        try:
            deploy(
                ctx,
                ref,
                environment=environment,
                actor=MONITOR_ACTOR,
                reason=reason,
                evidence=evidence,
            )
        except RiskopsError as exc:
            log.error("canary: the promotion of %s failed: %s", ref, exc)
            return f"promotion of {ref} refused: {exc}"
        return f"promoted {ref} to serve {environment} in full"
    return "none"
