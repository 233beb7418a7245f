"""Alerts that do not cry wolf: when a monitoring run's finding becomes an alert, and where the
alert is sent.

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
it (no second notice), and the first run where it does not breach **resolves** it.

The PSI's p-value: with B bins, under no shift ``PSI ≈ (1/n_ref + 1/n_cur)·χ²(B − 1)`` for large
samples (Yurdakul 2018, *Statistical Properties of Population Stability Index*), so
``p = P(χ²(B − 1) ≥ PSI / (1/n_ref + 1/n_cur))``. The conventional 0.1 / 0.25 levels alone page
on noise in a small window and miss nothing in a large one; the p-value judges them against n.

Every alert names its runbook, ``docs/runbooks/<alert>.md`` (:data:`RUNBOOKS`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

import numpy as np
from scipy.stats import chi2

from riskops.errors import BackendError, InputError
from riskops.spec import Monitoring, Thresholds

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


# -- notices and notifiers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """An alert as sent: firing or resolved, with its labels and annotations."""

    status: Literal["firing", "resolved"]
    alert: str
    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def resolved(self, at: datetime) -> Notice:
        return replace(self, status="resolved", ends_at=at)


class Notifier(Protocol):
    """Where notices go (the store is always one: :mod:`riskops.monitoring.runs`)."""

    def send(self, notices: Sequence[Notice]) -> None: ...


class LogNotifier:
    """Each notice as one log line (WARNING firing, INFO resolved)."""

    def send(self, notices: Sequence[Notice]) -> None:
        for n in notices:
            level = logging.WARNING if n.status == "firing" else logging.INFO
            log.log(
                level,
                "monitoring alert %s %s: %s (runbook %s)",
                n.alert,
                n.status,
                n.annotations.get("summary", ""),
                n.annotations.get("runbook_url", ""),
            )


def alertmanager_payload(notices: Sequence[Notice], *, receiver: str = "riskops") -> dict[str, Any]:
    """The JSON an Alertmanager webhook receiver gets (webhook format version "4"): one group,
    ``status`` firing while any alert in it fires."""
    common = _common([n.labels for n in notices])
    return {
        "version": "4",
        "groupKey": "{}:" + json.dumps(common, sort_keys=True),
        "truncatedAlerts": 0,
        "status": "firing" if any(n.status == "firing" for n in notices) else "resolved",
        "receiver": receiver,
        "groupLabels": {k: v for k, v in common.items() if k == "alertname"},
        "commonLabels": common,
        "commonAnnotations": _common([n.annotations for n in notices]),
        "externalURL": "",
        "alerts": [
            {
                "status": n.status,
                "labels": dict(n.labels),
                "annotations": dict(n.annotations),
                "startsAt": _rfc3339(n.starts_at),
                "endsAt": _rfc3339(n.ends_at) if n.ends_at else "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": n.fingerprint,
            }
            for n in notices
        ],
    }


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = dict(maps[0])
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class WebhookNotifier:
    """POSTs :func:`alertmanager_payload` to an Alertmanager-compatible webhook URL."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise InputError(
                f"The webhook URL {url!r} is not an http(s) URL.",
                hint="Pass e.g. --webhook http://alertmanager-receiver:9095/hook",
            )
        self.url = url
        self.timeout = timeout

    def send(self, notices: Sequence[Notice]) -> None:
        if not notices:
            return
        body = json.dumps(alertmanager_payload(notices)).encode()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                answer.read()
        except OSError as exc:
            raise BackendError(
                f"The alert webhook {self.url} did not take {len(notices)} notice(s): {exc}.",
                hint="The alerts are stored and logged all the same; check that the receiver "
                "answers at that URL.",
            ) from exc
