"""What the documents say, worked out from the records before any template sees them: gate
verdicts and intervals, evidence tables and plots per gate family, the data and feature
descriptions, the sign-offs and overrides, the limitations, the monitoring plan and the
regulatory mapping. The templates only lay this out, so HTML, Markdown and PDF say the same.

Example::

    content = build_content(gather_records(ctx, ref), rendered_at=ctx.clock())
    [line.row.gate for line in content.gate_lines]
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from riskops.documents import evidence as ev
from riskops.documents import figures
from riskops.documents.attachments import (
    AttachmentCheck,
    check_attachments,
    missing_kinds,
)
from riskops.documents.card import (
    NO_DATES,
    Balance,
    FeatureLine,
    caveats,
    class_balance,
    ethical_considerations,
    factors,
    feature_lines,
    limitations,
    monitoring_plan,
    monitoring_status,
)
from riskops.documents.changes import Changes, changes_since_previous
from riskops.documents.crosswalk import Requirement, crosswalk, derogations
from riskops.documents.figures import Plot
from riskops.documents.glossary import Term, term_for, terms_for
from riskops.documents.records import ApprovalRow, DocumentRecords, GateRow, cite
from riskops.documents.regulation import (
    STATUS_TEXT,
    AnnexPoint,
    Pillar,
    RegulatoryPosition,
    annex_iv,
    model_risk,
    regulatory_position,
)
from riskops.documents.soundness import Soundness, soundness

Tone = Literal["pass", "fail", "warn", "na"]
NO_RATIONALE = "no rationale recorded in the spec"


@dataclass(frozen=True)
class GateLine:
    """One gate result as the report lists it."""

    row: GateRow
    interval: ev.Interval | None
    verdict: str
    tone: Tone
    override: str | None


@dataclass(frozen=True)
class EvidenceBlock:
    """One stored evidence mapping and the gate results that share it."""

    rows: tuple[GateRow, ...]
    tables: tuple[ev.Table, ...]
    raw: str

    @property
    def source(self) -> str:
        return cite("gate_results", [g.id for g in self.rows])

    @property
    def names(self) -> str:
        return ", ".join(g.gate for g in self.rows)


@dataclass(frozen=True)
class FamilySection:
    family: str
    kinds: tuple[str, ...]
    lines: tuple[GateLine, ...]
    plots: tuple[Plot, ...]
    blocks: tuple[EvidenceBlock, ...]


@dataclass(frozen=True)
class GroupTable:
    """The groups of one protected attribute, as the fairness evidence records them."""

    attribute: str
    table: ev.Table
    source: str


@dataclass(frozen=True)
class SignOffLine:
    row: ApprovalRow
    decision: str
    findings: tuple[str, ...]
    conditions: tuple[str, ...]


@dataclass(frozen=True)
class OverrideLine:
    gate: str
    actor: str
    at: str
    justification: str
    source: str


@dataclass(frozen=True)
class RationaleLine:
    """One entry of the spec's ``rationale``: its key and the provider's text."""

    key: str
    text: str

    @property
    def about(self) -> str:
        """What the entry explains, in words: ``gate fairness``, ``dropped feature age``."""
        head, _, rest = self.key.partition(".")
        if self.key.startswith("features.dropped."):
            return f"feature left out: {self.key.removeprefix('features.dropped.')}"
        if head == "features" and rest:
            return f"feature {rest}"
        return self.key


@dataclass(frozen=True)
class Content:
    """Everything a template shows, from one :class:`DocumentRecords`."""

    records: DocumentRecords
    rendered_at: datetime
    gate_lines: tuple[GateLine, ...]
    families: tuple[FamilySection, ...]
    plots: tuple[Plot, ...]
    balance: tuple[Balance, ...]
    features: tuple[FeatureLine, ...]
    signoffs: tuple[SignOffLine, ...]
    overrides: tuple[OverrideLine, ...]
    limitations: tuple[str, ...]
    monitoring: tuple[str, ...]
    monitoring_status: tuple[str, ...]
    annex: tuple[AnnexPoint, ...]
    model_risk: tuple[Pillar, ...]
    position: RegulatoryPosition
    rationale: tuple[RationaleLine, ...] = ()
    crosswalk: tuple[Requirement, ...] = ()
    derogations: tuple[str, ...] = ()
    changes: Changes | None = None
    attachments: tuple[AttachmentCheck, ...] = ()
    missing_attachments: tuple[str, ...] = ()
    terms: tuple[Term, ...] = ()
    factors: tuple[str, ...] = ()
    ethics: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()
    soundness: Soundness | None = None

    def rationale_of(self, family: str) -> tuple[RationaleLine, ...]:
        """The entries that explain a gate family: its own and its thresholds'."""
        return tuple(line for line in self.rationale if line.key.partition(".")[0] == family)

    @property
    def decision_rationale(self) -> tuple[RationaleLine, ...]:
        """The entries about choices other than gate thresholds (policy, split, features)."""
        families = set(self.records.families) | _GATE_FAMILIES
        return tuple(line for line in self.rationale if line.key.partition(".")[0] not in families)

    @property
    def unexplained(self) -> tuple[str, ...]:
        """Gate families with results but no rationale entry."""
        return tuple(
            f for f in self.records.families if f in _GATE_FAMILIES and not self.rationale_of(f)
        )

    def define(self, name: str) -> str:
        """The definition of the metric a gate or metric name is about, or ""."""
        term = term_for(name)
        return term.text if term is not None else ""

    @property
    def risks(self) -> tuple[GateLine, ...]:
        """Failed checks, fairness first: the foreseeable risks the records show."""
        failed = [g for g in self.gate_lines if g.row.status == "failed"]
        return tuple(sorted(failed, key=lambda g: g.row.family != "fairness"))

    @property
    def group_tables(self) -> tuple[GroupTable, ...]:
        """One table per protected attribute, from the fairness evidence (shared evidence
        is shown once, naming every gate result that holds it)."""
        section = self.family("fairness")
        found: dict[str, tuple[ev.Table, list[int]]] = {}
        for block in section.blocks if section is not None else ():
            evidence = block.rows[0].evidence
            groups = ev.fairness_groups(evidence)
            if groups is None:
                continue
            attribute = str(evidence.get("attribute", "group"))
            table = ev.rows_table("groups", groups)
            entry = found.setdefault(attribute, (table, []))
            entry[1].extend(g.id for g in block.rows)
        return tuple(
            GroupTable(attribute, table, cite("gate_results", ids))
            for attribute, (table, ids) in found.items()
        )

    def family(self, name: str) -> FamilySection | None:
        return next((f for f in self.families if f.family == name), None)

    def plots_named(self, *prefixes: str) -> tuple[Plot, ...]:
        return tuple(p for p in self.plots if p.name.startswith(prefixes))

    @property
    def data_period(self) -> str:
        recorded = self.records.version.extra.get("data_period")
        return str(recorded) if recorded else NO_DATES

    @property
    def data_file(self) -> str:
        return Path(self.records.version.data_source).name

    @property
    def annex_counts(self) -> tuple[tuple[str, str, int], ...]:
        """(status, its text, how many Annex IV items have it), for every status."""
        items = [i for p in self.annex for i in p.items]
        return tuple(
            (status, text, sum(1 for i in items if i.status == status))
            for status, text in STATUS_TEXT.items()
        )

    @property
    def failed_blocking(self) -> tuple[GateLine, ...]:
        return tuple(
            g for g in self.gate_lines if g.row.status == "failed" and g.row.severity == "blocking"
        )

    @property
    def gate_counts(self) -> str:
        """The run's checks counted by status, failures named: ``30 passed, 1 failed
        (fairness.sex.approval_rate_ratio), 2 not applicable, 5 reported, of 38 checks``."""
        statuses = [g.row.status for g in self.gate_lines]
        failed = [g.row.gate for g in self.gate_lines if g.row.status == "failed"]
        return (
            f"{statuses.count('passed')} passed, {len(failed)} failed"
            + (f" ({', '.join(failed)})" if failed else "")
            + f", {statuses.count('not_applicable')} not applicable, "
            f"{statuses.count('reported')} reported, of {len(statuses)} checks"
        )

    @property
    def decision_bands(self) -> Mapping[str, Any] | None:
        """The policy's outcomes on the held-out rows (rows, share, events, event rate each)
        and the review workload, from the ``decisions.review_share`` evidence; None before
        validation recorded it."""
        for g in self.gate_lines:
            if g.row.gate == "decisions.review_share" and isinstance(
                g.row.evidence.get("bands"), list
            ):
                return g.row.evidence
        return None

    @property
    def not_applicable(self) -> tuple[GateLine, ...]:
        """The checks that did not apply; each row's ``not_applicable_reason`` says why."""
        return tuple(g for g in self.gate_lines if g.row.status == "not_applicable")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-")


