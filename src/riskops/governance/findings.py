"""The validator's findings log: what an independent review found wrong with a version, who
owns the fix, by when, and where it stands (SR 11-7 "effective challenge"; PRA SS1/23
principle 4 asks that findings be tracked to remediation).

Severity (the scale most banks' model risk policies use):

======  ==========================================================================================
high    the model must not be relied on for the affected use until it is remediated, or a risk
        officer accepts the risk in writing
medium  a weakness to remediate by the due date; use may continue with the finding on record
low     an improvement or a documentation gap
======  ==========================================================================================

Status and who moves it (each change is a ``finding_updates`` row and an audit event,
``finding.raised`` / ``finding.updated``):

===========  ===================================  =====================================
from         to                                   by
===========  ===================================  =====================================
open         remediated                           the finding's owner
open         accepted (risk accepted as it is)    a risk officer
open         closed                               a validator
remediated   closed, or open (not sufficient)     a validator
accepted     closed                               a validator
===========  ===================================  =====================================

The owner never accepts or closes their own finding, whatever roles they hold.

Example::

    raised = raise_finding(ctx, ModelRef("credit-scoring", 3), severity="medium", owner="alice",
                           due=date(2027, 3, 31), gate="fairness.foreign_worker.approval_rate_ratio",
                           text="Approval ratio 0.71 for foreign workers.", actor="victor")
    update_finding(ctx, raised.id, status="remediated", note="Reweighted; ratio 0.83.",
                   actor="alice")
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.audit import record
from riskops.config import Role
from riskops.context import Context
from riskops.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from riskops.governance.roles import require_actor, require_role
from riskops.registry.versions import ModelRef, get_version
from riskops.store.tables import FindingRecord, FindingUpdateRecord

Severity = Literal["high", "medium", "low"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
Status = Literal["open", "remediated", "accepted", "closed"]
STATUSES: tuple[str, ...] = get_args(Status)
OWNER = "owner"
"""Who may make a move besides a role: the finding's owner."""
MOVES: dict[tuple[str, str], Role | str] = {
    ("open", "remediated"): OWNER,
    ("open", "accepted"): Role.RISK_OFFICER,
    ("open", "closed"): Role.VALIDATOR,
    ("remediated", "closed"): Role.VALIDATOR,
    ("remediated", "open"): Role.VALIDATOR,
    ("accepted", "closed"): Role.VALIDATOR,
}


@dataclass(frozen=True)
class FindingStep:
    """One step of a finding's history."""

    status: str
    note: str
    actor: str
    role: str
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "note": self.note,
            "actor": self.actor,
            "role": self.role,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class Finding:
    """A finding with its history, oldest step first."""

    kind: ClassVar[str] = "riskops.finding@1"

    id: int
    ref: ModelRef
    gate: str | None
    text: str
    severity: str
    owner: str
    due: date
    status: str
    raised_by: str
    at: datetime
    history: tuple[FindingStep, ...] = ()

    def overdue(self, today: date) -> bool:
        return self.status in ("open", "remediated") and self.due < today

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "model": str(self.ref),
            "gate": self.gate,
            "text": self.text,
            "severity": self.severity,
            "owner": self.owner,
            "due": self.due.isoformat(),
            "status": self.status,
            "raised_by": self.raised_by,
            "at": self.at.isoformat(),
            "history": [s.as_dict() for s in self.history],
        }


