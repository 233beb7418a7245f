"""The model card's own content, worked out from the records: where the class balance is
recorded, each feature's allowed input, the limitations the records show, and the monitoring plan.

Example::

    [f.allowed for f in feature_lines(records)][:2]  # ['4 categories', '1 to 120']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from riskops.documents import evidence as ev
from riskops.documents.records import DocumentRecords, cite

NO_DATES = "no dates in the source data"


@dataclass(frozen=True)
class Balance:
    """Events among rows in one stored sample, and where that is recorded."""

    data: str
    rows: int
    events: int
    source: str

    @property
    def rate(self) -> float:
        return self.events / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class FeatureLine:
    """One input of the model as the recorded spec declares it."""

    name: str
    type: str
    allowed: str
    monotone: str
    missing: str
    reason: str
    protected: bool


def class_balance(r: DocumentRecords) -> tuple[Balance, ...]:
    """Events among rows wherever a record stores them for a sample (gate evidence, or
    ``<split>_rows`` and ``<split>_events`` metrics)."""
    found: dict[tuple[str, int, int], tuple[str, list[int]]] = {}
    for g in r.gates:
        rows, events = g.evidence.get("rows"), g.evidence.get("events")
        if isinstance(rows, int) and isinstance(events, int) and rows > 0:
            data = str(g.evidence.get("data", "held-out rows"))
            sample = str(g.evidence.get("sample", data))
            found.setdefault((sample, rows, events), (data, []))[1].append(g.id)
    balance = [
        Balance(data, rows, events, cite("gate_results", ids))
        for (_, rows, events), (data, ids) in found.items()
    ]
    metrics = r.version.metrics
    for split in ("train", "validation", "data"):
        rows, events = metrics.get(f"{split}_rows"), metrics.get(f"{split}_events")
        if ev.is_number(rows) and ev.is_number(events) and rows:
            balance.append(
                Balance(
                    f"{split} rows",
                    int(rows),
                    int(events),
                    f"model_versions #{r.version.id} metrics",
                )
            )
    return tuple(balance)


def feature_lines(r: DocumentRecords) -> tuple[FeatureLine, ...]:
    """Each feature of the recorded spec with its allowed values and reason text."""
    if r.spec is None:
        return ()
    protected = set(r.spec.data.protected_attributes)
    lines = []
    for f in r.spec.features:
        if f.type == "categorical":
            allowed = f"{len(f.categories or ())} categories"
        else:
            low = "−∞" if f.min is None else f"{f.min:g}"
            high = "∞" if f.max is None else f"{f.max:g}"
            allowed = f"{low} to {high}"
        lines.append(
            FeatureLine(
                name=f.name,
                type=f.type,
                allowed=allowed,
                monotone=f.monotone or "—",
                missing="allowed" if f.allow_missing else "refused",
                reason=f.reason,
                protected=f.name in protected,
            )
        )
    return tuple(lines)


def limitations(
    r: DocumentRecords, balance: Sequence[Balance], advisory_failures: Sequence[str]
) -> tuple[str, ...]:
    """What the records say the model cannot be relied on for."""
    out: list[str] = []
    v = r.version
    held_out = next((b for b in balance if b.data != "train rows"), None)
    size = f"{v.data_rows} rows from one file ({Path(v.data_source).name})"
    if held_out is not None:
        size += f"; the held-out sample has {held_out.rows} rows with {held_out.events} events ({held_out.source})"
    out.append(f"Trained and validated on {size}. Small samples give wide confidence intervals.")
    if r.spec is not None and not r.spec.data.out_of_time:
        out.append(
            "No out-of-time test: the spec names no later sample and no period is recorded for "
            "the data, so how performance holds over time is unknown until monitoring runs."
        )
    if r.spec is not None:
        used = [f.name for f in r.spec.features if f.name in r.spec.data.protected_attributes]
        if used:
            out.append(
                "Protected attributes used as model features: "
                + ", ".join(used)
                + ". Their use must be justified and lawful for the intended purpose."
            )
    if r.run is None:
        out.append("Not validated yet: no gate has run on this version.")
    else:
        if advisory_failures:
            out.append("Advisory gates failed: " + ", ".join(advisory_failures) + ".")
        if r.spec is not None:
            ran = set(r.families)
            configured = [name for name in type(r.spec.gates).model_fields if name not in ran]
            if configured:
                out.append(
                    "No result recorded in the latest validation run for: "
                    + ", ".join(configured)
                    + " (these checks did not run on this version)."
                )
    if v.code_commit is None:
        out.append("The trainer was not in a git repository: only its SHA-256 identifies the code.")
    elif v.code_dirty:
        out.append(
            f"Trained from a working tree with uncommitted changes (diff {v.code_diff_sha256})."
        )
    if r.spec is not None and r.spec.out_of_scope_use:
        out.append("Out of scope: " + r.spec.out_of_scope_use.strip())
    return tuple(out)


def monitoring_plan(r: DocumentRecords) -> tuple[str, ...]:
    """What will be monitored once riskops monitors (DESIGN.md), with the spec's thresholds."""
    plan = [
        "Feature drift: each feature's distribution in the decision log against a reference "
        "profile stored with this version (quantile bin edges, category frequencies).",
        _profile_line(r),
        "Prediction drift: the score distribution against the one recorded at validation.",
        "Training–serving skew: features recomputed offline for a sample of logged subjects and "
        "compared value by value.",
        "Delayed-label performance: discrimination and calibration once outcomes arrive, joined "
        "to each decision by its id.",
        "Alert rules on these statistics (built-in evaluation; Prometheus and Alertmanager in "
        "production), each with a runbook.",
    ]
    if r.spec is not None:
        s = r.spec.gates.stability
        limits = []
        if s.max_score_psi is not None:
            limits.append(f"score PSI ≤ {s.max_score_psi:g}")
        if s.max_feature_csi is not None:
            limits.append(f"feature CSI ≤ {s.max_feature_csi:g}")
        if limits:
            plan.append(
                "Starting thresholds, from this version's spec (gates.stability): "
                + ", ".join(limits)
                + "."
            )
    return tuple(plan)


def _profile_line(r: DocumentRecords) -> str:
    """Which reference profile the version was registered with (its hash), or that it has none."""
    recorded = [
        e.payload.get("profile_sha256") for e in r.events if e.action == "version.registered"
    ]
    found = next((h for h in recorded if isinstance(h, str)), None)
    if found is None:
        return (
            "This version was registered without a reference profile; monitoring it needs a "
            "new version trained and registered by a riskops release that fits one."
        )
    return (
        f"Reference profile {found}, fitted on the training split at registration and covered "
        "by the artifact digest (docs/monitoring.md)."
    )
