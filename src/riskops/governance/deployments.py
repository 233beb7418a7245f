"""Deploying approved versions to an environment, rolling back, and the deployment history.

The history is append-only: each deploy or rollback adds a row naming the version that serves
from then on and the one it replaced. So "what served in production at 02:13 last Tuesday?" is
the newest row at or before that moment, which MLflow's aliases cannot answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.audit import record
from riskops.config import Role
from riskops.context import Context
from riskops.errors import ConflictError, InputError, NotFoundError
from riskops.governance.conditions import require_met
from riskops.governance.lifecycle import State
from riskops.governance.roles import require_actor, require_role
from riskops.governance.serving import lanes_of
from riskops.registry.mlflow_adapter import alias_for
from riskops.registry.versions import ModelRef, get_model, get_version
from riskops.store.tables import DeploymentRecord, ModelRecord

Mode = Literal["full", "canary", "shadow"]
MODES: tuple[str, ...] = get_args(Mode)
"""How a deployed version serves: ``full`` answers every request (the champion), ``canary``
answers a sticky share of subjects, ``shadow`` is scored and logged but never returned."""


@dataclass(frozen=True)
class Deployment:
    ref: ModelRef
    environment: str
    action: str
    previous_version: int | None
    actor: str
    at: datetime
    mode: Mode = "full"
    share: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "model": str(self.ref),
            "environment": self.environment,
            "action": self.action,
            "previous_version": self.previous_version,
            "actor": self.actor,
            "at": self.at.isoformat(),
            "mode": self.mode,
            "share": self.share,
        }


def history(session: Session, name: str, environment: str | None = None) -> list[DeploymentRecord]:
    query = select(DeploymentRecord).where(DeploymentRecord.model_name == name)
    if environment is not None:
        query = query.where(DeploymentRecord.environment == environment)
    return list(session.execute(query.order_by(DeploymentRecord.id)).scalars())


def serving_at(
    session: Session, name: str, environment: str, at: datetime | None = None
) -> DeploymentRecord | None:
    """The full deployment record in force in ``environment`` at ``at`` (default: now): the
    champion's. Canary and shadow rows do not change what serves the environment."""
    query = select(DeploymentRecord).where(
        DeploymentRecord.model_name == name,
        DeploymentRecord.environment == environment,
        DeploymentRecord.mode == "full",
    )
    if at is not None:
        query = query.where(DeploymentRecord.created_at <= at)
    return session.execute(query.order_by(DeploymentRecord.id.desc()).limit(1)).scalar_one_or_none()


def _check_environment(ctx: Context, environment: str) -> None:
    if environment not in ctx.settings.environments:
        raise InputError(
            f"Unknown environment {environment!r}. Valid environments are: "
            f"{', '.join(ctx.settings.environments)}.",
            hint="Environments are listed in riskops.toml under [riskops] environments.",
        )


