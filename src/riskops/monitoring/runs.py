"""Monitoring runs: a window of decisions, from the aggregates, judged against each version's
frozen reference profile; the run stored and sealed in the audit chain, its alerts raised,
refreshed or resolved.

``riskops monitor run MODEL --env production --window 24h`` calls :func:`run_monitoring`; so
can a scheduler. A run:

1. sums the ``monitoring_aggregates`` rows of the window's whole hours (``hour`` in
   ``[hour_of(end − window), end)``), per version: counts by addition, moments by
   :func:`riskops.decisions.aggregates.merge_moments` — across batches, hours and replicas;
2. per version with a profile: feature drift (CSI = PSI on the profile's coarse bins, with its
   p-value), prediction drift (score PSI), data quality (missing, out-of-range — outside the
   training range, the profile's underflow and overflow bins —, unseen categories), each as the
   excess over the reference's own rate; per version: the decision layer (rate per outcome
   against the rate the reference scores give at the policy's cut-offs, fallback rate,
   latency) and per segment n and outcomes. A version without a profile gets the decision
   layer only, and the run says so;
3. judges the findings (:mod:`riskops.monitoring.alerts`: threshold, Benjamini–Hochberg,
   minimum sample, persistence), stores the run (``monitoring_runs``) with the sha256 of its
   canonical results, records ``monitoring.run`` in the audit chain, and opens, refreshes or
   resolves ``monitoring_alerts`` — all in one transaction;
4. then sends the notices (log, webhook) and takes the spec's action: with
   ``monitoring.on_critical_prediction_drift: rollback`` a newly fired critical
   ``prediction-drift`` alert on the version serving the environment rolls it back through
   :func:`riskops.governance.deployments.rollback`, as the person ``riskops-monitor`` (who must
   hold the operator role in ``[people]``), with the run id as the reason's evidence.

Example::

    run = run_monitoring(ctx, "credit-scoring", environment="production",
                         window=timedelta(hours=24))
    run.as_dict()["alerts"]
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import numpy as np
from scipy.stats import binomtest
from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.audit.chain import canonical_json
from riskops.audit.trail import record
from riskops.context import Context
from riskops.decisions.aggregates import (
    LATENCY_BUCKETS_MS,
    decode_counts,
    decode_moments,
    hour_of,
    merge_moments,
    recorded_profile_sha256,
)
from riskops.errors import InputError, NotFoundError, RiskopsError, SpecError
from riskops.monitoring.alerts import (
    RUNBOOKS,
    Finding,
    Judged,
    LogNotifier,
    Notice,
    Notifier,
    judge,
    persisted,
    psi_p_value,
)
from riskops.profiles.profile import NumericBins, ReferenceProfile
from riskops.spec import ModelSpec, Monitoring, parse_spec
from riskops.statistics import drift
from riskops.store.tables import (
    ModelVersionRecord,
    MonitoringAggregateRecord,
    MonitoringAlertRecord,
    MonitoringRunRecord,
)

log = logging.getLogger(__name__)

RUN_ACTION = "monitoring.run"
MONITOR_ACTOR = "riskops-monitor"
MAX_WINDOW = timedelta(days=366)


@dataclass(frozen=True)
class VersionInfo:
    """What a run needs to know of a version: its spec (policy, monitoring rules) and its
    reference profile; either may be None (a version the store does not know, or one
    registered before profiles existed)."""

    spec: ModelSpec | None
    profile: ReferenceProfile | None


VersionSource = Callable[[Session, str, int], VersionInfo]


def stored_versions(ctx: Context) -> VersionSource:
    """:data:`VersionSource` of the workspace: the spec stored with each version at training,
    and its reference profile from its artifact, verified against the version's digest and the
    profile hash recorded at registration (:func:`riskops.registry.profiles.load_profile`)."""

    def version_info(session: Session, model: str, version: int) -> VersionInfo:
        row = session.scalar(
            select(ModelVersionRecord).where(
                ModelVersionRecord.model_name == model, ModelVersionRecord.version == version
            )
        )
        if row is None:
            return VersionInfo(None, None)
        try:
            spec = parse_spec(row.spec_yaml, source=f"{model}@{version}'s stored spec").spec
        except SpecError:
            spec = None
        recorded = recorded_profile_sha256(session, model, version)
        if recorded is None:
            return VersionInfo(spec, None)
        from riskops.registry.profiles import load_profile

        try:
            profile = load_profile(
                ctx.registry,
                model,
                version,
                digest=row.digest,
                source=row.artifact_uri,
                expected_sha256=recorded,
            )
        except NotFoundError:
            profile = None
        return VersionInfo(spec, profile)

    return version_info


@dataclass
class VersionWindow:
    """The sum of one version's aggregate rows in a window."""

    version: int
    n: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    fallbacks: int = 0
    latency: np.ndarray = field(
        default_factory=lambda: np.zeros(len(LATENCY_BUCKETS_MS) + 1, dtype=np.int64)
    )
    counts: np.ndarray | None = None
    moments: np.ndarray | None = None
    profiled_n: int = 0  # decisions whose rows carry counts over the profile
    digests: set[str] = field(default_factory=set)
    segments: dict[str, dict[str, int]] = field(default_factory=dict)
    rows: int = 0

    def add(self, row: MonitoringAggregateRecord) -> None:
        self.rows += 1
        self.n += row.n
        for outcome, count in row.outcomes.items():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + int(count)
        self.fallbacks += row.fallbacks
        self.latency += np.asarray(row.latency, dtype=np.int64)
        segment = self.segments.setdefault(row.segment, {})
        for outcome, count in row.outcomes.items():
            segment[outcome] = segment.get(outcome, 0) + int(count)
        if row.counts is None or row.counts_shape is None or row.profile_sha256 is None:
            return
        self.digests.add(row.profile_sha256)
        counts = decode_counts(row.counts, row.counts_shape)
        self.counts = counts if self.counts is None else self.counts + counts
        if row.moments is not None:
            moments = decode_moments(row.moments)
            self.moments = moments if self.moments is None else merge_moments(self.moments, moments)
        self.profiled_n += row.n


