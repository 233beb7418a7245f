"""Sign-off of a validated version: first an independent validator, then a risk officer.

Separation of duties (SR 26-2 / SR 11-7 effective challenge, PRA SS1/23): whoever trained a
version cannot sign it off, and the validator who signed it off cannot also give the final
approval. Each sign-off is a stored record and an audit event in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.audit import record
from riskops.config import Role
from riskops.context import Context
from riskops.errors import ConflictError, PermissionDeniedError
from riskops.governance.lifecycle import State, move
from riskops.governance.roles import require_actor, require_role
from riskops.registry.versions import ModelRef, get_version
from riskops.store.tables import ApprovalRecord


@dataclass(frozen=True)
class SignOff:
    ref: ModelRef
    actor: str
    role: Role
    state: State
    next_step: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "model": str(self.ref),
            "actor": self.actor,
            "role": self.role.value,
            "state": self.state.value,
            "next_step": self.next_step,
        }


def approvals_of(session: Session, ref: ModelRef) -> list[ApprovalRecord]:
    return list(
        session.execute(
            select(ApprovalRecord)
            .where(ApprovalRecord.model_name == ref.name, ApprovalRecord.version == ref.version)
            .order_by(ApprovalRecord.id)
        ).scalars()
    )


def approve(ctx: Context, ref: ModelRef, *, actor: str | None, note: str = "") -> SignOff:
    """Record the next sign-off that ``ref`` needs, by ``actor``."""
    who = require_actor(actor)
    with ctx.store.transaction() as session:
        version = get_version(session, ref, for_update=True)
        state = State(version.state)
        if state == State.APPROVED:
            names = ", ".join(f"{a.actor} ({a.role})" for a in approvals_of(session, ref))
            raise ConflictError(
                f"{ref} is already approved (signed off by {names}).",
                model_ref=str(ref),
                hint=f"Deploy it: riskops deploy {ref} --env production --as <operator>",
            )
        if state == State.CANDIDATE:
            raise ConflictError(
                f"Cannot approve {ref}: it is 'candidate'; its gates have not run yet.",
                model_ref=str(ref),
                hint=f"Validate it first: riskops validate {ref} --as <validator>",
            )
        if state != State.VALIDATED:
            raise ConflictError(
                f"Cannot approve {ref}: it is '{state}'.",
                model_ref=str(ref),
                hint="Only a validated version can be signed off; train and validate a new one.",
            )
        existing = approvals_of(session, ref)
        validator_signoff = next((a for a in existing if a.role == Role.VALIDATOR), None)
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
            _not_trainer(who, version.trained_by, ref)
            next_step: str | None = f"riskops approve {ref} --as <risk officer>"
            action = "version.signed_off"
        else:
            role = require_role(
                ctx.settings, who, Role.RISK_OFFICER, doing=f"give the final approval of {ref}"
            )
            _not_trainer(who, version.trained_by, ref)
            if who == validator_signoff.actor:
                raise PermissionDeniedError(
                    f"{who} signed off {ref} as its validator, so cannot also give its final "
                    "approval (separation of duties).",
                    actor=who,
                    model_ref=str(ref),
                    hint=f"Another risk officer must approve: riskops approve {ref} --as <risk officer>",
                )
            move(version, State.APPROVED)
            next_step = f"riskops deploy {ref} --env production --as <operator>"
            action = "version.approved"
        now = ctx.clock()
        session.add(
            ApprovalRecord(
                model_name=ref.name,
                version=ref.version,
                actor=who,
                role=role.value,
                note=note,
                created_at=now,
            )
        )
        version.updated_at = now
        record(
            session,
            actor=who,
            role=role.value,
            action=action,
            object_type="model_version",
            object_id=str(ref),
            payload={"note": note, "state": version.state, "digest": version.digest},
            at=now,
        )
        return SignOff(
            ref=ref, actor=who, role=role, state=State(version.state), next_step=next_step
        )


def _not_trainer(actor: str, trained_by: str, ref: ModelRef) -> None:
    if actor == trained_by:
        raise PermissionDeniedError(
            f"{actor} trained {ref}, so cannot sign it off (separation of duties: the "
            "developer of a model cannot validate or approve it).",
            actor=actor,
            model_ref=str(ref),
            hint=f"Ask an independent validator: riskops approve {ref} --as <validator>",
        )