def deploy(
    ctx: Context,
    ref: ModelRef,
    *,
    environment: str,
    actor: str | None,
    reason: str = "",
    mode: Mode = "full",
    share: float | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> Deployment:
    """Make the approved ``ref`` the serving version of ``environment`` (``mode="full"``), or
    run it beside the champion as a ``canary`` answering ``share`` (0 < share < 1) of subjects,
    or in ``shadow``. Promoting a canary is deploying its version with ``mode="full"``.
    Deploying to production is refused while a blocking condition of the approval is open
    (:func:`riskops.governance.conditions.require_met`).
    ``evidence`` (e.g. a canary analysis's hash and numbers) is recorded in the audit event."""
    who = require_actor(actor)
    _check_environment(ctx, environment)
    _check_mode(ref, mode, share)
    role = require_role(ctx.settings, who, Role.OPERATOR, doing=f"deploy {ref}")
    with ctx.store.transaction() as session:
        _lock_model(session, ref.name)
        version = get_version(session, ref, for_update=True)
        state = State(version.state)
        if state != State.APPROVED:
            needs = {
                State.CANDIDATE: f"It still needs validation: riskops validate {ref} --as <validator>",
                State.VALIDATED: "It still needs sign-off by a validator and then a risk officer: "
                f"riskops approve {ref} --as <validator>, then --as <risk officer>",
                State.REJECTED: "It was rejected. If blocking gates failed, a risk officer may "
                f"override them with a justification (riskops override {ref} --gate GATE ...); "
                "otherwise train and validate a new version.",
                State.RETIRED: "It was retired and cannot serve again.",
            }[state]
            raise ConflictError(
                f"Cannot deploy {ref}: it is '{state}', not 'approved'.",
                model_ref=str(ref),
                hint=needs,
            )
        require_met(session, ref, environment, actor=who, role=role, at=ctx.clock())
        current = serving_at(session, ref.name, environment)
        if current is not None and current.version == ref.version:
            raise ConflictError(
                f"{ref} already serves in {environment} (since {current.created_at:%Y-%m-%d %H:%M:%S} UTC).",
                model_ref=str(ref),
                hint=f"riskops show {ref.name} shows what serves where.",
            )
        if mode != "full" and current is None:
            raise ConflictError(
                f"Cannot deploy {ref} as a {mode}: no version of {ref.name} serves in "
                f"{environment} yet, so there is no champion to run beside.",
                model_ref=str(ref),
                hint=f"Deploy it in full first: riskops deploy {ref} --env {environment} "
                "--as <operator>",
            )
        previous = current.version if current is not None else None
        return _write(
            ctx,
            session,
            ref,
            environment,
            "deploy",
            previous,
            who,
            role,
            reason,
            mode,
            share,
            evidence=evidence,
        )


def _check_mode(ref: ModelRef, mode: str, share: float | None) -> None:
    if mode not in MODES:
        raise InputError(
            f"Unknown deployment mode {mode!r}; valid modes are: {', '.join(MODES)}.",
            hint=f"riskops deploy {ref} --mode canary --share 0.1 --as <operator>",
        )
    if mode == "canary":
        if share is None or not 0.0 < share < 1.0:
            raise InputError(
                f"A canary needs a share of subjects strictly between 0 and 1, got {share}.",
                hint=f"riskops deploy {ref} --mode canary --share 0.1 --as <operator>",
            )
    elif share is not None:
        raise InputError(
            f"--share applies only to a canary, not to mode {mode!r}.",
            hint=f"riskops deploy {ref} --mode canary --share {share} --as <operator>",
        )


def rollback(
    ctx: Context,
    name: str,
    *,
    environment: str,
    actor: str | None,
    to_version: int | None = None,
    reason: str = "",
    evidence: Mapping[str, Any] | None = None,
) -> Deployment:
    """Return ``environment`` to the version that served before the current one (or to
    ``to_version``, which must have served there before and still be approved).
    ``evidence`` is recorded in the audit event."""
    who = require_actor(actor)
    _check_environment(ctx, environment)
    role = require_role(
        ctx.settings, who, Role.OPERATOR, Role.RISK_OFFICER, doing=f"roll back {name}"
    )
    with ctx.store.transaction() as session:
        _lock_model(session, name)
        # Rollback is about the champion: canary and shadow rows do not count.
        rows = [r for r in history(session, name, environment) if r.mode == "full"]
        if not rows:
            raise ConflictError(
                f"Nothing to roll back: {name} has never been deployed to {environment}.",
                hint=f"riskops deploy {name}@<version> --env {environment} --as <operator>",
            )
        current = rows[-1].version
        if to_version is None:
            put_in = next(
                (r for r in reversed(rows) if r.version == current and r.action == "deploy"), None
            )
            target = put_in.previous_version if put_in is not None else None
            if target is None:
                raise ConflictError(
                    f"{name}@{current} serves in {environment} and there is no earlier version "
                    "to roll back to.",
                    hint=f"Deploy another approved version: riskops deploy {name}@<version> "
                    f"--env {environment} --as <operator>",
                )
        else:
            served = {r.version for r in rows}
            if to_version == current:
                raise ConflictError(f"{name}@{to_version} already serves in {environment}.")
            if to_version not in served:
                raise ConflictError(
                    f"{name}@{to_version} has never served in {environment}; rollback only "
                    f"returns to a version that did ({', '.join(str(v) for v in sorted(served))}).",
                    hint=f"To put a new version in service: riskops deploy {name}@{to_version} "
                    f"--env {environment} --as <operator>",
                )
            target = to_version
        ref = ModelRef(name, target)
        version = get_version(session, ref, for_update=True)
        if version.state != State.APPROVED:
            raise ConflictError(
                f"Cannot roll back to {ref}: it is '{version.state}', not 'approved'.",
                model_ref=str(ref),
                hint=f"Pick another version with --to; riskops show {name} lists them.",
            )
        return _write(
            ctx,
            session,
            ref,
            environment,
            "rollback",
            current,
            who,
            role,
            reason,
            evidence=evidence,
        )


def end_challenger(
    ctx: Context,
    name: str,
    *,
    environment: str,
    actor: str | None,
    reason: str = "",
    evidence: Mapping[str, Any] | None = None,
) -> Deployment:
    """Roll back ``environment``'s canary and shadows: a new ``full`` row for the champion
    that serves now (action ``rollback``, ``previous_version`` the canary's, or else the
    newest shadow's), so no lane deployed before it counts any more and the champion answers
    every subject again. Needs the operator or risk officer role, like :func:`rollback`."""
    who = require_actor(actor)
    _check_environment(ctx, environment)
    role = require_role(
        ctx.settings, who, Role.OPERATOR, Role.RISK_OFFICER, doing=f"roll back {name}'s canary"
    )
    with ctx.store.transaction() as session:
        _lock_model(session, name)
        lanes = lanes_of(session, name, environment)
        challengers = [row for row, lane in lanes if lane != "champion"]
        if not challengers:
            raise ConflictError(
                f"{name} has no canary or shadow in {environment} to roll back.",
                hint=f"riskops show {name} shows what serves where.",
            )
        champion = lanes[0][0].version
        ref = ModelRef(name, champion)
        return _write(
            ctx,
            session,
            ref,
            environment,
            "rollback",
            challengers[0].version,
            who,
            role,
            reason,
            evidence=evidence,
        )


def _lock_model(session: Session, name: str) -> ModelRecord:
    model = session.execute(
        select(ModelRecord).where(ModelRecord.name == name).with_for_update()
    ).scalar_one_or_none()
    if model is None:
        get_model(session, name)  # raises NotFoundError with the known names
        raise NotFoundError(f"No model named {name!r}.")
    return model


def _write(
    ctx: Context,
    session: Session,
    ref: ModelRef,
    environment: str,
    action: str,
    previous: int | None,
    actor: str,
    role: Role,
    reason: str,
    mode: Mode = "full",
    share: float | None = None,
    *,
    evidence: Mapping[str, Any] | None = None,
) -> Deployment:
    now = ctx.clock()
    version = get_version(session, ref)
    session.add(
        DeploymentRecord(
            model_name=ref.name,
            environment=environment,
            version=ref.version,
            action=action,
            previous_version=previous,
            actor=actor,
            reason=reason,
            mode=mode,
            share=share,
            created_at=now,
        )
    )
    record(
        session,
        actor=actor,
        role=role.value,
        action="deployment.deployed" if action == "deploy" else "deployment.rolled_back",
        object_type="model_version",
        object_id=str(ref),
        payload={
            "environment": environment,
            "previous_version": previous,
            "digest": version.digest,
            "reason": reason,
            "mode": mode,
            "share": share,
            **({"evidence": dict(evidence)} if evidence is not None else {}),
        },
        at=now,
    )
    # Inside the transaction: if MLflow refuses the alias, nothing is recorded either. Only the
    # champion carries the environment's alias.
    if mode == "full":
        ctx.registry.set_alias(ref.name, alias_for(environment), ref.version)
    return Deployment(
        ref=ref,
        environment=environment,
        action=action,
        previous_version=previous,
        actor=actor,
        at=now,
        mode=mode,
        share=share,
    )