def parse_window(text: str) -> timedelta:
    """``24h``, ``7d``, ``90m`` → a timedelta; InputError naming the format otherwise."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    number, unit = text[:-1], text[-1:].lower()
    if unit in units and number.isdigit() and int(number) > 0:
        window = timedelta(**{units[unit]: int(number)})
        if window <= MAX_WINDOW:
            return window
    raise InputError(
        f"The window {text!r} is not a duration riskops understands (at most 366 days).",
        hint="Write a whole number with m, h or d: --window 24h, --window 7d, --window 90m",
    )


def window_totals(
    session: Session, model: str, environment: str, start: datetime, end: datetime
) -> dict[int, VersionWindow]:
    """Each version's sum of the aggregate rows of the window's hours."""
    query = (
        select(MonitoringAggregateRecord)
        .where(
            MonitoringAggregateRecord.model_name == model,
            MonitoringAggregateRecord.environment == environment,
            MonitoringAggregateRecord.hour >= hour_of(start),
            MonitoringAggregateRecord.hour < end,
        )
        .order_by(MonitoringAggregateRecord.id)
    )
    out: dict[int, VersionWindow] = {}
    for row in session.scalars(query.execution_options(yield_per=2000)):
        out.setdefault(row.version, VersionWindow(row.version)).add(row)
    return out


# -- statistics of one version ----------------------------------------------------------------


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
    """The share of each outcome the reference scores give at the policy's cut-offs."""
    score = profile.reference[-1]
    below_approve = reference_cdf(profile.score, score, spec.policy.approve_below)
    below_decline = reference_cdf(profile.score, score, spec.policy.decline_from)
    return {
        "approve": below_approve,
        "refer": below_decline - below_approve,
        "decline": 1.0 - below_decline,
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


# -- the run -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitoringRun:
    """A stored monitoring run: its results (as sealed) and what it did about alerts."""

    kind: ClassVar[str] = "riskops.monitoring/run@1"

    run_id: int
    model: str
    environment: str
    window_start: datetime
    window_end: datetime
    results: Mapping[str, Any]
    results_sha256: str
    audit_seq: int
    fired: tuple[Notice, ...]
    resolved: tuple[Notice, ...]
    actions: tuple[str, ...]
    undelivered: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "run_id": self.run_id,
            "model": self.model,
            "environment": self.environment,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "results_sha256": self.results_sha256,
            "audit_seq": self.audit_seq,
            "results": dict(self.results),
            "fired": [_notice_dict(n) for n in self.fired],
            "resolved": [_notice_dict(n) for n in self.resolved],
            "actions": list(self.actions),
            "undelivered": list(self.undelivered),
        }


def _notice_dict(n: Notice) -> dict[str, Any]:
    return {"alert": n.alert, "labels": dict(n.labels), "annotations": dict(n.annotations)}


