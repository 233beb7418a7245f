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
    run.fired          # the alerts this run opened (each names its runbook)
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.audit.chain import canonical_json
from riskops.audit.trail import record
from riskops.context import Context
from riskops.decisions.aggregates import hour_of, recorded_profile_sha256
from riskops.errors import InputError, NotFoundError, RiskopsError, SpecError
from riskops.monitoring.alerts import Finding, judge_versions, update_alerts
from riskops.monitoring.assessment import VersionInfo, version_results
from riskops.monitoring.notifiers import LogNotifier, Notice, Notifier
from riskops.monitoring.windows import MAX_WINDOW, parse_window, window_totals
from riskops.spec import ModelSpec, Monitoring, parse_spec
from riskops.store.tables import ModelVersionRecord, MonitoringRunRecord

log = logging.getLogger(__name__)

RUN_ACTION = "monitoring.run"
MONITOR_ACTOR = "riskops-monitor"

__all__ = ["MonitoringRun", "VersionInfo", "parse_window", "run_monitoring", "stored_versions"]


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
    # Read and compute first (a profile may come from the artifact store); write in one
    # transaction after.
    with ctx.store.reading() as session:
        totals = window_totals(session, model, environment, start, end)
        infos = {version: versions(session, model, version) for version in sorted(totals)}
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
        info = infos[version]
        specs[version] = info.spec
        rules[version] = info.spec.monitoring if info.spec is not None else Monitoring()
        version_result, version_findings = version_results(model, environment, totals_of, info)
        results["versions"].append(version_result)
        findings += version_findings
    if not totals:
        results["notes"] = [f"no decisions of {model} in {environment} in this window"]
    judged = judge_versions(findings, rules)
    results["findings"] = [j.as_dict() for j in judged]
    breaching = sorted({j.finding.fingerprint for j in judged if j.breach})
    results["breaches"] = breaching
    results_sha256 = "sha256:" + hashlib.sha256(canonical_json(results).encode()).hexdigest()
    with ctx.store.transaction() as session:
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
        fired, resolved = update_alerts(
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
