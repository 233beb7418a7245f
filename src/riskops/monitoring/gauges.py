"""What the scoring server's monitoring gauges show: the latest monitoring run of each model in
an environment and the alerts open there, read from the store as the tuples
``ServingMetrics.monitoring`` takes.

The server's refresher asks :func:`runs_since` on each pass that saw new audit events (a run is
sealed as ``monitoring.run``: a primary-key range lookup), and reads :func:`latest_gauges` only
when a run was sealed since its last pass, so a server that is not monitored pays nothing.

Per version of the latest run: the statistics :data:`STATISTICS` of every feature and of the
score (the score's series has ``feature="score"``; a value the run could not compute is left
out) and the window's decisions; per (model, alert, severity): the alerts open. Every label
comes from a closed set (specs, the monitoring plan), never from a request.

Example::

    with store.reading() as session:
        if runs_since(session, seen_seq):
            gauges = latest_gauges(session, "production")
            metrics.monitoring(statistics=gauges.statistics, alerts=gauges.alerts,
                               windows=gauges.windows)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskops.store.tables import AuditEventRecord, MonitoringAlertRecord, MonitoringRunRecord

RUN_ACTION = "monitoring.run"
STATISTICS = ("psi", "ks", "jensen_shannon", "wasserstein_normed", "missing_rate")
"""The statistics of a run shown as gauges: bounded, one series per feature each."""
SCORE_FEATURE = "score"


@dataclass(frozen=True)
class Gauges:
    """The gauge tuples of one environment (see ``riskops.serving.metrics``): the latest run's
    statistics ``(model, version, environment, feature, statistic, value)``, open alerts
    ``(model, environment, alert, severity, count)`` and window sizes
    ``(model, version, environment, decisions)``; ``models`` names every model with a run."""

    statistics: list[tuple[str, int | str, str, str, str, float]] = field(default_factory=list)
    alerts: list[tuple[str, str, str, str, float]] = field(default_factory=list)
    windows: list[tuple[str, int | str, str, float]] = field(default_factory=list)
    models: list[str] = field(default_factory=list)


def runs_since(session: Session, after: int | None) -> bool:
    """Whether a monitoring run was sealed in the audit chain after sequence ``after`` (always
    True when ``after`` is None)."""
    if after is None:
        return True
    found = session.scalar(
        select(AuditEventRecord.seq)
        .where(AuditEventRecord.seq > after, AuditEventRecord.action == RUN_ACTION)
        .limit(1)
    )
    return found is not None


def latest_gauges(session: Session, environment: str) -> Gauges:
    """The gauges of ``environment``: its latest run per model, and its open alerts."""
    latest = (
        select(func.max(MonitoringRunRecord.id))
        .where(MonitoringRunRecord.environment == environment)
        .group_by(MonitoringRunRecord.model_name)
    )
    gauges = Gauges()
    runs = session.scalars(
        select(MonitoringRunRecord)
        .where(MonitoringRunRecord.id.in_(latest))
        .order_by(MonitoringRunRecord.model_name)
    )
    for run in runs:
        gauges.models.append(run.model_name)
        for version in run.results.get("versions", []):
            _version(gauges, run.model_name, environment, version)
    open_alerts = session.execute(
        select(
            MonitoringAlertRecord.model_name,
            MonitoringAlertRecord.alert,
            MonitoringAlertRecord.severity,
            func.count(),
        )
        .where(
            MonitoringAlertRecord.environment == environment,
            MonitoringAlertRecord.status == "firing",
        )
        .group_by(
            MonitoringAlertRecord.model_name,
            MonitoringAlertRecord.alert,
            MonitoringAlertRecord.severity,
        )
        .order_by(MonitoringAlertRecord.model_name, MonitoringAlertRecord.alert)
    )
    for model, alert, severity, count in open_alerts:
        gauges.alerts.append((model, environment, alert, severity, float(count)))
    return gauges


def _version(gauges: Gauges, model: str, environment: str, result: Mapping[str, Any]) -> None:
    version = int(result["version"])
    gauges.windows.append((model, version, environment, float(result["n"])))
    rows = [*result.get("features", [])]
    if "score" in result:
        rows.append({**result["score"], "name": SCORE_FEATURE})
    for row in rows:
        for statistic in STATISTICS:
            value = row.get(statistic)
            if isinstance(value, int | float) and math.isfinite(value):
                gauges.statistics.append(
                    (model, version, environment, str(row["name"]), statistic, float(value))
                )
