"""SQLAlchemy 2 tables of the riskops store. Alembic migrations in ``migrations/`` create them.

Times are stored as timezone-aware UTC; the audit chain's own time is the exact ISO text that
was hashed (see ``docs/audit-chain.md``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("riskops stores only timezone-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UTCDateTime}


class ModelRecord(Base):
    """A model in the inventory: one row per model name, refreshed from its spec on training."""

    __tablename__ = "models"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    risk_tier: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str] = mapped_column(String(200))
    intended_use: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ModelVersionRecord(Base):
    """One trained version: lineage, digest and lifecycle state."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_name", "version", name="uq_model_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(100), ForeignKey("models.name"))
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))
    digest: Mapped[str] = mapped_column(String(71))
    artifact_uri: Mapped[str] = mapped_column(Text)
    mlflow_run_id: Mapped[str] = mapped_column(String(64))
    flavor: Mapped[str] = mapped_column(String(40))
    data_fingerprint: Mapped[str] = mapped_column(String(71))
    data_source: Mapped[str] = mapped_column(Text)
    data_rows: Mapped[int] = mapped_column(Integer)
    code_commit: Mapped[str | None] = mapped_column(String(64))
    code_dirty: Mapped[bool] = mapped_column(Boolean)
    code_diff_sha256: Mapped[str | None] = mapped_column(String(71))
    trainer_sha256: Mapped[str] = mapped_column(String(71))
    spec_sha256: Mapped[str] = mapped_column(String(71))
    spec_yaml: Mapped[str] = mapped_column(Text)
    # Where the spec file was when the version was trained; its folder holds the trainer.
    spec_path: Mapped[str | None] = mapped_column(Text, default=None)
    params: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    packages: Mapped[dict[str, Any]]
    trained_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ValidationRunRecord(Base):
    """One run of the gate suite on a version."""

    __tablename__ = "validation_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    run_by: Mapped[str] = mapped_column(String(100))
    passed: Mapped[bool] = mapped_column(Boolean)
    champion_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


class GateResultRecord(Base):
    """The result of one gate in a validation run, with its evidence."""

    __tablename__ = "gate_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    validation_run_id: Mapped[int] = mapped_column(ForeignKey("validation_runs.id"))
    gate: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(80))
    metric: Mapped[str] = mapped_column(String(60))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    comparison: Mapped[str] = mapped_column(String(4))
    severity: Mapped[str] = mapped_column(String(20))
    passed: Mapped[bool] = mapped_column(Boolean)
    evidence: Mapped[dict[str, Any]]


class ApprovalRecord(Base):
    """A sign-off on a version by a validator or a risk officer: its decision ("approve" or
    "reject"), the findings, and the conditions attached to it (e.g. "monitor PSI monthly")."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    findings: Mapped[str] = mapped_column(Text, default="", server_default="")
    conditions: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    decision: Mapped[str] = mapped_column(String(10), default="approve", server_default="approve")
    # The validator's written opinion; required when a gate of the version failed or was
    # overridden (``riskops.governance.approvals``).
    opinion: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime]


class ApprovalConditionRecord(Base):
    """A condition attached to a sign-off. A blocking one stops deployment to production while
    it is open; ``kind`` says how it is met (``monitoring_live``: a monitoring run of the model
    in production; ``manual``: a person closes it with evidence)."""

    __tablename__ = "approval_conditions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    approval_id: Mapped[int] = mapped_column(ForeignKey("approvals.id"))
    model_name: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    blocking: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))  # open | satisfied
    set_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    closed_by: Mapped[str | None] = mapped_column(String(100))
    evidence: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None]


class FindingRecord(Base):
    """A validator's finding on a version: what is wrong, how severe, who owns the fix and by
    when, and where it stands. Each change of status adds a :class:`FindingUpdateRecord`."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    gate: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(10))
    owner: Mapped[str] = mapped_column(String(100))
    due: Mapped[str] = mapped_column(String(10))  # ISO date, YYYY-MM-DD
    status: Mapped[str] = mapped_column(String(20))
    raised_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FindingUpdateRecord(Base):
    """One step of a finding's history (raised, remediated, accepted, closed, reopened), with
    who took it and their note. Append-only: triggers refuse UPDATE and DELETE."""

    __tablename__ = "finding_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]


