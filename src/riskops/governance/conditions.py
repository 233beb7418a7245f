"""Conditions of approval that the platform enforces.

A signer attaches conditions to a sign-off (:func:`riskops.governance.approvals.approve`). Each
has a ``kind`` that says how it is met, and is ``blocking`` or not: while a blocking condition
of a version is open, deploying that version to production is refused
(:func:`require_met`, called by :func:`riskops.governance.deployments.deploy`).

================  ==================================================================================
kind              met when
================  ==================================================================================
monitoring_live   "monitoring live before production": a monitoring run of the model in production
                  (``riskops monitor run MODEL --env production``) is recorded after the condition
                  was set — the monitoring job is wired up and runs there, even before the first
                  decision. Checked at deployment, and closed then with the run as evidence.
manual            a validator or risk officer closes it with written evidence
                  (``riskops condition close ID --evidence TEXT --as NAME``)
================  ==================================================================================

Free-text conditions (``--condition TEXT``) are ``manual`` and not blocking: recorded and shown,
never enforced. Setting and closing a condition are audit events (``condition.set``,
``condition.satisfied``).

Example::

    approve(ctx, ref, actor="victor", opinion="...",
            conditions=[Condition.monitoring_live(), Condition("Refer band reviewed", blocking=True)])
    deploy(ctx, ref, environment="production", actor="oscar")   # ConflictError while open
    close_condition(ctx, 2, evidence="Refer band reviewed on 2026-12-09, memo 14", actor="rita")
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.audit import record
from riskops.config import Role
from riskops.context import Context
from riskops.errors import ConflictError, InputError, NotFoundError
from riskops.governance.roles import require_actor, require_role
from riskops.registry.versions import ModelRef
from riskops.store.tables import ApprovalConditionRecord, MonitoringRunRecord

Kind = Literal["monitoring_live", "manual"]
KINDS: tuple[str, ...] = get_args(Kind)
PRODUCTION = "production"
"""The environment that blocking conditions guard."""
MIN_EVIDENCE = 10


@dataclass(frozen=True)
class Condition:
    """A condition as a signer states it, before it is recorded."""

    text: str
    blocking: bool = False
    kind: Kind = "manual"

    @classmethod
    def monitoring_live(cls, text: str = "") -> Condition:
        """The blocking condition "monitoring live before production"."""
        return cls(
            text=text.strip()
            or "Monitoring live before production: a monitoring run of the "
            "model in production is recorded before it is deployed there.",
            blocking=True,
            kind="monitoring_live",
        )


@dataclass(frozen=True)
class ConditionState:
    """A recorded condition and where it stands."""

    kind_id: ClassVar[str] = "riskops.condition@1"

    id: int
    ref: ModelRef
    kind: str
    text: str
    blocking: bool
    status: str
    set_by: str
    at: datetime
    closed_by: str | None = None
    evidence: str | None = None
    closed_at: datetime | None = None

    @classmethod
    def of(cls, row: ApprovalConditionRecord) -> ConditionState:
        return cls(
            id=row.id,
            ref=ModelRef(row.model_name, row.version),
            kind=row.kind,
            text=row.text,
            blocking=row.blocking,
            status=row.status,
            set_by=row.set_by,
            at=row.created_at,
            closed_by=row.closed_by,
            evidence=row.evidence,
            closed_at=row.closed_at,
        )

    @property
    def how_to_meet(self) -> str:
        if self.kind == "monitoring_live":
            return (
                f"start monitoring {self.ref.name} in production: riskops monitor run "
                f"{self.ref.name} --env production"
            )
        return (
            f'close it with evidence: riskops condition close {self.id} --evidence "..." '
            "--as <validator or risk officer>"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind_id": self.kind_id,
            "id": self.id,
            "model": str(self.ref),
            "kind": self.kind,
            "text": self.text,
            "blocking": self.blocking,
            "status": self.status,
            "set_by": self.set_by,
            "at": self.at.isoformat(),
            "closed_by": self.closed_by,
            "evidence": self.evidence,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
        }


def clean(conditions: object) -> tuple[Condition, ...]:
    """Signers' conditions as :class:`Condition`: a text is a non-blocking manual one."""
    if isinstance(conditions, str | Condition):
        conditions = [conditions]
    if not isinstance(conditions, list | tuple):
        raise InputError(f"Conditions are a list of texts or Condition, not {conditions!r}.")
    cleaned: list[Condition] = []
    for item in conditions:
        c = Condition(item) if isinstance(item, str) else item
        if not isinstance(c, Condition) or not c.text.strip():
            raise InputError(
                "A sign-off condition is empty.",
                hint='Give each condition as text, e.g. --condition "monitor PSI monthly".',
            )
        if c.kind not in KINDS:
            raise InputError(
                f"Unknown condition kind {c.kind!r}; the kinds are: {', '.join(KINDS)}.",
                hint="--require monitoring_live, or --blocking-condition TEXT for a manual one.",
            )
        cleaned.append(Condition(c.text.strip(), c.blocking, c.kind))
    return tuple(cleaned)


def add_conditions(
    session: Session,
    ref: ModelRef,
    approval_id: int,
    conditions: tuple[Condition, ...],
    *,
    actor: str,
    role: Role,
    at: datetime,
) -> list[ApprovalConditionRecord]:
    """Record ``conditions`` of the sign-off ``approval_id``, one audit event each."""
    rows = []
    for c in conditions:
        row = ApprovalConditionRecord(
            approval_id=approval_id,
            model_name=ref.name,
            version=ref.version,
            kind=c.kind,
            text=c.text,
            blocking=c.blocking,
            status="open",
            set_by=actor,
            created_at=at,
        )
        session.add(row)
        session.flush()
        record(
            session,
            actor=actor,
            role=role.value,
            action="condition.set",
            object_type="model_version",
            object_id=str(ref),
            payload={
                "condition_id": row.id,
                "approval_id": approval_id,
                "kind": c.kind,
                "text": c.text,
                "blocking": c.blocking,
            },
            at=at,
        )
        rows.append(row)
    return rows


