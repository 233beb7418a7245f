"""Overriding a failed blocking gate: a risk officer's written, audited exception.

A version whose blocking gate failed is ``rejected``. A risk officer may override each failed
blocking gate of its latest validation run with a written justification (PRA SS1/23 principle
5 "post-model adjustments"; the EU AI Act Art. 14 asks that people can override the system).
When every failed blocking gate is overridden, the version becomes ``validated`` again and
still needs both sign-offs: a validator, then a risk officer who is not that validator.

A version that a person rejected cannot be overridden, and the risk officer who overrides
cannot be the person who trained the version.

Example::

    override_gate(ctx, ModelRef("credit-scoring", 3), gate="performance.auc", actor="rita",
                  justification="AUC 0.69 on a 300-row split; the 95% CI covers 0.70.")
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.audit import record
from riskops.config import Role
from riskops.context import Context
from riskops.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from riskops.governance.approvals import rejection_by_person
from riskops.governance.lifecycle import State, move
from riskops.governance.roles import require_actor, require_role
from riskops.registry.versions import ModelRef, get_version
from riskops.store.tables import GateOverrideRecord, GateResultRecord, ValidationRunRecord

MIN_JUSTIFICATION = 20


@dataclass(frozen=True)
class GateOverride:
    """One recorded override, and what it left: the version's state and the failed blocking
    gates of the same validation run that still need an override."""

    kind: ClassVar[str] = "riskops.override@1"

    ref: ModelRef
    gate: str
    validation_run_id: int
    actor: str
    justification: str
    at: datetime
    state: State
    remaining: tuple[str, ...]

    @property
    def next_step(self) -> str:
        if self.remaining:
            return (
                f"Still failed and not overridden: {', '.join(self.remaining)}. "
                f"riskops override {self.ref} --gate {self.remaining[0]} --justification TEXT "
                "--as <risk officer>"
            )
        return f"riskops approve {self.ref} --as <validator>"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": str(self.ref),
            "gate": self.gate,
            "validation_run_id": self.validation_run_id,
            "actor": self.actor,
            "justification": self.justification,
            "at": self.at.isoformat(),
            "state": self.state.value,
            "remaining": list(self.remaining),
            "next_step": self.next_step,
        }


def overrides_of(session: Session, ref: ModelRef) -> list[GateOverrideRecord]:
    """Every gate override recorded on ``ref``, oldest first."""
    return list(
        session.execute(
            select(GateOverrideRecord)
            .where(
                GateOverrideRecord.model_name == ref.name, GateOverrideRecord.version == ref.version
            )
            .order_by(GateOverrideRecord.id)
        ).scalars()
    )


def override_gate(
    ctx: Context, ref: ModelRef, *, gate: str, justification: str, actor: str | None
) -> GateOverride:
    """Record a risk officer's override of the failed blocking ``gate`` of ``ref``'s latest
    validation run; once every failed blocking gate is overridden, ``ref`` is validated."""
    who = require_actor(actor)
    text = justification.strip()
    written = len(" ".join(text.split()))
    if written < MIN_JUSTIFICATION:
        raise InputError(
            f"The justification for overriding {gate or 'a gate'} of {ref} has {written} "
            f"characters; a written justification of at least {MIN_JUSTIFICATION} is required.",
            hint="Say why the model may be used despite the failed gate, e.g. "
            '--justification "AUC 0.69 on 300 rows; its 95% CI covers the 0.70 minimum."',
        )
    gate = gate.strip()
    if not gate:
        raise InputError(
            f"Name the gate to override of {ref}.",
            hint=f"riskops show {ref} lists its gates; e.g. --gate performance.auc",
        )
    role = require_role(
        ctx.settings, who, Role.RISK_OFFICER, doing=f"override the gate {gate} of {ref}"
    )
    with ctx.store.transaction() as session:
        version = get_version(session, ref, for_update=True)
        if version.trained_by == who:
            raise PermissionDeniedError(
                f"{who} trained {ref}, so cannot override its gates (separation of duties).",
                actor=who,
                model_ref=str(ref),
                hint=f"Another risk officer must decide: riskops override {ref} --gate {gate} "
                "--justification TEXT --as <risk officer>",
            )
        run = _rejecting_run(session, ref, State(version.state))
        results = list(
            session.execute(
                select(GateResultRecord)
                .where(GateResultRecord.validation_run_id == run.id)
                .order_by(GateResultRecord.id)
            ).scalars()
        )
        failed = [r.gate for r in results if not r.passed and r.severity == "blocking"]
        done = {
            o.gate
            for o in overrides_of(session, ref)
            if o.validation_run_id == run.id and o.gate in failed
        }
        target = next((r for r in results if r.gate == gate), None)
        if target is None:
            raise NotFoundError(
                f"{ref}'s validation run {run.id} has no gate named {gate!r}; its gates are: "
                f"{', '.join(r.gate for r in results)}.",
                hint=f"Failed blocking gates: {', '.join(failed)}.",
            )
        if target.passed or target.severity != "blocking":
            why = "passed" if target.passed else f"is {target.severity}, so it did not block"
            raise ConflictError(
                f"The gate {gate} of {ref} {why}; only a failed blocking gate is overridden.",
                model_ref=str(ref),
                hint=f"Failed blocking gates of {ref}: {', '.join(failed)}.",
            )
        if gate in done:
            raise ConflictError(
                f"The gate {gate} of {ref} is already overridden.",
                model_ref=str(ref),
                hint=f"riskops show {ref} shows the override and who made it.",
            )
        now = ctx.clock()
        session.add(
            GateOverrideRecord(
                model_name=ref.name,
                version=ref.version,
                gate=gate,
                validation_run_id=run.id,
                actor=who,
                justification=text,
                created_at=now,
            )
        )
        remaining = tuple(g for g in failed if g != gate and g not in done)
        if not remaining:
            move(version, State.VALIDATED, by_override=True)
        version.updated_at = now
        record(
            session,
            actor=who,
            role=role.value,
            action="gate.overridden",
            object_type="model_version",
            object_id=str(ref),
            payload={
                "gate": gate,
                "validation_run_id": run.id,
                "justification": text,
                "metric": target.metric,
                "value": target.value,
                "threshold": target.threshold,
                "comparison": target.comparison,
                "remaining": list(remaining),
                "state": version.state,
                "digest": version.digest,
            },
            at=now,
        )
        return GateOverride(
            ref=ref,
            gate=gate,
            validation_run_id=run.id,
            actor=who,
            justification=text,
            at=now,
            state=State(version.state),
            remaining=remaining,
        )


def _rejecting_run(session: Session, ref: ModelRef, state: State) -> ValidationRunRecord:
    """The latest validation run of ``ref``, if it is what rejected the version."""
    if state != State.REJECTED:
        reasons = {
            State.CANDIDATE: "its gates have not run yet",
            State.VALIDATED: "no blocking gate stops it",
            State.APPROVED: "it is already approved",
            State.RETIRED: "it is retired",
        }
        raise ConflictError(
            f"Cannot override a gate of {ref}: it is '{state}' ({reasons[state]}); only a "
            "version rejected by a failed blocking gate can be overridden.",
            model_ref=str(ref),
            hint=f"riskops show {ref} shows its state and gates.",
        )
    by = rejection_by_person(session, ref)
    if by is not None:
        raise ConflictError(
            f"{ref} was rejected by {by.actor} ({by.role}), not by its gates: "
            f"{by.note.rstrip('.')}. A person's rejection cannot be overridden.",
            model_ref=str(ref),
            hint="Train and validate a new version: riskops train <spec> --as <developer>",
        )
    run = session.execute(
        select(ValidationRunRecord)
        .where(
            ValidationRunRecord.model_name == ref.name, ValidationRunRecord.version == ref.version
        )
        .order_by(ValidationRunRecord.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if run is None or run.passed:
        raise ConflictError(
            f"{ref} is rejected, but not by a failed gate of its latest validation run.",
            model_ref=str(ref),
            hint="Train and validate a new version: riskops train <spec> --as <developer>",
        )
    return run