def run_monitoring(
    ctx: Context,
    model: str,
    *,
    environment: str = "production",
    window: timedelta = timedelta(hours=24),
    end: datetime | None = None,
    notifiers: Sequence[Notifier] = (),
    versions: VersionSource | None = None,
    runbook_base: str = "",
    actor: str = MONITOR_ACTOR,
) -> MonitoringRun:
    """Run monitoring on ``model`` in ``environment`` over ``window`` ending at ``end``
    (default now); see the module docstring. The log is always notified, then ``notifiers``."""
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
    with ctx.store.transaction() as session:
        totals = window_totals(session, model, environment, start, end)
        results: dict[str, Any] = {
            "kind": MonitoringRun.kind,
            "model": model,
            "environment": environment,
            "window": {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "hours_from": hour_of(start).isoformat(),
            },
            "versions": [],
        }
        findings: list[Finding] = []
        rules: dict[int, Monitoring] = {}
        specs: dict[int, ModelSpec | None] = {}
        for version, totals_of in sorted(totals.items()):
            info = versions(session, model, version)
            specs[version] = info.spec
            rules[version] = info.spec.monitoring if info.spec is not None else Monitoring()
            version_result, version_findings = version_results(model, environment, totals_of, info)
            results["versions"].append(version_result)
            findings += version_findings
        if not totals:
            results["notes"] = [f"no decisions of {model} in {environment} in this window"]
        judged = _judge_by_version(findings, rules)
        results["findings"] = [j.as_dict() for j in judged]
        breaching = sorted({j.finding.fingerprint for j in judged if j.breach})
        results["breaches"] = breaching
        results_sha256 = "sha256:" + hashlib.sha256(canonical_json(results).encode()).hexdigest()
        at = ctx.clock()
        run = MonitoringRunRecord(
            model_name=model,
            environment=environment,
            window_start=start,
            window_end=end,
            results=results,
            results_sha256=results_sha256,
            audit_seq=0,
            run_by=actor,
            created_at=at,
        )
        session.add(run)
        session.flush()
        event = record(
            session,
            actor=actor,
            role="service",
            action=RUN_ACTION,
            object_type="monitoring_run",
            object_id=f"monitoring-run/{run.id}",
            payload={
                "run_id": run.id,
                "model": model,
                "environment": environment,
                "window_start": start.isoformat(),
                "window_end": end.isoformat(),
                "results_sha256": results_sha256,
                "decisions": sum(t.n for t in totals.values()),
                "breaches": len(breaching),
            },
            at=at,
        )
        run.audit_seq = event.seq
        fired, resolved = _update_alerts(
            session, run, judged, rules, model, environment, at, runbook_base
        )
        run_id, audit_seq = run.id, event.seq
    undelivered = _notify([LogNotifier(), *notifiers], [*fired, *resolved])
    actions = _act(ctx, model, environment, run_id, fired, specs)
    return MonitoringRun(
        run_id,
        model,
        environment,
        start,
        end,
        results,
        results_sha256,
        audit_seq,
        tuple(fired),
        tuple(resolved),
        tuple(actions),
        tuple(undelivered),
    )


def _judge_by_version(findings: Sequence[Finding], rules: Mapping[int, Monitoring]) -> list[Judged]:
    """Judge each version's findings under its own spec's rules (FDR across its findings)."""
    out: list[Judged] = []
    for version in sorted({f.version for f in findings}):
        out += judge([f for f in findings if f.version == version], rules[version])
    return out


def _earlier_breaches(
    session: Session, model: str, environment: str, before: int, count: int
) -> list[set[str]]:
    if count <= 0:
        return []
    rows = session.scalars(
        select(MonitoringRunRecord.results)
        .where(
            MonitoringRunRecord.model_name == model,
            MonitoringRunRecord.environment == environment,
            MonitoringRunRecord.id < before,
        )
        .order_by(MonitoringRunRecord.id.desc())
        .limit(count)
    )
    return [set(results.get("breaches", [])) for results in rows]


