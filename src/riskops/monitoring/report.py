"""What the monitoring report of a model shows, gathered from the stored records only.

``riskops monitor report MODEL --env production`` renders (in :mod:`riskops.documents.monitoring`)
what :func:`gather_report` reads here:

* the latest ``monitoring_runs`` row of the model in the environment — its results exactly as
  sealed (drift table, thresholds, p- and q-values, decision rates against the reference) and
  its results hash;
* per version of that run, each feature's and the score's reference counts (the version's
  reference profile, checked against the hash recorded at registration) and the window's counts
  (the ``monitoring_aggregates`` of the run's window, summed as the run summed them), both on
  the coarse PSI/CSI bins the run's statistics were computed on;
* every alert of the model in the environment (opened, refreshed, resolved, with its runbook);
* per version, the performance cells and decision log's figures of
  :func:`riskops.monitoring.outcomes.performance_report` (vintage matrix, estimated against
  realised) — or nothing when no label has arrived yet.

Nothing is recomputed differently: the distributions are the same sums the run made, and the
report checks that the re-read window holds the number of decisions the run recorded (aggregates
flushed into the window's hours after the run would change it; the report says so).

Example::

    report = gather_report(ctx, "credit-scoring", environment="production")
    report.run_id, report.versions[0].profile_sha256
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

import numpy as np
from sqlalchemy import select

from riskops.context import Context
from riskops.errors import InputError, NotFoundError
from riskops.monitoring.alerts import RULES
from riskops.monitoring.outcomes import PerformanceReport, performance_report
from riskops.monitoring.runs import VersionSource, stored_versions
from riskops.monitoring.windows import window_totals
from riskops.profiles.profile import NumericBins, ReferenceProfile
from riskops.spec import Monitoring
from riskops.store.tables import (
    ModelRecord,
    MonitoringAlertRecord,
    MonitoringRunRecord,
)

__all__ = [
    "AlertEntry",
    "Distribution",
    "MonitoringReport",
    "VersionReport",
    "coarse_labels",
    "gather_report",
]


@dataclass(frozen=True)
class Distribution:
    """One feature's (or the score's) reference and window counts on its coarse bins."""

    name: str
    labels: tuple[str, ...]
    reference: tuple[int, ...]
    current: tuple[int, ...]

    def shares(self, counts: Sequence[int]) -> tuple[float, ...]:
        total = sum(counts)
        return tuple(c / total if total else 0.0 for c in counts)


@dataclass(frozen=True)
class AlertEntry:
    """A stored alert, as the timeline shows it."""

    alert_id: int
    alert: str
    version: int
    target: str
    severity: str
    status: str
    value: float | None
    threshold: float | None
    p_value: float | None
    summary: str
    runbook: str
    opened_run_id: int
    last_run_id: int
    resolved_run_id: int | None
    started_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class VersionReport:
    """One version of the run: its sealed results, its distributions, its performance."""

    version: int
    results: Mapping[str, Any]
    findings: tuple[Mapping[str, Any], ...]
    profile_sha256: str | None
    rules: Monitoring
    distributions: tuple[Distribution, ...]
    window_n: int | None
    performance: PerformanceReport | None

    def finding(self, alert: str, target: str) -> Mapping[str, Any] | None:
        """The run's judged finding of ``alert`` on ``target`` (q-value, breach), if any."""
        for f in self.findings:
            if f.get("alert") == alert and f.get("target") == target:
                return f
        return None


@dataclass(frozen=True)
class MonitoringReport:
    """Everything the monitoring report shows, each part named by the record it came from."""

    model: str
    environment: str
    run_id: int
    run_at: datetime
    window_start: datetime
    window_end: datetime
    results_sha256: str
    audit_seq: int
    earlier_run_ids: tuple[int, ...]
    versions: tuple[VersionReport, ...]
    alerts: tuple[AlertEntry, ...]
    notes: tuple[str, ...] = field(default=())


def coarse_labels(bins: Any) -> tuple[str, ...]:
    """The names of a row's coarse bins, in :meth:`ReferenceProfile.coarse`'s order."""
    if isinstance(bins, NumericBins):
        edges = bins.coarse_edges
        inner = [f"[{a:.4g}, {b:.4g})" for a, b in pairwise(edges)]
        return ("missing", f"< {edges[0]:.4g}", *inner, f"≥ {edges[-1]:.4g}")
    return ("missing", *bins.categories, "unseen")


def distributions(profile: ReferenceProfile, counts: np.ndarray) -> tuple[Distribution, ...]:
    """Reference and window counts of every feature, then the score, on the coarse bins."""
    reference = profile.coarse(profile.reference)
    current = profile.coarse(counts)
    out = []
    for r, bins in enumerate(profile.rows):
        size = bins.coarse_size
        out.append(
            Distribution(
                bins.name,
                coarse_labels(bins),
                tuple(int(c) for c in reference[r, :size]),
                tuple(int(c) for c in current[r, :size]),
            )
        )
    return tuple(out)


