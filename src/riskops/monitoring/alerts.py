"""Alerts that do not cry wolf: when a monitoring run's finding becomes an alert, and how an
alert is opened, refreshed and resolved in the store (its notices are sent by
:mod:`riskops.monitoring.notifiers`).

A finding (:class:`Finding`) is one statistic on one target of one version — the CSI of a
feature, the score's PSI, the change of the approval rate — with a p-value under "nothing
changed" where the statistic has one. A finding **breaches** in a run only when all hold:

1. its value is at or over the spec's warning level (``critical`` at or over the critical one);
2. it is significant after the Benjamini–Hochberg procedure at the spec's ``fdr_q`` across all
   the run's findings that carry a p-value (Benjamini & Hochberg 1995): with m tests and sorted
   p-values p₍₁₎ ≤ … ≤ p₍ₘ₎, reject the k smallest, k the largest i with p₍ᵢ₎ ≤ i·q/m;
3. the window holds at least ``min_sample`` decisions.

An alert **fires** once the same finding (its fingerprint: alert, model, environment, version,
target) breached in ``persistence`` consecutive runs; while it is open a breach only refreshes
it (no second notice) — except that an open warning which reaches the critical level is
notified again, as critical, and counts as fired (so a drift that grows through the warning
level still triggers the spec's action on critical) — and the first run where it does not
breach **resolves** it.

The PSI's p-value: with B bins, under no shift ``PSI ≈ (1/n_ref + 1/n_cur)·χ²(B − 1)`` for large
samples (Yurdakul 2018, *Statistical Properties of Population Stability Index*), so
``p = P(χ²(B − 1) ≥ PSI / (1/n_ref + 1/n_cur))``. The conventional 0.1 / 0.25 levels alone page
on noise in a small window and miss nothing in a large one; the p-value judges them against n.

Every alert names its runbook, ``docs/runbooks/<alert>.md`` (:data:`RUNBOOKS`).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
from scipy.stats import chi2
from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.monitoring.notifiers import Notice
from riskops.spec import Monitoring, Thresholds
from riskops.store.tables import MonitoringAlertRecord, MonitoringRunRecord

log = logging.getLogger(__name__)

# Alert name → the spec's thresholds it is judged against; each has docs/runbooks/<name>.md.
RULES: dict[str, str] = {
    "feature-drift": "feature_psi",
    "prediction-drift": "score_psi",
    "decision-rate-shift": "decision_rate",
    "fallback-rate": "fallback_rate",
    "missing-values": "missing_rate",
    "unseen-categories": "unseen_rate",
    "out-of-range-values": "out_of_range_rate",
}
RUNBOOKS: dict[str, str] = {name: f"docs/runbooks/{name}.md" for name in RULES}

Severity = Literal["warning", "critical"]


@dataclass(frozen=True)
class Finding:
    """One statistic of a run on one target: its value, its p-value under "no change" (None:
    judged by the threshold alone), and the window's size."""

    alert: str
    model: str
    environment: str
    version: int
    target: str
    value: float
    n: int
    p_value: float | None = None
    detail: str = ""

    @property
    def fingerprint(self) -> str:
        key = f"{self.alert}|{self.model}|{self.environment}|{self.version}|{self.target}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Judged:
    """A finding with the verdict of :func:`judge`."""

    finding: Finding
    severity: Severity | None  # the level its value reaches, None under warning
    threshold: float | None
    q_value: float | None  # Benjamini–Hochberg adjusted p-value
    significant: bool
    enough: bool  # n ≥ min_sample
    breach: bool

    def as_dict(self) -> dict[str, Any]:
        f = self.finding
        return {
            "alert": f.alert,
            "version": f.version,
            "target": f.target,
            "value": _number(f.value),
            "p_value": _number(f.p_value),
            "q_value": _number(self.q_value),
            "n": f.n,
            "severity": self.severity,
            "threshold": self.threshold,
            "significant": self.significant,
            "breach": self.breach,
            "fingerprint": f.fingerprint,
            "detail": f.detail,
        }


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def psi_p_value(psi: float, n_ref: int, n_cur: int, bins: int) -> float:
    """P-value of a PSI over ``bins`` bins under no shift (Yurdakul 2018, see the module
    docstring); 1.0 when there is nothing to compare."""
    if bins < 2 or n_ref <= 0 or n_cur <= 0 or not math.isfinite(psi):
        return 1.0
    scale = 1.0 / n_ref + 1.0 / n_cur
    return float(chi2.sf(max(psi, 0.0) / scale, bins - 1))


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), in the input's order:
    ``q₍ᵢ₎ = min_{j ≥ i} min(1, m·p₍ⱼ₎ / j)``. Reject where ``q ≤ fdr_q``."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m, dtype=np.float64)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def judge(findings: Sequence[Finding], monitoring: Monitoring) -> list[Judged]:
    """Each finding's verdict in one run (the persistence rule is :func:`persisted`'s)."""
    tested = [i for i, f in enumerate(findings) if f.p_value is not None]
    q_values = benjamini_hochberg([findings[i].p_value or 0.0 for i in tested])
    q_of = {i: float(q) for i, q in zip(tested, q_values, strict=True)}
    out = []
    for i, f in enumerate(findings):
        levels: Thresholds = getattr(monitoring, RULES[f.alert])
        severity: Severity | None = None
        threshold = levels.warning
        if levels.critical is not None and f.value >= levels.critical:
            severity, threshold = "critical", levels.critical
        elif levels.warning is not None and f.value >= levels.warning:
            severity = "warning"
        q = q_of.get(i)
        significant = q is None or q <= monitoring.fdr_q
        enough = f.n >= monitoring.min_sample
        out.append(
            Judged(
                f,
                severity,
                threshold,
                q,
                significant,
                enough,
                bool(severity) and significant and enough,
            )
        )
    return out


def persisted(
    judged: Sequence[Judged], earlier: Sequence[set[str]], persistence: int
) -> list[Judged]:
    """The breaches that also breached in each of the ``persistence − 1`` runs before
    (``earlier``: the breaching fingerprints of the previous runs, newest first)."""
    needed = earlier[: persistence - 1]
    if len(needed) < persistence - 1:
        return []
    return [j for j in judged if j.breach and all(j.finding.fingerprint in s for s in needed)]


def judge_versions(findings: Sequence[Finding], rules: Mapping[int, Monitoring]) -> list[Judged]:
    """Judge each version's findings under its own spec's rules (FDR across its findings)."""
    out: list[Judged] = []
    for version in sorted({f.version for f in findings}):
        out += judge([f for f in findings if f.version == version], rules[version])
    return out


# -- open, refresh, resolve ------------------------------------------------------------------


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


def update_alerts(
    session: Session,
    run: MonitoringRunRecord,
    judged: Sequence[Judged],
    rules: Mapping[int, Monitoring],
    model: str,
    environment: str,
    at: datetime,
    runbook_base: str,
) -> tuple[list[Notice], list[Notice]]:
    """Open the alerts whose breach persisted, refresh the open ones still breaching (no
    second notice), resolve the open ones that no longer breach; in ``session``'s
    transaction, with ``run``. Returns the notices of the fired and the resolved alerts."""
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
        if now is not None:  # still on: refreshed, not notified again...
            alert.last_run_id = run.id
            alert.value = now.finding.value
            alert.p_value = now.finding.p_value
            escalated = alert.severity == "warning" and now.severity == "critical"
            alert.severity = now.severity or alert.severity
            if escalated:  # ...unless it became critical: that is news, and may call for action
                alert.threshold = now.threshold
                alert.summary = _summary(now)
                fired.append(_notice(alert, runbook_base))
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