def raise_finding(
    ctx: Context,
    ref: ModelRef,
    *,
    severity: str,
    owner: str,
    due: date,
    text: str,
    actor: str | None,
    gate: str | None = None,
) -> Finding:
    """Record a validator's finding on ``ref``, open, owned by ``owner`` (a person of the
    workspace) to remediate by ``due``."""
    who = require_actor(actor)
    words = " ".join(text.split())
    if not words:
        raise InputError(
            f"A finding on {ref} needs its text: what is wrong and why it matters.",
            hint=f'riskops findings add {ref} --text "..." --severity medium --owner NAME '
            "--due YYYY-MM-DD --as <validator>",
        )
    if severity not in SEVERITIES:
        raise InputError(
            f"Unknown severity {severity!r}; it is one of: {', '.join(SEVERITIES)}.",
            hint="high: not to be relied on until remediated; medium: remediate by the due "
            "date; low: an improvement.",
        )
    if owner not in ctx.settings.people:
        raise InputError(
            f"The owner {owner!r} of a finding must be a person of this workspace, who marks it "
            "remediated; the people are: " + ", ".join(sorted(ctx.settings.people)) + ".",
            hint="Add them to [people] in riskops.toml, or name another --owner.",
        )
    role = require_role(ctx.settings, who, Role.VALIDATOR, doing=f"raise a finding on {ref}")
    gate = gate.strip() if gate else None
    with ctx.store.transaction() as session:
        version = get_version(session, ref)
        if who == version.trained_by:
            raise PermissionDeniedError(
                f"{who} trained {ref}, so cannot raise its validation findings (separation "
                "of duties).",
                actor=who,
                model_ref=str(ref),
                hint=f"An independent validator raises them: riskops findings add {ref} ... "
                "--as <validator>",
            )
        now = ctx.clock()
        row = FindingRecord(
            model_name=ref.name,
            version=ref.version,
            gate=gate,
            text=words,
            severity=severity,
            owner=owner,
            due=due.isoformat(),
            status="open",
            raised_by=who,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        _step(session, row, "open", "raised", who, role.value, now)
        record(
            session,
            actor=who,
            role=role.value,
            action="finding.raised",
            object_type="model_version",
            object_id=str(ref),
            payload={
                "finding_id": row.id,
                "gate": gate,
                "text": words,
                "severity": severity,
                "owner": owner,
                "due": due.isoformat(),
            },
            at=now,
        )
        return _finding(session, row)


def update_finding(
    ctx: Context, finding_id: int, *, status: str, note: str, actor: str | None
) -> Finding:
    """Move finding ``finding_id`` to ``status`` with a ``note`` (see the table of moves)."""
    who = require_actor(actor)
    words = " ".join(note.split())
    if status not in STATUSES:
        raise InputError(
            f"Unknown finding status {status!r}; it is one of: {', '.join(STATUSES)}.",
            hint=f'riskops findings update {finding_id} --status remediated --note "..." '
            f"--as {who}",
        )
    if not words:
        raise InputError(
            f"Moving finding #{finding_id} to {status} needs a note saying what was done.",
            hint=f'riskops findings update {finding_id} --status {status} --note "..." --as {who}',
        )
    with ctx.store.transaction() as session:
        row = session.get(FindingRecord, finding_id, with_for_update=True)
        if row is None:
            raise NotFoundError(
                f"No finding #{finding_id}.",
                hint="riskops findings list MODEL lists the findings with their ids.",
            )
        allowed = MOVES.get((row.status, status))
        if allowed is None:
            moves = [f"{to} (by {_by(by)})" for (src, to), by in MOVES.items() if src == row.status]
            raise ConflictError(
                f"Finding #{finding_id} is {row.status}; it cannot move to {status}."
                + (f" From {row.status} it can move to: {', '.join(moves)}." if moves else ""),
                model_ref=f"{row.model_name}@{row.version}",
            )
        if not isinstance(allowed, Role):
            if who != row.owner:
                raise PermissionDeniedError(
                    f"Only the owner of finding #{finding_id}, {row.owner}, marks it "
                    f"remediated; {who} is not.",
                    actor=who,
                    hint=f"riskops findings update {finding_id} --status remediated --note "
                    f'"..." --as {row.owner}',
                )
            held = ctx.settings.people.get(who, frozenset())
            role_name = sorted(r.value for r in held)[0] if held else OWNER
        else:
            role_name = require_role(
                ctx.settings, who, allowed, doing=f"move finding #{finding_id} to {status}"
            ).value
            if who == row.owner and status in ("closed", "accepted"):
                raise PermissionDeniedError(
                    f"{who} owns finding #{finding_id}, so cannot also mark it {status} "
                    "(separation of duties: the owner remediates, someone else judges it).",
                    actor=who,
                    hint=f'riskops findings update {finding_id} --status {status} --note "..." '
                    "--as <another validator or risk officer>",
                )
        now = ctx.clock()
        previous = row.status
        row.status = status
        row.updated_at = now
        _step(session, row, status, words, who, role_name, now)
        record(
            session,
            actor=who,
            role=role_name,
            action="finding.updated",
            object_type="model_version",
            object_id=f"{row.model_name}@{row.version}",
            payload={"finding_id": row.id, "from": previous, "to": status, "note": words},
            at=now,
        )
        return _finding(session, row)


def findings_of(session: Session, name: str, version: int | None = None) -> list[Finding]:
    """The findings of model ``name`` (of one ``version`` if given), oldest first."""
    query = select(FindingRecord).where(FindingRecord.model_name == name)
    if version is not None:
        query = query.where(FindingRecord.version == version)
    return [
        _finding(session, r) for r in session.execute(query.order_by(FindingRecord.id)).scalars()
    ]


def list_findings(ctx: Context, name: str, version: int | None = None) -> list[Finding]:
    """:func:`findings_of` in a reading session."""
    with ctx.store.reading() as session:
        return findings_of(session, name, version)


def _by(by: Role | str) -> str:
    return by.value if isinstance(by, Role) else "the finding's owner"


def _step(
    session: Session,
    row: FindingRecord,
    status: str,
    note: str,
    actor: str,
    role: str,
    at: datetime,
) -> None:
    session.add(
        FindingUpdateRecord(
            finding_id=row.id, status=status, note=note, actor=actor, role=role, created_at=at
        )
    )
    session.flush()


def _finding(session: Session, row: FindingRecord) -> Finding:
    steps = session.execute(
        select(FindingUpdateRecord)
        .where(FindingUpdateRecord.finding_id == row.id)
        .order_by(FindingUpdateRecord.id)
    ).scalars()
    return Finding(
        id=row.id,
        ref=ModelRef(row.model_name, row.version),
        gate=row.gate,
        text=row.text,
        severity=row.severity,
        owner=row.owner,
        due=date.fromisoformat(row.due),
        status=row.status,
        raised_by=row.raised_by,
        at=row.created_at,
        history=tuple(
            FindingStep(status=s.status, note=s.note, actor=s.actor, role=s.role, at=s.created_at)
            for s in steps
        ),
    )