class GateOverrideRecord(Base):
    """A risk officer's written override of one failed blocking gate of a validation run."""

    __tablename__ = "gate_overrides"
    __table_args__ = (
        UniqueConstraint("validation_run_id", "gate", name="uq_gate_override_run_gate"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    # Wider than gate_results.gate: names such as "monotonicity.<feature>" can be long.
    gate: Mapped[str] = mapped_column(String(200))
    validation_run_id: Mapped[int] = mapped_column(ForeignKey("validation_runs.id"))
    actor: Mapped[str] = mapped_column(String(100))
    justification: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class DeploymentRecord(Base):
    """An append-only history of what version served in which environment, and from when."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(100))
    environment: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    previous_version: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    # How the version serves: "full" (answers every request), "canary" (answers `share` of
    # subjects, sticky by subject) or "shadow" (scored and logged, never returned).
    mode: Mapped[str] = mapped_column(String(10), default="full", server_default="full")
    share: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime]


class DecisionRecord(Base):
    """One decision as served (or shadow-scored): what was decided, by which version, why.

    The subject appears only as a keyed pseudonym; the request's features only encrypted with
    the subject's own key (``subject_keys``), so deleting that key erases them.
    """

    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    decided_at: Mapped[datetime] = mapped_column(index=True)
    model_name: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(71))
    route: Mapped[str] = mapped_column(String(10))
    served: Mapped[bool] = mapped_column(Boolean)
    subject: Mapped[str] = mapped_column(String(64), index=True)
    score: Mapped[float | None] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(10))
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    latency_ms: Mapped[float] = mapped_column(Float)
    fallback: Mapped[bool] = mapped_column(Boolean)
    request_sha256: Mapped[str] = mapped_column(String(64))
    features_nonce: Mapped[bytes | None] = mapped_column(LargeBinary)
    features_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("decision_batches.id"))
    client: Mapped[str | None] = mapped_column(String(100), index=True)
    environment: Mapped[str | None] = mapped_column(String(40))


class DecisionBatchRecord(Base):
    """A batch of decisions flushed together; its Merkle root is sealed in the audit chain."""

    __tablename__ = "decision_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    merkle_root: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    first_decided_at: Mapped[datetime]
    last_decided_at: Mapped[datetime]
    audit_seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class MonitoringAggregateRecord(Base):
    """What one sealed batch adds to one monitoring window: per (model, version, environment,
    hour, segment) the decisions' counts over the version's frozen reference bins, mergeable
    moments, decision counts per outcome, fallbacks and a latency histogram. Counts only: no
    decision id, no subject, no feature value, no category text outside the spec's list. Rows
    merge by addition across batches, hours and replicas (:mod:`riskops.decisions.aggregates`).
    """

    __tablename__ = "monitoring_aggregates"
    __table_args__ = (
        UniqueConstraint(
            "batch_id",
            "model_name",
            "version",
            "environment",
            "hour",
            "segment",
            name="uq_monitoring_aggregate",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("decision_batches.id"))
    model_name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    environment: Mapped[str] = mapped_column(String(40))
    hour: Mapped[datetime] = mapped_column(index=True)
    segment: Mapped[str] = mapped_column(String(100))
    n: Mapped[int] = mapped_column(Integer)
    # The reference profile the counts are over ("sha256:…"); None: no profile, no counts.
    profile_sha256: Mapped[str | None] = mapped_column(String(71))
    counts: Mapped[bytes | None] = mapped_column(LargeBinary)  # int64 little-endian, zlib
    counts_shape: Mapped[list[int] | None] = mapped_column(JSON)
    moments: Mapped[bytes | None] = mapped_column(LargeBinary)  # float64 little-endian (F+1, 5)
    outcomes: Mapped[dict[str, Any]]
    fallbacks: Mapped[int] = mapped_column(Integer)
    latency: Mapped[list[int]] = mapped_column(JSON)  # counts over LATENCY_BUCKETS_MS


class MonitoringRunRecord(Base):
    """One monitoring run over a window; the sha256 of its results is sealed in the audit
    chain (action ``monitoring.run``)."""

    __tablename__ = "monitoring_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(100), index=True)
    environment: Mapped[str] = mapped_column(String(40))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    results: Mapped[dict[str, Any]]
    results_sha256: Mapped[str] = mapped_column(String(71))
    audit_seq: Mapped[int] = mapped_column(Integer)
    run_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class MonitoringAlertRecord(Base):
    """An alert of a monitoring rule on one target (a feature, the score, an outcome): open
    (``firing``) from the run that raised it until a run finds it back within bounds."""

    __tablename__ = "monitoring_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    alert: Mapped[str] = mapped_column(String(60))
    model_name: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    environment: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    summary: Mapped[str] = mapped_column(Text)
    runbook: Mapped[str] = mapped_column(String(200))
    opened_run_id: Mapped[int] = mapped_column(ForeignKey("monitoring_runs.id"))
    last_run_id: Mapped[int] = mapped_column(ForeignKey("monitoring_runs.id"))
    resolved_run_id: Mapped[int | None] = mapped_column(ForeignKey("monitoring_runs.id"))
    started_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class SubjectKeyRecord(Base):
    """A data subject's encryption key, itself encrypted with the workspace's key. Deleting
    the row crypto-shreds every logged feature of that subject (GDPR Art. 17)."""

    __tablename__ = "subject_keys"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class LabelRecord(Base):
    """The observed outcome of one decision, sealed under the subject's key like the decision's
    features: erasing the subject (deleting the key) makes the label unreadable. Only what
    names no outcome is in the clear: which decision, model and version, and how often the
    label was replaced (a relabel: the last one ingested wins)."""

    __tablename__ = "labels"

    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.id"), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(64), index=True)
    label_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    label_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    relabels: Mapped[int] = mapped_column(Integer, default=0)
    ingested_at: Mapped[datetime]


class PerformanceCellRecord(Base):
    """Outcome counts of one cell: (model, version, environment, cohort month of the decision,
    whole months from decision to label, the decision's outcome, score bin on the fixed grid of
    100 equal-width bins on [0, 1]). Sums that name no one, added to as labels arrive, from
    which AUC, KS, calibration and the vintage matrix are computed exactly for the binned
    score (``riskops.monitoring.performance``)."""

    __tablename__ = "performance_cells"
    __table_args__ = (
        UniqueConstraint(
            "model_name",
            "version",
            "environment",
            "cohort",
            "months_since",
            "outcome",
            "score_bin",
            name="uq_performance_cell",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    # "" while decisions do not record the environment they were made in.
    environment: Mapped[str] = mapped_column(String(40))
    cohort: Mapped[str] = mapped_column(String(7))  # "YYYY-MM" of the decision, UTC
    months_since: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(10))
    score_bin: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer)
    positives: Mapped[int] = mapped_column(Integer)
    sum_p: Mapped[float] = mapped_column(Float)
    sum_p2: Mapped[float] = mapped_column(Float)


class WorkspaceRecord(Base):
    """A fact about the workspace that every process on this store must agree on, such as the
    fingerprint of the workspace secret (never the secret)."""

    __tablename__ = "workspace"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime]


class ApiKeyRecord(Base):
    """An API key for the scoring service: only its SHA-256 is stored, with its scopes."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    client: Mapped[str] = mapped_column(String(100), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AuditEventRecord(Base):
    """One event of the audit hash chain. Append-only: PostgreSQL and SQLite triggers refuse
    UPDATE and DELETE."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    occurred_at: Mapped[str] = mapped_column(String(32), index=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    role: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(200), index=True)
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHeadRecord(Base):
    """The chain's head (last sequence number and hash); one row, id 1. It makes a truncated
    chain detectable, and serialises concurrent appends."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class AuditTreeNode(Base):
    """A perfect subtree of the RFC 6962 Merkle log over the audit events: ``level`` 0 are the
    leaf hashes (leaf ``idx`` is event ``seq = idx + 1``), level ``k`` node ``idx`` covers leaves
    ``[idx·2^k, (idx+1)·2^k)``. Filled by the checkpointer, never by the appender; proofs are
    read from it in O(log n) lookups. A tampered node only makes a proof fail against a signed
    checkpoint: it is a cache, not a source of trust."""

    __tablename__ = "audit_tree"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpointRecord(Base):
    """A signed checkpoint (C2SP tlog-checkpoint as an Ed25519 signed note) over the first
    ``size`` events, with the log's compact range (``frontier``: the roots of the perfect
    subtrees left to right, hex) from which the next checkpoint continues, and which anchors
    took it. A local record only: ``riskops audit verify`` trusts checkpoints read back from
    the anchors, never this table."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer, index=True)
    root: Mapped[str] = mapped_column(String(64))
    frontier: Mapped[list[str]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(40))
    anchored: Mapped[list[str]] = mapped_column(JSON)
    failures: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime]


def table_of(record: type[Base]) -> Table:
    """The Core table of a mapped record class: for multi-row inserts that skip the ORM's
    unit of work, and for selecting columns by name."""
    return cast(Table, record.__table__)
