"""Sign-off of a validated version: first an independent validator, then a risk officer.

Each sign-off is a decision, ``approve`` or ``reject``, with the signer's findings and the
conditions attached to an approval (e.g. "monitor PSI monthly"). A validator rejects at their
sign-off; a risk officer may reject a validated version at any point before it is approved.
A person's rejection is final: train and validate a new version.

Effective challenge: the validator's sign-off needs a written ``opinion`` when a gate of the
version's latest validation run failed (advisory ones included) or was overridden. Conditions
may be free text (recorded, not enforced) or :class:`~riskops.governance.conditions.Condition`
with a kind; a blocking one stops deployment to production until it is met
(:mod:`riskops.governance.conditions`).

Separation of duties (SR 26-2 / SR 11-7 effective challenge, PRA SS1/23): whoever trained a
version cannot sign it off, and the validator who signed it off cannot also give the final
approval. Each sign-off is a stored record and an audit event in one transaction.

Example::

    approve(ctx, ref, actor="victor", findings="AUC stable out of time",
            opinion="Fit for use; the two fairness failures are tracked as findings 1 and 2.",
            conditions=["monitor PSI monthly", Condition.monitoring_live()])
    approve(ctx, ref, actor="rita")          # approved
    reject(ctx, other, actor="rita", reason="Reason codes are not specific enough.")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.audit import record
from riskops.config import Role
from riskops.context import Context
from riskops.errors import ConflictError, InputError, PermissionDeniedError
from riskops.governance.conditions import Condition, add_conditions, clean
from riskops.governance.lifecycle import State, move
from riskops.governance.roles import require_actor, require_role
from riskops.registry.versions import ModelRef, get_version
from riskops.store.tables import (
    ApprovalRecord,
    GateOverrideRecord,
    GateResultRecord,
    ModelVersionRecord,
    ValidationRunRecord,
)

Decision = Literal["approve", "reject"]
DECISIONS: tuple[Decision, ...] = ("approve", "reject")


@dataclass(frozen=True)
class SignOff:
    """One recorded sign-off decision and the state it left the version in."""

    ref: ModelRef
    actor: str
    role: Role
    state: State
    next_step: str | None
    decision: Decision = "approve"
    findings: str = ""
    conditions: tuple[str, ...] = field(default_factory=tuple)
    opinion: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "model": str(self.ref),
            "actor": self.actor,
            "role": self.role.value,
            "decision": self.decision,
            "findings": self.findings,
            "conditions": list(self.conditions),
            "opinion": self.opinion,
            "state": self.state.value,
            "next_step": self.next_step,
        }


def approvals_of(session: Session, ref: ModelRef) -> list[ApprovalRecord]:
    """Every sign-off of ``ref`` (approvals and rejections), oldest first."""
    return list(
        session.execute(
            select(ApprovalRecord)
            .where(ApprovalRecord.model_name == ref.name, ApprovalRecord.version == ref.version)
            .order_by(ApprovalRecord.id)
        ).scalars()
    )


def rejection_by_person(session: Session, ref: ModelRef) -> ApprovalRecord | None:
    """The sign-off that rejected ``ref``, if a person (not its gates) rejected it."""
    return next((a for a in approvals_of(session, ref) if a.decision == "reject"), None)


def approve(
    ctx: Context,
    ref: ModelRef,
    *,
    actor: str | None,
    note: str = "",
    findings: str = "",
    conditions: Sequence[str | Condition] = (),
    decision: Decision = "approve",
    opinion: str = "",
) -> SignOff:
    """Record the next sign-off that ``ref`` needs, by ``actor``.

    The validator's sign-off needs ``opinion`` when a gate failed or was overridden
    (:func:`challenged_gates`).

    With ``decision="reject"`` the signer rejects instead (``findings`` say why); see
    :func:`reject`.
    """
    who = require_actor(actor)
    if decision not in DECISIONS:
        raise InputError(
            f"Unknown sign-off decision {decision!r}; it is one of: {', '.join(DECISIONS)}.",
            hint=f"riskops approve {ref} --as NAME, or riskops reject {ref} --reason TEXT --as NAME",
        )
    if decision == "reject":
        if not findings.strip():
            raise InputError(
                f"A rejection of {ref} must state its findings.",
                hint=f'riskops reject {ref} --reason "what is wrong" --as {who}',
            )
        return reject(ctx, ref, actor=who, reason=note.strip() or findings, findings=findings)
    cleaned = clean(conditions)
    opinion = opinion.strip()
    with ctx.store.transaction() as session:
        version = get_version(session, ref, for_update=True)
        _require_validated(session, version, ref, doing="approve")
        existing = approvals_of(session, ref)
        validator_signoff = _validator_signoff(existing)
        if validator_signoff is None:
            held = ctx.settings.people.get(who, frozenset())
            if Role.VALIDATOR not in held and Role.RISK_OFFICER in held:
                raise ConflictError(
                    f"{ref} still needs an independent validator's sign-off before a risk "
                    "officer can approve it.",
                    model_ref=str(ref),
                    hint=f"riskops approve {ref} --as <validator>",
                )
            role = require_role(ctx.settings, who, Role.VALIDATOR, doing=f"sign off {ref}")
            _not_trainer(who, version.trained_by, ref, doing="sign it off")
            challenged = challenged_gates(session, ref)
            if challenged and not opinion:
                raise InputError(
                    f"{who}'s sign-off of {ref} needs a written opinion: its validation has "
                    f"{len(challenged)} gate(s) failed or overridden ({', '.join(challenged)}).",
                    hint=f'riskops approve {ref} --opinion "why the model is fit for use '
                    'despite them, and what must follow" --as ' + who,
                )
            next_step: str | None = f"riskops approve {ref} --as <risk officer>"
            action = "version.signed_off"
        else:
            role = require_role(
                ctx.settings, who, Role.RISK_OFFICER, doing=f"give the final approval of {ref}"
            )
            _not_trainer(who, version.trained_by, ref, doing="sign it off")
            if who == validator_signoff.actor:
                raise PermissionDeniedError(
                    f"{who} signed off {ref} as its validator, so cannot also give its final "
                    "approval (separation of duties).",
                    actor=who,
                    model_ref=str(ref),
                    hint=f"Another risk officer must approve: riskops approve {ref} --as <risk officer>",
                )
            ran_gates = session.execute(
                select(ValidationRunRecord.run_by)
                .where(
                    ValidationRunRecord.model_name == ref.name,
                    ValidationRunRecord.version == ref.version,
                )
                .order_by(ValidationRunRecord.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if who == ran_gates:
                raise PermissionDeniedError(
                    f"{who} ran the validation of {ref}, so cannot also give its final approval "
                    "(separation of duties).",
                    actor=who,
                    model_ref=str(ref),
                    hint=f"Another risk officer must approve: riskops approve {ref} --as <risk officer>",
                )
            move(version, State.APPROVED)
            next_step = f"riskops deploy {ref} --env production --as <operator>"
            action = "version.approved"
        _write(
            ctx,
            session,
            version,
            ref,
            actor=who,
            role=role,
            action=action,
            decision="approve",
            note=note,
            findings=findings,
            conditions=cleaned,
            opinion=opinion,
        )
        return SignOff(
            ref=ref,
            actor=who,
            role=role,
            state=State(version.state),
            next_step=next_step,
            decision="approve",
            findings=findings,
            conditions=tuple(c.text for c in cleaned),
            opinion=opinion,
        )


def reject(
    ctx: Context, ref: ModelRef, *, actor: str | None, reason: str, findings: str = ""
) -> SignOff:
    """Reject the validated ``ref``: it becomes ``rejected`` for good.

    A risk officer may reject at any point before the final approval; a validator only at
    their own sign-off (before any validator has signed it off). ``reason`` is required.
    """
    who = require_actor(actor)
    if not reason.strip():
        raise InputError(
            f"A rejection of {ref} needs a reason; it is recorded and shown in the documents.",
            hint=f'riskops reject {ref} --reason "what is wrong and what would fix it" --as {who}',
        )
    require_role(ctx.settings, who, Role.RISK_OFFICER, Role.VALIDATOR, doing=f"reject {ref}")
    with ctx.store.transaction() as session:
        version = get_version(session, ref, for_update=True)
        _require_validated(session, version, ref, doing="reject")
        validator_signoff = _validator_signoff(approvals_of(session, ref))
        held = ctx.settings.people.get(who, frozenset())
        if Role.RISK_OFFICER in held:
            role = Role.RISK_OFFICER
        elif validator_signoff is None:
            role = Role.VALIDATOR
        else:
            raise PermissionDeniedError(
                f"{validator_signoff.actor} has already signed off {ref} as its validator, so "
                f"only a risk officer can reject it now; {who} is a validator.",
                actor=who,
                model_ref=str(ref),
                hint=f'riskops reject {ref} --reason "..." --as <risk officer>',
            )
        _not_trainer(who, version.trained_by, ref, doing="reject it")
        move(version, State.REJECTED)
        _write(
            ctx,
            session,
            version,
            ref,
            actor=who,
            role=role,
            action="version.rejected",
            decision="reject",
            note=reason.strip(),
            findings=findings,
            conditions=(),
        )
        return SignOff(
            ref=ref,
            actor=who,
            role=role,
            state=State.REJECTED,
            next_step=f"Train and validate a new version of {ref.name}: riskops train "
            "<spec> --as <developer>",
            decision="reject",
            findings=findings,
        )


def _write(
    ctx: Context,
    session: Session,
    version: ModelVersionRecord,
    ref: ModelRef,
    *,
    actor: str,
    role: Role,
    action: str,
    decision: Decision,
    note: str,
    findings: str,
    conditions: tuple[Condition, ...],
    opinion: str = "",
) -> None:
    now = ctx.clock()
    approval = ApprovalRecord(
        model_name=ref.name,
        version=ref.version,
        actor=actor,
        role=role.value,
        note=note,
        findings=findings,
        conditions=[c.text for c in conditions],
        decision=decision,
        opinion=opinion,
        created_at=now,
    )
    session.add(approval)
    session.flush()
    version.updated_at = now
    record(
        session,
        actor=actor,
        role=role.value,
        action=action,
        object_type="model_version",
        object_id=str(ref),
        payload={
            "decision": decision,
            "note": note,
            "findings": findings,
            "conditions": [c.text for c in conditions],
            "opinion": opinion,
            "state": version.state,
            "digest": version.digest,
        },
        at=now,
    )
    add_conditions(session, ref, approval.id, conditions, actor=actor, role=role, at=now)


def challenged_gates(session: Session, ref: ModelRef) -> list[str]:
    """The gates of ``ref``'s latest validation run that failed (advisory ones included) or
    were overridden: what a validator's opinion must address."""
    run_id = session.execute(
        select(ValidationRunRecord.id)
        .where(
            ValidationRunRecord.model_name == ref.name,
            ValidationRunRecord.version == ref.version,
        )
        .order_by(ValidationRunRecord.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if run_id is None:
        return []
    results = session.execute(
        select(GateResultRecord)
        .where(GateResultRecord.validation_run_id == run_id)
        .order_by(GateResultRecord.id)
    ).scalars()
    # The status recorded in the evidence (riskops.validation.gate.settle); a result stored
    # before statuses were recorded failed when it did not pass.
    failed = [
        r.gate
        for r in results
        if (r.evidence or {}).get("status", "passed" if r.passed else "failed") == "failed"
    ]
    overridden = set(
        session.execute(
            select(GateOverrideRecord.gate).where(GateOverrideRecord.validation_run_id == run_id)
        ).scalars()
    )
    return [f"{g} (overridden)" if g in overridden else g for g in failed]


def _validator_signoff(existing: list[ApprovalRecord]) -> ApprovalRecord | None:
    return next((a for a in existing if a.role == Role.VALIDATOR and a.decision == "approve"), None)


def _require_validated(
    session: Session, version: ModelVersionRecord, ref: ModelRef, *, doing: str
) -> None:
    state = State(version.state)
    if state == State.VALIDATED:
        return
    if state == State.APPROVED:
        names = ", ".join(
            f"{a.actor} ({a.role})" for a in approvals_of(session, ref) if a.decision == "approve"
        )
        raise ConflictError(
            f"{ref} is already approved (signed off by {names}).",
            model_ref=str(ref),
            hint=f"Deploy it: riskops deploy {ref} --env production --as <operator>"
            if doing == "approve"
            else f"To stop it serving, roll back: riskops rollback {ref.name} --env production "
            "--as <operator>",
        )
    if state == State.CANDIDATE:
        raise ConflictError(
            f"Cannot {doing} {ref}: it is 'candidate'; its gates have not run yet.",
            model_ref=str(ref),
            hint=f"Validate it first: riskops validate {ref} --as <validator>",
        )
    if state == State.REJECTED:
        by = rejection_by_person(session, ref)
        if by is not None:
            raise ConflictError(
                f"Cannot {doing} {ref}: {by.actor} ({by.role}) rejected it on "
                f"{by.created_at:%Y-%m-%d}: {by.note}",
                model_ref=str(ref),
                hint="A person's rejection is final; train and validate a new version.",
            )
        raise ConflictError(
            f"Cannot {doing} {ref}: it is 'rejected' because a blocking gate failed.",
            model_ref=str(ref),
            hint=f"Train a better version, or have a risk officer override each failed gate "
            f"with a written justification: riskops override {ref} --gate GATE "
            "--justification TEXT --as <risk officer>",
        )
    raise ConflictError(
        f"Cannot {doing} {ref}: it is '{state}'.",
        model_ref=str(ref),
        hint="Only a validated version can be signed off; train and validate a new one.",
    )


def _not_trainer(actor: str, trained_by: str, ref: ModelRef, *, doing: str) -> None:
    if actor == trained_by:
        raise PermissionDeniedError(
            f"{actor} trained {ref}, so cannot {doing} (separation of duties: the "
            "developer of a model cannot validate or approve it).",
            actor=actor,
            model_ref=str(ref),
            hint=f"Ask an independent validator: riskops approve {ref} --as <validator>",
        )
