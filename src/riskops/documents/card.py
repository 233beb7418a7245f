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
    prevalence = r.spec.data.population_prevalence if r.spec is not None else None
    if prevalence is not None and held_out is not None:
        legitimate = held_out.rows - held_out.events
        out.append(
            f"The data was sampled at {held_out.rate:.1%} events; every rate that depends on "
            f"prevalence is reweighted to {prevalence * 100:.3g}%, so {legitimate} held-out "
            f"non-event rows stand for {1 - prevalence:.2%} of the population: precision, alert "
            "rates and false-positive rates in the far tail rest on a handful of rows."
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
            gates = r.spec.gates
            configured = [
                name
                for name in type(gates).model_fields
                if name not in ran
                and name != "not_applicable"  # declarations, not a gate
                and getattr(gates, name) is not None  # None: not asked for
            ]
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
    """How this version is monitored (docs/monitoring.md), with the rules of the spec recorded
    with it (``monitoring:``) and the reference profile it was registered with."""
    plan = [
        _profile_line(r),
        "Monitoring runs (riskops monitor run, by hand or from a scheduler) judge each window of "
        "decisions against that profile: per feature CSI and per score PSI with their p-values, "
        "Jensen–Shannon, Hellinger, L∞ and χ² on the PSI bins, KS and Wasserstein-1 with their "
        "bounds, missing, out-of-range and unseen rates; the rate of each decision against the "
        "rate the reference scores give at the policy's cut-offs; the fallback rate.",
        "Each run is stored with the SHA-256 of its results and sealed in the audit chain "
        "(monitoring.run); alerts are stored, logged and sent to an Alertmanager-compatible "
        "webhook, each with its runbook.",
        "Delayed-label performance: outcomes joined to each decision by its id; AUC, KS, bad "
        "rate per band and the vintage matrix, against what the scores expected "
        "(riskops monitor performance).",
        "Training–serving skew: features recomputed offline for a sample of logged subjects and "
        "compared value by value (riskops skew check).",
    ]
    if r.spec is not None:
        m = r.spec.monitoring
        levels = [
            ("feature CSI", m.feature_psi),
            ("score PSI", m.score_psi),
            ("decision rate change", m.decision_rate),
            ("fallback rate", m.fallback_rate),
            ("missing-rate excess", m.missing_rate),
            ("unseen-category rate", m.unseen_rate),
            ("out-of-range rate", m.out_of_range_rate),
        ]
        plan.append(
            "Thresholds (warning / critical), from this version's spec (monitoring): "
            + "; ".join(f"{name} {_level(t.warning)} / {_level(t.critical)}" for name, t in levels)
            + "."
        )
        plan.append(
            f"An alert fires only when the value is at or over its level, significant after the "
            f"Benjamini–Hochberg procedure at q = {m.fdr_q:g} across the run's tests, the window "
            f"holds at least {m.min_sample} decisions, and the breach persisted {m.persistence} "
            f"consecutive run(s); the first run without the breach resolves it."
            + (f" Windows are also split by {m.segment}." if m.segment else "")
        )
        plan.append(
            "Automatic action on a critical prediction-drift alert: "
            + (
                "roll the environment back to the previous approved version (as riskops-monitor)."
                if m.on_critical_prediction_drift == "rollback"
                else "none; the alert is raised and a person decides."
            )
        )
    return tuple(plan)


def monitoring_status(r: DocumentRecords) -> tuple[str, ...]:
    """What the latest monitoring run of each environment found about this version, and the
    alerts open on it, from ``monitoring_runs`` and ``monitoring_alerts``."""
    if not r.monitoring_runs:
        return (
            f"No monitoring run yet has seen a decision of {r.ref}. Once it serves: "
            f"riskops monitor run {r.ref.name} --env production --window 24h",
        )
    out = []
    for run in r.monitoring_runs:
        parts = [
            f"Latest run in {run.environment}: monitoring_runs #{run.id}, window "
            f"{run.window_start:%Y-%m-%d %H:%M} → {run.window_end:%Y-%m-%d %H:%M} UTC, "
            f"{run.decisions} decisions of this version"
        ]
        if run.score_psi is not None:
            parts.append(f"score PSI {run.score_psi:.4f} (p = {run.score_psi_p_value:.3g})")
        if run.largest_csi is not None:
            parts.append(f"largest feature CSI {run.largest_csi[1]:.4f} ({run.largest_csi[0]})")
        parts.append("breaches: " + ", ".join(run.breaches) if run.breaches else "no breach")
        out.append(
            "; ".join(parts)
            + f". Results {run.results_sha256}, sealed at audit event #{run.audit_seq}."
            + "".join(f" Note: {n}." for n in run.notes)
        )
    if r.open_alerts:
        for a in r.open_alerts:
            out.append(
                f"Open alert monitoring_alerts #{a.id}: {a.alert} on {a.target} in "
                f"{a.environment} ({a.severity}), value {_level(a.value)} against "
                f"{_level(a.threshold)}, since run #{a.opened_run_id}, last seen in run "
                f"#{a.last_run_id}; runbook {a.runbook}."
            )
    else:
        out.append("No alert is open on this version.")
    return tuple(out)


def _level(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


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


# The sections of Mitchell et al., "Model Cards for Model Reporting" (FAT* 2019) that the
# other sections do not already cover: factors, ethical considerations, caveats and
# recommendations, each filled only from the records.


def factors(r: DocumentRecords) -> tuple[str, ...]:
    """The groups and conditions the model's performance may vary across: the protected
    attributes and the groups the fairness gate compared (or could not), and the segment
    monitoring splits windows by."""
    spec = r.spec
    if spec is None:
        return ("The recorded spec did not parse, so no factor is known.",)
    out: list[str] = []
    declared = spec.data.protected_attributes
    if not declared:
        out.append(
            "No protected attribute is declared in the data, so outcomes by group are not "
            "evidenced: "
            + (spec.gates.not_applicable.get("fairness") or "data.protected_attributes is empty.")
        )
    seen: set[str] = set()
    for g in r.gates_of("fairness"):
        attribute = g.evidence.get("attribute")
        if not isinstance(attribute, str) or attribute in seen:
            continue
        seen.add(attribute)
        groups = ev.fairness_groups(g.evidence) or []
        compared = [str(x.get("group")) for x in groups if not x.get("excluded")]
        excluded = [
            f"{x.get('group')} ({x.get('count')} rows)" for x in groups if x.get("excluded")
        ]
        ids = [x.id for x in r.gates_of("fairness") if x.evidence.get("attribute") == attribute]
        line = f"{attribute}: groups compared {', '.join(compared) or 'none'}"
        if excluded:
            line += f"; too small to compare: {', '.join(excluded)}"
        out.append(line + f" ({cite('gate_results', ids)}).")
    for attribute in declared:
        if attribute not in seen:
            out.append(f"{attribute}: declared, but no fairness result names it.")
    if spec.monitoring.segment:
        out.append(
            f"In production, monitoring splits every window by {spec.monitoring.segment}, so "
            "drift in one segment is seen apart."
        )
    return tuple(out)


def ethical_considerations(r: DocumentRecords) -> tuple[str, ...]:
    """What bears on fairness and the people scored, from the records: failed fairness checks,
    fields left out and why, protected attributes used as features, and the safeguards."""
    spec = r.spec
    out: list[str] = []
    failed = [g for g in r.gates_of("fairness") if g.status == "failed"]
    for g in failed:
        out.append(
            f"Failed fairness check {g.gate}: {g.metric} {_value(g.value)} against "
            f"{g.comparison} {_value(g.threshold)} ({g.severity}; gate_results #{g.id})."
        )
    if r.run is not None and r.gates_of("fairness") and not failed:
        out.append("Every fairness check of the latest validation run passed or did not apply.")
    if spec is None:
        return tuple(out)
    for key, text in spec.rationale.items():
        if key.startswith("features.dropped."):
            out.append(f"Left out of the features: {key.removeprefix('features.dropped.')}. {text}")
    used = [f.name for f in spec.features if f.name in spec.data.protected_attributes]
    if used:
        out.append(
            "Protected attributes used as features: "
            + ", ".join(used)
            + "; their use must be lawful and justified for the purpose."
        )
    out.append(
        f"Every outcome but '{spec.outcomes.favourable}' states its principal reasons, cases in "
        f"the '{spec.outcomes.review}' band are decided by a person, and logged decisions hold "
        "the subject only as a pseudonym, the inputs encrypted under the subject's own key."
    )
    return tuple(out)


def caveats(r: DocumentRecords, limits: Sequence[str]) -> tuple[str, ...]:
    """Recommendations the records call for, after the limitations already listed."""
    out: list[str] = []
    if r.run is None:
        out.append(f"Validate before any use: riskops validate {r.ref} --as <validator>.")
    for g in r.gates:
        if g.status == "failed" and g.severity == "advisory":
            out.append(
                f"{g.gate} failed (advisory): look at its evidence in the validation report "
                "before relying on it, and decide on record whether it should block."
            )
    small = [
        f"{g.evidence.get('attribute')}"
        for g in r.gates_of("fairness")
        if any(x.get("excluded") for x in (ev.fairness_groups(g.evidence) or []))
    ]
    if small:
        out.append(
            "Collect enough rows to compare the small groups of "
            + ", ".join(sorted(set(small)))
            + " before relying on fairness results for them."
        )
    if not r.monitoring_runs:
        out.append(
            "No monitoring run has seen this version yet: run riskops monitor run once it serves."
        )
    out.append(
        f"Revalidate on a change of population, product or policy: {len(limits)} limitation(s) "
        "above bound where the evidence holds."
    )
    return tuple(out)


def _value(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"