def conditions_of(session: Session, ref: ModelRef) -> list[ApprovalConditionRecord]:
    """Every condition set on ``ref``, oldest first."""
    return list(
        session.execute(
            select(ApprovalConditionRecord)
            .where(
                ApprovalConditionRecord.model_name == ref.name,
                ApprovalConditionRecord.version == ref.version,
            )
            .order_by(ApprovalConditionRecord.id)
        ).scalars()
    )


def list_conditions(ctx: Context, ref: ModelRef) -> list[ConditionState]:
    """The conditions of ``ref`` (:func:`conditions_of`) as records."""
    with ctx.store.reading() as session:
        return [ConditionState.of(r) for r in conditions_of(session, ref)]


def monitoring_run_since(
    session: Session, model: str, environment: str, since: datetime
) -> MonitoringRunRecord | None:
    """The newest monitoring run of ``model`` in ``environment`` recorded at or after
    ``since``: the evidence that monitoring is live there."""
    return session.execute(
        select(MonitoringRunRecord)
        .where(
            MonitoringRunRecord.model_name == model,
            MonitoringRunRecord.environment == environment,
            MonitoringRunRecord.created_at >= since,
        )
        .order_by(MonitoringRunRecord.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def require_met(
    session: Session, ref: ModelRef, environment: str, *, actor: str, role: Role, at: datetime
) -> None:
    """Refuse deploying ``ref`` to production while a blocking condition of it is open.

    A ``monitoring_live`` condition whose evidence now exists is closed here, in the deploying
    transaction, with the monitoring run as its evidence."""
    if environment != PRODUCTION:
        return
    still: list[ApprovalConditionRecord] = []
    for row in conditions_of(session, ref):
        if row.status != "open" or not row.blocking:
            continue
        if row.kind == "monitoring_live":
            run = monitoring_run_since(session, ref.name, PRODUCTION, row.created_at)
            if run is not None:
                _close(
                    session,
                    row,
                    evidence=f"monitoring run {run.id} of {ref.name} in {PRODUCTION} at "
                    f"{run.created_at:%Y-%m-%d %H:%M:%S} UTC (results {run.results_sha256})",
                    actor=actor,
                    role=role,
                    at=at,
                )
                continue
        still.append(row)
    if still:
        states = [ConditionState.of(r) for r in still]
        listed = "; ".join(f"#{s.id} {s.kind} ({s.text})" for s in states)
        raise ConflictError(
            f"Cannot deploy {ref} to {PRODUCTION}: {len(states)} blocking condition(s) of its "
            f"approval still open: {listed}.",
            model_ref=str(ref),
            hint="To meet them: " + "; ".join(f"#{s.id}: {s.how_to_meet}" for s in states),
        )


def close_condition(
    ctx: Context, condition_id: int, *, evidence: str, actor: str | None
) -> ConditionState:
    """Close the open condition ``condition_id`` with written ``evidence`` (a validator or a
    risk officer). A ``monitoring_live`` condition closes only once monitoring is live."""
    who = require_actor(actor)
    text = " ".join(evidence.split())
    if len(text) < MIN_EVIDENCE:
        raise InputError(
            f"Closing condition #{condition_id} needs written evidence of at least "
            f"{MIN_EVIDENCE} characters; it is recorded and shown in the documents.",
            hint=f'riskops condition close {condition_id} --evidence "what shows it is met" '
            f"--as {who}",
        )
    role = require_role(
        ctx.settings,
        who,
        Role.VALIDATOR,
        Role.RISK_OFFICER,
        doing=f"close condition #{condition_id}",
    )
    with ctx.store.transaction() as session:
        row = session.get(ApprovalConditionRecord, condition_id, with_for_update=True)
        if row is None:
            raise NotFoundError(
                f"No condition #{condition_id}.",
                hint="riskops show MODEL@VERSION lists a version's conditions with their ids.",
            )
        ref = ModelRef(row.model_name, row.version)
        if row.status != "open":
            raise ConflictError(
                f"Condition #{condition_id} of {ref} is already {row.status} (by "
                f"{row.closed_by}: {row.evidence}).",
                model_ref=str(ref),
            )
        if row.kind == "monitoring_live":
            run = monitoring_run_since(session, ref.name, PRODUCTION, row.created_at)
            if run is None:
                raise ConflictError(
                    f"Condition #{condition_id} of {ref} is 'monitoring live before "
                    f"production', and no monitoring run of {ref.name} in {PRODUCTION} is "
                    "recorded since it was set.",
                    model_ref=str(ref),
                    hint=f"riskops monitor run {ref.name} --env {PRODUCTION}",
                )
            text = f"{text} (monitoring run {run.id})"
        _close(session, row, evidence=text, actor=who, role=role, at=ctx.clock())
        return ConditionState.of(row)


def _close(
    session: Session,
    row: ApprovalConditionRecord,
    *,
    evidence: str,
    actor: str,
    role: Role,
    at: datetime,
) -> None:
    row.status = "satisfied"
    row.closed_by = actor
    row.evidence = evidence
    row.closed_at = at
    record(
        session,
        actor=actor,
        role=role.value,
        action="condition.satisfied",
        object_type="model_version",
        object_id=f"{row.model_name}@{row.version}",
        payload={
            "condition_id": row.id,
            "kind": row.kind,
            "text": row.text,
            "blocking": row.blocking,
            "evidence": evidence,
        },
        at=at,
    )
