"""Running the gate suite on a candidate: the service behind ``riskops validate``.

The data is the snapshot recorded with the version (fetched from its MLflow run and checked
against its fingerprint), the spec is the one recorded at training, and the model is loaded
only if its digest matches. The champion is whatever serves in production now.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from riskops.audit import record
from riskops.config import Role
from riskops.context import Context
from riskops.datasets.prepared import prepare
from riskops.datasets.snapshot import load_snapshot
from riskops.errors import ConflictError, IntegrityError, PermissionDeniedError
from riskops.governance.deployments import serving_at
from riskops.governance.lifecycle import State, move
from riskops.governance.roles import require_actor, require_role
from riskops.registry.artifacts import load_verified_model
from riskops.registry.flavors import predict_proba
from riskops.registry.versions import ModelRef, get_version
from riskops.spec import parse_spec
from riskops.store.tables import GateResultRecord, ModelVersionRecord, ValidationRunRecord
from riskops.validation.gate import GateInput, GateResult, Scored
from riskops.validation.gates import GATES

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class ValidationOutcome:
    ref: ModelRef
    passed: bool
    state: State
    champion: ModelRef | None
    results: tuple[GateResult, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": str(self.ref),
            "passed": self.passed,
            "state": self.state.value,
            "champion": str(self.champion) if self.champion else None,
            "gates": [r.as_dict() for r in self.results],
        }


def validate(
    ctx: Context, ref: ModelRef, *, actor: str | None, progress: Progress = _quiet
) -> ValidationOutcome:
    """Run every gate on ``ref``; it becomes ``validated`` if no blocking gate fails, else
    ``rejected``. The results and an audit event are stored together."""
    who = require_actor(actor)
    role = require_role(ctx.settings, who, Role.VALIDATOR, Role.OPERATOR, doing=f"validate {ref}")
    with ctx.store.transaction() as session:
        version = get_version(session, ref)
        if version.trained_by == who:
            raise PermissionDeniedError(
                f"{who} trained {ref}, so cannot validate it (separation of duties).",
                actor=who,
                model_ref=str(ref),
                hint=f"Ask an independent validator: riskops validate {ref} --as <validator>",
            )
        if version.state != State.CANDIDATE:
            raise ConflictError(
                f"{ref} is '{version.state}'; only a candidate is validated.",
                model_ref=str(ref),
                hint=f"riskops show {ref.name} shows its gate results.",
            )
        champion_row = serving_at(session, ref.name, "production")
        champion_version = (
            get_version(session, ModelRef(ref.name, champion_row.version))
            if champion_row is not None and champion_row.version != ref.version
            else None
        )

    spec = parse_spec(version.spec_yaml, source=f"the spec recorded with {ref}").spec
    progress("Fetching the recorded data snapshot")
    with tempfile.TemporaryDirectory(prefix="riskops-validate-") as tmp:
        data_file = ctx.registry.download_run_file(
            version.mlflow_run_id, f"data/{Path(version.data_source).name}", Path(tmp)
        )
        snapshot = load_snapshot(data_file)
    if snapshot.fingerprint != version.data_fingerprint:
        raise IntegrityError(
            f"The data snapshot stored with {ref} has fingerprint {snapshot.fingerprint}, not "
            f"the recorded {version.data_fingerprint}.",
            hint="The MLflow artifact store was altered; restore it before validating.",
        )
    prepared = prepare(snapshot, spec)
    matrix = prepared.validation_matrix

    progress(f"Scoring {len(prepared.y_validation)} validation rows")
    candidate = Scored(ref=ref, digest=version.digest, scores=_score(ctx, version, matrix))
    champion = None
    if champion_version is not None:
        champion_ref = ModelRef(ref.name, champion_version.version)
        progress(f"Scoring the same rows with the champion {champion_ref}")
        champion = Scored(
            ref=champion_ref,
            digest=champion_version.digest,
            scores=_score(ctx, champion_version, matrix),
        )
    gate_input = GateInput(
        spec=spec, y=prepared.y_validation, candidate=candidate, champion=champion
    )
    results = tuple(result for gate in GATES for result in gate.evaluate(gate_input))
    passed = not any(r.blocks for r in results)

    with ctx.store.transaction() as session:
        version = get_version(session, ref, for_update=True)
        target = State.VALIDATED if passed else State.REJECTED
        move(version, target)
        now = ctx.clock()
        version.updated_at = now
        run = ValidationRunRecord(
            model_name=ref.name,
            version=ref.version,
            run_by=who,
            passed=passed,
            champion_version=champion.ref.version if champion else None,
            created_at=now,
        )
        session.add(run)
        session.flush()
        for r in results:
            session.add(
                GateResultRecord(
                    validation_run_id=run.id,
                    gate=r.gate,
                    kind=r.kind,
                    metric=r.metric,
                    value=r.value,
                    threshold=r.threshold,
                    comparison=r.comparison,
                    severity=r.severity,
                    passed=r.passed,
                    evidence=r.evidence,
                )
            )
        record(
            session,
            actor=who,
            role=role.value,
            action="validation.completed",
            object_type="model_version",
            object_id=str(ref),
            payload={
                "passed": passed,
                "state": target.value,
                "validation_run_id": run.id,
                "champion": str(champion.ref) if champion else None,
                "gates": {r.gate: {"value": r.value, "passed": r.passed} for r in results},
            },
            at=now,
        )
    return ValidationOutcome(
        ref=ref,
        passed=passed,
        state=target,
        champion=champion.ref if champion else None,
        results=results,
    )


def _score(ctx: Context, version: ModelVersionRecord, matrix: Any) -> Any:
    model = load_verified_model(
        ctx.registry,
        version.model_name,
        version.version,
        digest=version.digest,
        flavor=version.flavor,
    )
    return predict_proba(model, matrix)
