"""Everything the store holds about one model version, gathered once for its documents.

The documents read only this record: the model and its version history (through
:func:`riskops.governance.inventory.describe_model`), the version's row with its recorded spec,
its validation runs and the gate results of the latest one, its sign-offs (with the validator's
opinion), the validator's findings log and the conditions of approval, the deployment history,
the audit events about it and the signed checkpoints that cover them. Each item keeps its table
and id, so a document can name the record behind every number ("gate_results #7").

Columns other people add later (a validator's ``findings`` and ``conditions`` on approvals, an
override on a gate result) are read when they exist: every row keeps its extra columns in
``extra``, and any table whose name mentions ``override`` is read for this version.

Example::

    records = gather_records(ctx, ModelRef("credit-scoring", 1))
    records.run.id if records.run else "not validated yet"
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, inspect, select
from sqlalchemy.orm import Session

from riskops.context import Context
from riskops.documents.checkpoints import VersionCheckpoints, version_checkpoints
from riskops.errors import SpecError
from riskops.governance.approvals import approvals_of
from riskops.governance.conditions import ConditionState, conditions_of
from riskops.governance.deployments import history
from riskops.governance.findings import Finding, findings_of
from riskops.governance.inventory import ModelView, describe_model
from riskops.registry.versions import ModelRef, get_version
from riskops.spec import ModelSpec, parse_spec
from riskops.store.tables import (
    AuditEventRecord,
    AuditHeadRecord,
    Base,
    DecisionRecord,
    GateResultRecord,
    ModelVersionRecord,
    MonitoringAlertRecord,
    MonitoringRunRecord,
    ValidationRunRecord,
)

KIND = "riskops.documents/records@1"


def _extra(row: object, known: frozenset[str]) -> dict[str, Any]:
    """Columns of ``row`` beyond the ones this module knows, with their values (None skipped)."""
    columns = inspect(type(row)).columns.keys()
    return {c: getattr(row, c) for c in columns if c not in known and getattr(row, c) is not None}


@dataclass(frozen=True)
class VersionRow:
    """The ``model_versions`` row of the documented version."""

    id: int
    state: str
    digest: str
    artifact_uri: str
    mlflow_run_id: str
    flavor: str
    data_fingerprint: str
    data_source: str
    data_rows: int
    code_commit: str | None
    code_dirty: bool
    code_diff_sha256: str | None
    trainer_sha256: str
    spec_sha256: str
    spec_yaml: str
    params: Mapping[str, Any]
    metrics: Mapping[str, Any]
    packages: Mapping[str, Any]
    trained_by: str
    created_at: datetime
    updated_at: datetime
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRow:
    """A ``validation_runs`` row."""

    id: int
    run_by: str
    passed: bool
    champion_version: int | None
    created_at: datetime


@dataclass(frozen=True)
class GateRow:
    """A ``gate_results`` row with its evidence as stored."""

    id: int
    gate: str
    kind: str
    metric: str
    value: float | None
    threshold: float | None
    comparison: str
    severity: str
    passed: bool
    evidence: Mapping[str, Any]
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """The gate family: ``performance`` for ``performance.auc``."""
        return self.gate.split(".", 1)[0]

    @property
    def status(self) -> str:
        """passed, failed, not_applicable or reported: as recorded in the evidence, else (a
        row stored before statuses were recorded) read from the row as
        ``riskops.validation.gate.status_of`` does; a pass without a value was not applicable."""
        recorded = self.evidence.get("status")
        if recorded in ("passed", "failed", "not_applicable", "reported"):
            return str(recorded)
        if not self.passed:
            return "failed"
        if self.comparison != "n/a":
            return "passed"
        return "reported" if self.value is not None else "not_applicable"

    @property
    def not_applicable_reason(self) -> str:
        """Why a not-applicable check did not apply: the spec's reason, else the gate's note."""
        return str(self.evidence.get("not_applicable") or self.evidence.get("note") or "")

    @property
    def statistic(self) -> str:
        """What the value is when its name alone does not say (the champion's lower bound),
        with the difference it bounds: "" for most checks."""
        label = self.evidence.get("statistic")
        if not isinstance(label, str):
            return ""
        difference = self.evidence.get("difference")
        if isinstance(difference, int | float):
            return f"{label}; the difference itself is {difference:+.4f}"
        return label

    @property
    def declared_in(self) -> str:
        """Where the spec declares this check not applicable (``gates.not_applicable.<check>``),
        or "" when the gate itself found it so (no champion yet)."""
        return str(self.evidence.get("declared_in") or "")


@dataclass(frozen=True)
class ApprovalRow:
    """An ``approvals`` row; ``findings``, ``conditions`` and ``decision`` when the store has
    those columns."""

    id: int
    actor: str
    role: str
    note: str
    created_at: datetime
    findings: Any = None
    conditions: Any = None
    decision: str | None = None
    opinion: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeploymentRow:
    """A ``deployments`` row."""

    id: int
    environment: str
    version: int
    action: str
    previous_version: int | None
    actor: str
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class AuditRow:
    """An ``audit_events`` row with its payload parsed."""

    seq: int
    occurred_at: str
    actor: str
    role: str
    action: str
    object_id: str
    payload: Mapping[str, Any]
    hash: str


@dataclass(frozen=True)
class MonitoringRunRow:
    """The latest ``monitoring_runs`` row of one environment whose window held the documented
    version, with that version's figures as the run sealed them."""

    id: int
    environment: str
    window_start: datetime
    window_end: datetime
    created_at: datetime
    results_sha256: str
    audit_seq: int
    decisions: int
    profile_sha256: str | None
    score_psi: float | None
    score_psi_p_value: float | None
    largest_csi: tuple[str, float] | None
    breaches: tuple[str, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class AlertRow:
    """An open (firing) ``monitoring_alerts`` row of the documented version."""

    id: int
    alert: str
    environment: str
    target: str
    severity: str
    value: float | None
    threshold: float | None
    opened_run_id: int
    last_run_id: int
    runbook: str


@dataclass(frozen=True)
class OverrideRow:
    """A row of an overrides table about this version, as stored (any columns)."""

    table: str
    id: Any
    values: Mapping[str, Any]


@dataclass(frozen=True)
class PreviousVersion:
    """The registered version before the documented one (the highest lower number), as much
    of it as "changes since the previous version" compares."""

    version: int
    id: int
    digest: str
    spec_yaml: str
    spec_sha256: str
    data_fingerprint: str
    data_rows: int
    code_commit: str | None
    trainer_sha256: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class DocumentRecords:
    """What the documents of ``ref`` are made of; ``kind`` names this record's shape."""

    ref: ModelRef
    model: ModelView
    version: VersionRow
    spec: ModelSpec | None
    spec_problem: str | None
    runs: tuple[RunRow, ...]
    gates: tuple[GateRow, ...]
    approvals: tuple[ApprovalRow, ...]
    deployments: tuple[DeploymentRow, ...]
    events: tuple[AuditRow, ...]
    overrides: tuple[OverrideRow, ...]
    audit_head: tuple[int, str] | None
    monitoring_runs: tuple[MonitoringRunRow, ...] = ()
    open_alerts: tuple[AlertRow, ...] = ()
    checkpoints: VersionCheckpoints = field(default_factory=lambda: VersionCheckpoints(None))
    previous: PreviousVersion | None = None
    decision_counts: Mapping[str, int] = field(default_factory=dict)
    sealed_batches: int = 0
    findings: tuple[Finding, ...] = ()
    conditions: tuple[ConditionState, ...] = ()
    kind: str = KIND

    @property
    def run(self) -> RunRow | None:
        """The latest validation run, whose gate results are ``gates``."""
        return self.runs[-1] if self.runs else None

    @property
    def override_events(self) -> tuple[AuditRow, ...]:
        """Audit events about this version that record an override."""
        return tuple(e for e in self.events if "override" in e.action)

    def gates_of(self, family: str) -> tuple[GateRow, ...]:
        return tuple(g for g in self.gates if g.family == family)

    @property
    def families(self) -> tuple[str, ...]:
        """Gate families in the order their results were stored."""
        return tuple(dict.fromkeys(g.family for g in self.gates))


_VERSION_COLUMNS = frozenset(
    {"id", "model_name", "version", *VersionRow.__dataclass_fields__} - {"extra"}
)
_GATE_COLUMNS = frozenset({"id", "validation_run_id", *GateRow.__dataclass_fields__} - {"extra"})
_APPROVAL_COLUMNS = frozenset(
    {"id", "model_name", "version", *ApprovalRow.__dataclass_fields__} - {"extra"}
)


def gather_records(ctx: Context, ref: ModelRef) -> DocumentRecords:
    """Read every record the documents of ``ref`` need; NotFoundError if ``ref`` does not exist."""
    with ctx.store.reading() as session:
        row = get_version(session, ref)  # NotFoundError names the latest version
        version = VersionRow(
            id=row.id,
            state=row.state,
            digest=row.digest,
            artifact_uri=row.artifact_uri,
            mlflow_run_id=row.mlflow_run_id,
            flavor=row.flavor,
            data_fingerprint=row.data_fingerprint,
            data_source=row.data_source,
            data_rows=row.data_rows,
            code_commit=row.code_commit,
            code_dirty=row.code_dirty,
            code_diff_sha256=row.code_diff_sha256,
            trainer_sha256=row.trainer_sha256,
            spec_sha256=row.spec_sha256,
            spec_yaml=row.spec_yaml,
            params=dict(row.params),
            metrics=dict(row.metrics),
            packages=dict(row.packages),
            trained_by=row.trained_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            extra=_extra(row, _VERSION_COLUMNS),
        )
        runs = _runs(session, ref)
        gates = _gates(session, runs[-1].id) if runs else ()
        approvals = tuple(
            ApprovalRow(
                id=a.id,
                actor=a.actor,
                role=a.role,
                note=a.note or "",
                created_at=a.created_at,
                findings=getattr(a, "findings", None),
                conditions=getattr(a, "conditions", None),
                decision=getattr(a, "decision", None),
                opinion=getattr(a, "opinion", "") or "",
                extra=_extra(a, _APPROVAL_COLUMNS),
            )
            for a in approvals_of(session, ref)
        )
        deployments = tuple(
            DeploymentRow(
                id=d.id,
                environment=d.environment,
                version=d.version,
                action=d.action,
                previous_version=d.previous_version,
                actor=d.actor,
                reason=d.reason or "",
                created_at=d.created_at,
            )
            for d in history(session, ref.name)
        )
        events = _events(session, ref)
        overrides = _overrides(session, ref, runs[-1].id if runs else None, gates)
        head = session.get(AuditHeadRecord, 1)
        audit_head = (head.seq, head.hash) if head is not None else None
        monitoring_runs = _monitoring_runs(session, ref)
        open_alerts = _open_alerts(session, ref)
        registered = next((e.seq for e in events if e.action == "version.registered"), None)
        checkpoints = version_checkpoints(session, registered)
        previous = _previous(session, ref)
        decision_counts, sealed_batches = _decision_log(session, ref)
        findings = tuple(findings_of(session, ref.name, ref.version))
        conditions = tuple(ConditionState.of(c) for c in conditions_of(session, ref))
    spec: ModelSpec | None = None
    problem: str | None = None
    try:
        spec = parse_spec(version.spec_yaml, source=f"the spec recorded with {ref}").spec
    except SpecError as error:
        problem = str(error)
    return DocumentRecords(
        ref=ref,
        model=describe_model(ctx, ref.name),
        version=version,
        spec=spec,
        spec_problem=problem,
        runs=runs,
        gates=gates,
        approvals=approvals,
        deployments=deployments,
        events=events,
        overrides=overrides,
        audit_head=audit_head,
        monitoring_runs=monitoring_runs,
        open_alerts=open_alerts,
        checkpoints=checkpoints,
        findings=findings,
        conditions=conditions,
        previous=previous,
        decision_counts=decision_counts,
        sealed_batches=sealed_batches,
    )


def _decision_log(session: Session, ref: ModelRef) -> tuple[dict[str, int], int]:
    """The version's logged decisions counted by outcome, and how many sealed batches hold
    them (each batch's Merkle root is in the audit chain)."""
    mine = and_(DecisionRecord.model_name == ref.name, DecisionRecord.version == ref.version)
    counts = {
        str(decision): int(n)
        for decision, n in session.execute(
            select(DecisionRecord.decision, func.count())
            .where(mine)
            .group_by(DecisionRecord.decision)
        )
    }
    batches = session.scalar(
        select(func.count(func.distinct(DecisionRecord.batch_id))).where(
            mine, DecisionRecord.batch_id.is_not(None)
        )
    )
    return counts, int(batches or 0)


def _previous(session: Session, ref: ModelRef) -> PreviousVersion | None:
    row = session.scalars(
        select(ModelVersionRecord)
        .where(ModelVersionRecord.model_name == ref.name, ModelVersionRecord.version < ref.version)
        .order_by(ModelVersionRecord.version.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return PreviousVersion(
        version=row.version,
        id=row.id,
        digest=row.digest,
        spec_yaml=row.spec_yaml,
        spec_sha256=row.spec_sha256,
        data_fingerprint=row.data_fingerprint,
        data_rows=row.data_rows,
        code_commit=row.code_commit,
        trainer_sha256=row.trainer_sha256,
        params=dict(row.params),
    )


MONITORING_RUNS_SCANNED = 500  # the latest runs of the model looked at for each environment


def _monitoring_runs(session: Session, ref: ModelRef) -> tuple[MonitoringRunRow, ...]:
    """Per environment, the latest monitoring run whose window held ``ref``'s decisions."""
    rows = session.scalars(
        select(MonitoringRunRecord)
        .where(MonitoringRunRecord.model_name == ref.name)
        .order_by(MonitoringRunRecord.id.desc())
        .limit(MONITORING_RUNS_SCANNED)
    )
    latest: dict[str, MonitoringRunRow] = {}
    for run in rows:
        if run.environment in latest:
            continue
        results: Mapping[str, Any] = run.results
        mine = [v for v in results.get("versions", []) if v.get("version") == ref.version]
        if not mine:
            continue
        entry = mine[0]
        score = entry.get("score") or {}
        csi = [(f["name"], f["psi"]) for f in entry.get("features", []) if f.get("psi") is not None]
        breaches = sorted(
            f"{f['alert']} on {f['target']} ({f['severity']})"
            for f in results.get("findings", [])
            if f.get("version") == ref.version and f.get("breach")
        )
        latest[run.environment] = MonitoringRunRow(
            id=run.id,
            environment=run.environment,
            window_start=run.window_start,
            window_end=run.window_end,
            created_at=run.created_at,
            results_sha256=run.results_sha256,
            audit_seq=run.audit_seq,
            decisions=int(entry.get("n", 0)),
            profile_sha256=entry.get("profile_sha256"),
            score_psi=score.get("psi"),
            score_psi_p_value=score.get("psi_p_value"),
            largest_csi=max(csi, key=lambda c: c[1]) if csi else None,
            breaches=tuple(breaches),
            notes=tuple(entry.get("notes", [])),
        )
    return tuple(sorted(latest.values(), key=lambda r: r.environment))


def _open_alerts(session: Session, ref: ModelRef) -> tuple[AlertRow, ...]:
    rows = session.scalars(
        select(MonitoringAlertRecord)
        .where(
            MonitoringAlertRecord.model_name == ref.name,
            MonitoringAlertRecord.version == ref.version,
            MonitoringAlertRecord.status == "firing",
        )
        .order_by(MonitoringAlertRecord.id)
    )
    return tuple(
        AlertRow(
            id=a.id,
            alert=a.alert,
            environment=a.environment,
            target=a.target,
            severity=a.severity,
            value=a.value,
            threshold=a.threshold,
            opened_run_id=a.opened_run_id,
            last_run_id=a.last_run_id,
            runbook=a.runbook,
        )
        for a in rows
    )


def _runs(session: Session, ref: ModelRef) -> tuple[RunRow, ...]:
    rows = session.execute(
        select(ValidationRunRecord)
        .where(
            ValidationRunRecord.model_name == ref.name, ValidationRunRecord.version == ref.version
        )
        .order_by(ValidationRunRecord.id)
    ).scalars()
    return tuple(
        RunRow(
            id=r.id,
            run_by=r.run_by,
            passed=r.passed,
            champion_version=r.champion_version,
            created_at=r.created_at,
        )
        for r in rows
    )


def _gates(session: Session, run_id: int) -> tuple[GateRow, ...]:
    rows = session.execute(
        select(GateResultRecord)
        .where(GateResultRecord.validation_run_id == run_id)
        .order_by(GateResultRecord.id)
    ).scalars()
    return tuple(
        GateRow(
            id=g.id,
            gate=g.gate,
            kind=g.kind,
            metric=g.metric,
            value=g.value,
            threshold=g.threshold,
            comparison=g.comparison,
            severity=g.severity,
            passed=g.passed,
            evidence=dict(g.evidence or {}),
            extra=_extra(g, _GATE_COLUMNS),
        )
        for g in rows
    )


def _events(session: Session, ref: ModelRef) -> tuple[AuditRow, ...]:
    rows = session.execute(
        select(AuditEventRecord)
        .where(AuditEventRecord.object_id == str(ref))
        .order_by(AuditEventRecord.seq)
    ).scalars()
    events = []
    for e in rows:
        try:
            payload = json.loads(e.payload)
        except ValueError:
            payload = {"text": e.payload}
        events.append(
            AuditRow(
                seq=e.seq,
                occurred_at=e.occurred_at,
                actor=e.actor,
                role=e.role,
                action=e.action,
                object_id=e.object_id,
                payload=payload if isinstance(payload, dict) else {"value": payload},
                hash=e.hash,
            )
        )
    return tuple(events)


def _overrides(
    session: Session, ref: ModelRef, run_id: int | None, gates: tuple[GateRow, ...]
) -> tuple[OverrideRow, ...]:
    """Rows about ``ref`` in any table whose name mentions overrides (added by a later
    migration), linked by model and version, by validation run or by gate result; none while no
    such table exists."""
    found: list[OverrideRow] = []
    for name, table in sorted(Base.metadata.tables.items()):
        if "override" not in name:
            continue
        condition = _about(table, ref, run_id, gates)
        if condition is None:
            continue
        for mapping in session.execute(select(table).where(condition)).mappings():
            values = dict(mapping)
            found.append(OverrideRow(table=name, id=values.get("id"), values=values))
    return tuple(found)


def _about(
    table: Table, ref: ModelRef, run_id: int | None, gates: tuple[GateRow, ...]
) -> ColumnElement[bool] | None:
    columns = table.c
    if "model_name" in columns and "version" in columns:
        condition = and_(columns.model_name == ref.name, columns.version == ref.version)
        if "validation_run_id" in columns and run_id is not None:
            condition = and_(condition, columns.validation_run_id == run_id)
        return condition
    if "gate_result_id" in columns:
        return columns.gate_result_id.in_([g.id for g in gates])
    if "validation_run_id" in columns and run_id is not None:
        return columns.validation_run_id == run_id
    return None


def cite(table: str, ids: Iterable[int], *, mark: str = "#") -> str:
    """Name stored rows: ``cite("gate_results", [7, 8, 9, 12])`` → ``gate_results #7–#9, #12``."""
    numbers = sorted(set(ids))
    if not numbers:
        return ""
    spans: list[str] = []
    start = previous = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == previous + 1:
            previous = n
            continue
        spans.append(f"{mark}{start}" if start == previous else f"{mark}{start}–{mark}{previous}")
        if n is not None:
            start = previous = n
    return f"{table} {', '.join(spans)}"