def _update_alerts(
    session: Session,
    run: MonitoringRunRecord,
    judged: Sequence[Judged],
    rules: Mapping[int, Monitoring],
    model: str,
    environment: str,
    at: datetime,
    runbook_base: str,
) -> tuple[list[Notice], list[Notice]]:
    open_alerts = {
        a.fingerprint: a
        for a in session.scalars(
            select(MonitoringAlertRecord).where(
                MonitoringAlertRecord.model_name == model,
                MonitoringAlertRecord.environment == environment,
                MonitoringAlertRecord.status == "firing",
            )
        )
    }
    longest = max((r.persistence for r in rules.values()), default=1)
    earlier = _earlier_breaches(session, model, environment, run.id, longest - 1)
    due: dict[str, Judged] = {}
    for version, rule in rules.items():
        mine = [j for j in judged if j.finding.version == version]
        due.update({j.finding.fingerprint: j for j in persisted(mine, earlier, rule.persistence)})
    breaching = {j.finding.fingerprint: j for j in judged if j.breach}
    fired: list[Notice] = []
    resolved: list[Notice] = []
    for fingerprint, alert in open_alerts.items():
        now = breaching.get(fingerprint)
        if now is not None:  # still on: refreshed, not notified again
            alert.last_run_id = run.id
            alert.value = now.finding.value
            alert.p_value = now.finding.p_value
            alert.severity = now.severity or alert.severity
            continue
        alert.status = "resolved"
        alert.resolved_run_id = run.id
        alert.resolved_at = at
        resolved.append(_notice(alert, runbook_base).resolved(at))
    for fingerprint, j in sorted(due.items()):
        if fingerprint in open_alerts:
            continue
        f = j.finding
        alert = MonitoringAlertRecord(
            fingerprint=fingerprint,
            alert=f.alert,
            model_name=f.model,
            version=f.version,
            environment=f.environment,
            target=f.target,
            severity=j.severity or "warning",
            status="firing",
            value=f.value,
            threshold=j.threshold,
            p_value=f.p_value,
            summary=_summary(j),
            runbook=RUNBOOKS[f.alert],
            opened_run_id=run.id,
            last_run_id=run.id,
            resolved_run_id=None,
            started_at=at,
            resolved_at=None,
        )
        session.add(alert)
        fired.append(_notice(alert, runbook_base))
    return fired, resolved


def _summary(j: Judged) -> str:
    f = j.finding
    q = "" if j.q_value is None else f", q = {j.q_value:.2g}"
    return (
        f"{f.alert} on {f.target} of {f.model}@{f.version} in {f.environment}: {f.value:.4g} "
        f"≥ {j.severity} level {j.threshold} (n = {f.n}{q}); {f.detail}"
    )


def _notice(alert: MonitoringAlertRecord, runbook_base: str) -> Notice:
    return Notice(
        status="firing",
        alert=alert.alert,
        fingerprint=alert.fingerprint,
        labels={
            "alertname": alert.alert,
            "model": alert.model_name,
            "version": str(alert.version),
            "environment": alert.environment,
            "target": alert.target,
            "severity": alert.severity,
        },
        annotations={
            "summary": alert.summary,
            "runbook_url": f"{runbook_base}{alert.runbook}",
        },
        starts_at=alert.started_at,
    )


def _notify(notifiers: Sequence[Notifier], notices: Sequence[Notice]) -> list[str]:
    undelivered = []
    for notifier in notifiers:
        try:
            notifier.send(notices)
        except RiskopsError as exc:
            log.error("monitoring: %s", exc)
            undelivered.append(str(exc))
    return undelivered


def _act(
    ctx: Context,
    model: str,
    environment: str,
    run_id: int,
    fired: Sequence[Notice],
    specs: Mapping[int, ModelSpec | None],
) -> list[str]:
    """The spec's automatic action on a newly fired critical prediction-drift alert."""
    from riskops.governance.deployments import rollback, serving_at

    actions: list[str] = []
    for notice in fired:
        version = int(notice.labels["version"])
        spec = specs.get(version)
        if (
            notice.alert != "prediction-drift"
            or notice.labels["severity"] != "critical"
            or spec is None
            or spec.monitoring.on_critical_prediction_drift != "rollback"
        ):
            continue
        with ctx.store.reading() as session:
            serving = serving_at(session, model, environment)
        if serving is None or serving.version != version:
            actions.append(f"no rollback: {model}@{version} does not serve {environment}")
            continue
        try:
            done = rollback(
                ctx,
                model,
                environment=environment,
                actor=MONITOR_ACTOR,
                reason=f"monitoring run {run_id}: {notice.annotations['summary']}",
            )
        except RiskopsError as exc:
            log.error("monitoring: the rollback of %s@%s failed: %s", model, version, exc)
            actions.append(f"rollback of {model}@{version} refused: {exc}")
            continue
        actions.append(f"rolled back {model} in {environment} from {version} to {done.ref.version}")
    return actions