def gather_report(
    ctx: Context,
    model: str,
    *,
    environment: str = "production",
    versions: VersionSource | None = None,
) -> MonitoringReport:
    """The records of ``model``'s latest monitoring run in ``environment``; NotFoundError for an
    unknown model or one without a run (saying how to make one), InputError for an unknown
    environment."""
    if environment not in ctx.settings.environments:
        raise InputError(
            f"Unknown environment {environment!r}. Valid environments are: "
            f"{', '.join(ctx.settings.environments)}.",
            hint="Pass one of them with --env.",
        )
    versions = stored_versions(ctx) if versions is None else versions
    with ctx.store.reading() as session:
        if session.get(ModelRecord, model) is None:
            raise NotFoundError(
                f"Unknown model {model!r}.", hint="List the models with: riskops models list"
            )
        runs = list(
            session.scalars(
                select(MonitoringRunRecord)
                .where(
                    MonitoringRunRecord.model_name == model,
                    MonitoringRunRecord.environment == environment,
                )
                .order_by(MonitoringRunRecord.id.desc())
            )
        )
        if not runs:
            raise NotFoundError(
                f"No monitoring run of {model} in {environment} yet, so there is nothing to "
                "report.",
                hint=f"Run one first: riskops monitor run {model} --env {environment} --window 24h",
            )
        run = runs[0]
        alerts = [
            _alert(a)
            for a in session.scalars(
                select(MonitoringAlertRecord)
                .where(
                    MonitoringAlertRecord.model_name == model,
                    MonitoringAlertRecord.environment == environment,
                )
                .order_by(MonitoringAlertRecord.id)
            )
        ]
        totals = window_totals(session, model, environment, run.window_start, run.window_end)
        results: Mapping[str, Any] = run.results
        infos = {
            int(v["version"]): versions(session, model, int(v["version"]))
            for v in results.get("versions", [])
        }
    notes: list[str] = list(results.get("notes", []))
    version_reports: list[VersionReport] = []
    findings = results.get("findings", [])
    for entry in results.get("versions", []):
        version = int(entry["version"])
        info = infos[version]
        window = totals.get(version)
        dists: tuple[Distribution, ...] = ()
        profile = info.profile
        recorded = entry.get("profile_sha256")
        if profile is None and recorded is not None:
            notes.append(
                f"version {version}: its reference profile {recorded} cannot be read now; "
                "the distributions are not shown"
            )
        if profile is not None and window is not None and window.counts is not None:
            if profile.sha256() != recorded:
                notes.append(
                    f"version {version}: the profile read now ({profile.sha256()}) is not the "
                    f"one the run used ({recorded}); distributions not shown"
                )
            elif window.digests == {recorded}:
                dists = distributions(profile, window.counts)
        if window is not None and window.n != entry["n"]:
            notes.append(
                f"version {version}: the window now holds {window.n} decisions, the run counted "
                f"{entry['n']} (aggregates flushed into its hours after it ran); the "
                "distributions show the window as it is now, the statistics as the run sealed "
                "them"
            )
        try:
            performance: PerformanceReport | None = performance_report(
                ctx, model, version=version, environment=environment
            )
        except NotFoundError:
            performance = None
        version_reports.append(
            VersionReport(
                version=version,
                results=entry,
                findings=tuple(f for f in findings if f.get("version") == version),
                profile_sha256=recorded,
                rules=info.spec.monitoring if info.spec is not None else Monitoring(),
                distributions=dists,
                window_n=None if window is None else window.n,
                performance=performance,
            )
        )
    return MonitoringReport(
        model=model,
        environment=environment,
        run_id=run.id,
        run_at=run.created_at,
        window_start=run.window_start,
        window_end=run.window_end,
        results_sha256=run.results_sha256,
        audit_seq=run.audit_seq,
        earlier_run_ids=tuple(r.id for r in runs[1:]),
        versions=tuple(version_reports),
        alerts=tuple(alerts),
        notes=tuple(notes),
    )


def threshold_of(rules: Monitoring, alert: str) -> tuple[float | None, float | None]:
    """The spec's (warning, critical) levels an alert is judged against."""
    levels = getattr(rules, RULES[alert])
    return levels.warning, levels.critical


def _alert(a: MonitoringAlertRecord) -> AlertEntry:
    return AlertEntry(
        alert_id=a.id,
        alert=a.alert,
        version=a.version,
        target=a.target,
        severity=a.severity,
        status=a.status,
        value=a.value,
        threshold=a.threshold,
        p_value=a.p_value,
        summary=a.summary,
        runbook=a.runbook,
        opened_run_id=a.opened_run_id,
        last_run_id=a.last_run_id,
        resolved_run_id=a.resolved_run_id,
        started_at=a.started_at,
        resolved_at=a.resolved_at,
    )