def _texts(value: Any) -> tuple[str, ...]:
    """Findings or conditions as stored (text, list, or nothing) as lines."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(line.strip() for line in value.splitlines() if line.strip())
    if isinstance(value, Sequence):
        return tuple(str(v) for v in value if str(v).strip())
    return (str(value),)


def _overrides(r: DocumentRecords) -> tuple[OverrideLine, ...]:
    lines = [
        OverrideLine(
            gate=str(o.values.get("gate", "")),
            actor=str(o.values.get("actor", "")),
            at=_time(o.values.get("created_at")),
            justification=str(o.values.get("justification", o.values.get("reason", ""))),
            source=cite(o.table, [o.id]) if isinstance(o.id, int) else o.table,
        )
        for o in r.overrides
    ]
    if not lines:  # before an overrides table exists, the audit chain still records them
        lines = [
            OverrideLine(
                gate=str(e.payload.get("gate", "")),
                actor=e.actor,
                at=e.occurred_at,
                justification=str(e.payload.get("justification", e.payload.get("reason", ""))),
                source=cite("audit_events", [e.seq]),
            )
            for e in r.override_events
        ]
    return tuple(lines)


def _time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(value, datetime) else str(value)


def _line(row: GateRow, overrides: Sequence[OverrideLine]) -> GateLine:
    interval = ev.confidence_interval(row.evidence, row.metric)
    override = next((o for o in overrides if o.gate == row.gate), None)
    override_text = (
        f"overridden by {override.actor} ({override.source}): {override.justification}"
        if override is not None
        else None
    )
    verdict: str
    tone: Tone
    if row.status == "not_applicable":
        verdict, tone = "not applicable", "na"
    elif row.status == "reported":
        verdict, tone = "reported", "na"
    elif row.status == "passed":
        verdict, tone = "pass", "pass"
    elif override is not None:
        verdict, tone = "fail, overridden", "warn"
    elif row.severity == "blocking":
        verdict, tone = "FAIL (blocking)", "fail"
    else:
        verdict, tone = "fail (advisory)", "warn"
    return GateLine(row, interval, verdict, tone, override_text)


def _plots_for(family: str, block: EvidenceBlock, r: DocumentRecords) -> list[Plot]:
    evidence = block.rows[0].evidence
    attribute = evidence.get("attribute")
    subject = attribute if isinstance(attribute, str) else evidence.get("feature")
    # one block per protected attribute or per feature: name its plots after it
    suffix = f"-{_slug(subject)}" if isinstance(subject, str) else ""
    plots: list[Plot] = []

    def add(kind: str, title: str, png: bytes | None) -> None:
        if png is not None:
            plots.append(Plot(f"{_slug(family)}-{kind}{suffix}", title, block.source, png))

    roc = ev.curve(evidence, "roc", "fpr", "tpr")
    if roc is not None:
        add("roc", "ROC curve", figures.roc_figure(roc, auc=ev.metric_value(evidence, "auc")))
    pr = ev.curve(evidence, "pr", "recall", "precision")
    if pr is not None:
        rows, events = evidence.get("rows"), evidence.get("events")
        base = (
            float(events) / float(rows)
            if ev.is_number(rows) and ev.is_number(events) and rows
            else None
        )
        add("pr", "Precision-recall curve", figures.precision_recall_figure(pr, base_rate=base))
    histogram = ev.histogram(evidence)
    if histogram is not None:
        score_cutoffs = r.spec.policy.score_cutoffs() if r.spec is not None else None
        cut_offs = (
            {
                f"{r.spec.outcomes.favourable} below": score_cutoffs[0],
                f"{r.spec.outcomes.adverse} from": score_cutoffs[1],
            }
            if r.spec is not None and score_cutoffs is not None
            else None
        )
        add(
            "scores",
            "Score distributions of events and non-events",
            figures.score_distribution_figure(histogram, cut_offs=cut_offs),
        )
    bands = ev.calibration_bands(evidence)
    if bands is not None:
        add(
            "calibration",
            "Calibration: observed rate against mean score per band",
            figures.calibration_figure(bands),
        )
    groups = ev.fairness_groups(evidence)
    if groups is not None:
        name = attribute if isinstance(attribute, str) else "group"
        add(
            "approval-rate",
            f"Approval rate by {name}",
            figures.fairness_figure(groups, attribute=name),
        )
    pairs = ev.importance(evidence)
    if pairs is not None:
        unit = evidence.get("unit")
        add(
            "importance",
            "Global feature importance",
            figures.importance_figure(pairs, unit=unit if isinstance(unit, str) else None),
        )
    worst = ev.worst_row_curve(evidence)
    if worst is not None:
        feature = str(evidence.get("feature", "feature"))
        direction = evidence.get("direction")
        add(
            "worst-row",
            f"Monotonicity: the worst row's score along {feature}",
            figures.monotonicity_figure(
                worst, feature=feature, direction=direction if isinstance(direction, str) else None
            ),
        )
    return plots


def _families(r: DocumentRecords, lines: Sequence[GateLine]) -> tuple[FamilySection, ...]:
    sections = []
    for family in r.families:
        rows = r.gates_of(family)
        grouped: dict[str, list[GateRow]] = {}
        for row in rows:
            key = json.dumps(row.evidence, sort_keys=True, default=str)
            grouped.setdefault(key, []).append(row)
        blocks = [
            EvidenceBlock(
                rows=tuple(members),
                tables=tuple(ev.evidence_tables(members[0].evidence)),
                raw=json.dumps(members[0].evidence, indent=2, sort_keys=True, default=str),
            )
            for members in grouped.values()
        ]
        plots: dict[str, Plot] = {}
        for block in blocks:
            for plot in _plots_for(family, block, r):
                name, n = plot.name, 1
                while name in plots and plots[name].png != plot.png:
                    n += 1
                    name = f"{plot.name}-{n}"
                plots.setdefault(name, replace(plot, name=name))
        sections.append(
            FamilySection(
                family=family,
                kinds=tuple(dict.fromkeys(g.kind for g in rows)),
                lines=tuple(line for line in lines if line.row.family == family),
                plots=tuple(plots.values()),
                blocks=tuple(blocks),
            )
        )
    return tuple(sections)


_GATE_FAMILIES = {
    "performance",
    "calibration",
    "stability",
    "champion",
    "fairness",
    "data_quality",
    "robustness",
    "monotonicity",
    "explainability",
    "detection",
}


def build_content(
    r: DocumentRecords, *, rendered_at: datetime, home: Path | None = None
) -> Content:
    """Work out every section of the three documents from ``r``; ``home`` is the workspace
    whose stored attachments are re-hashed (None: listed, not re-hashed)."""
    overrides = _overrides(r)
    lines = tuple(_line(g, overrides) for g in r.gates)
    families = _families(r, lines)
    plots: dict[str, Plot] = {}
    for f in families:
        for p in f.plots:
            plots.setdefault(p.name, p)
    sound = soundness(r)
    for p in sound.plots:
        plots.setdefault(p.name, p)
    balance = class_balance(r)
    advisory = [g.row.gate for g in lines if g.tone == "warn" and g.override is None]
    limits = limitations(r, balance, advisory)
    names = [*(g.gate for g in r.gates), *(g.metric for g in r.gates), *r.version.metrics]
    return Content(
        records=r,
        rendered_at=rendered_at,
        gate_lines=lines,
        families=families,
        plots=tuple(plots.values()),
        balance=balance,
        features=feature_lines(r),
        signoffs=tuple(
            SignOffLine(
                row=a,
                decision=a.decision or "approve",
                findings=_texts(a.findings),
                conditions=_texts(a.conditions),
            )
            for a in r.approvals
        ),
        overrides=overrides,
        limitations=limits,
        monitoring=monitoring_plan(r),
        monitoring_status=monitoring_status(r),
        annex=annex_iv(r),
        model_risk=model_risk(r),
        position=regulatory_position(r.spec.kind if r.spec is not None else None),
        rationale=tuple(
            RationaleLine(k, v) for k, v in (r.spec.rationale if r.spec is not None else {}).items()
        ),
        crosswalk=crosswalk(r),
        derogations=derogations(r),
        changes=changes_since_previous(r),
        attachments=check_attachments(r, home),
        missing_attachments=missing_kinds(r),
        terms=terms_for(["performance.auc", *names]),
        factors=factors(r),
        ethics=ethical_considerations(r),
        caveats=caveats(r, limits),
        soundness=sound,
    )
