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
from riskops.registry.mlflow_adapter import OOT_FINGERPRINT_TAG
from riskops.registry.versions import ModelRef, get_version
from riskops.spec import parse_spec
from riskops.store.tables import GateResultRecord, ValidationRunRecord
from riskops.validation.gate import GateInput, GateResult, Sample, VersionInfo, counts, settle
from riskops.validation.gates import GATES
from riskops.validation.partitions import earlier_versions, partition_key, reuse_result

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
            "counts": counts(self.results),
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
        oot_snapshot = None
        if spec.data.out_of_time:
            oot_file = ctx.registry.download_run_file(
                version.mlflow_run_id,
                f"data_out_of_time/{Path(spec.data.out_of_time).name}",
                Path(tmp),
            )
            oot_snapshot = load_snapshot(oot_file)
    if snapshot.fingerprint != version.data_fingerprint:
        raise IntegrityError(
            f"The data snapshot stored with {ref} has fingerprint {snapshot.fingerprint}, not "
            f"the recorded {version.data_fingerprint}.",
            hint="The MLflow artifact store was altered; restore it before validating.",
        )
    if oot_snapshot is not None:
        recorded = ctx.registry.run_tag(version.mlflow_run_id, OOT_FINGERPRINT_TAG)
        if oot_snapshot.fingerprint != recorded:
            raise IntegrityError(
                f"The out-of-time snapshot stored with {ref} has fingerprint "
                f"{oot_snapshot.fingerprint}, not the {recorded or 'missing'} recorded at "
                "training.",
                hint="The MLflow artifact store or run was altered; restore it before validating.",
            )
    prepared = prepare(snapshot, spec)
    raw = prepared.raw

    progress(f"Scoring {len(prepared.split.validation)} validation rows")
    model = load_verified_model(
        ctx.registry, ref.name, ref.version, digest=version.digest, flavor=version.flavor
    )
    champion_model = None
    if champion_version is not None:
        progress(f"Scoring the same rows with the champion v{champion_version.version}")
        champion_model = load_verified_model(
            ctx.registry,
            ref.name,
            champion_version.version,
            digest=champion_version.digest,
            flavor=champion_version.flavor,
        )

    def sample(name: str, rows: Any, frame: Any, features: Any, matrix: Any, y: Any) -> Sample:
        return Sample(
            name=name,
            raw=frame.iloc[rows].reset_index(drop=True) if rows is not None else frame,
            features=features,
            matrix=matrix,
            y=y,
            scores=predict_proba(model, matrix),
            champion_scores=(
                predict_proba(champion_model, matrix) if champion_model is not None else None
            ),
        )

    split = prepared.split
    train_sample = sample(
        "train",
        split.train,
        raw,
        prepared.features.iloc[split.train].reset_index(drop=True),
        prepared.matrix[split.train],
        prepared.y[split.train],
    )
    validation_sample = sample(
        "validation",
        split.validation,
        raw,
        prepared.features.iloc[split.validation].reset_index(drop=True),
        prepared.validation_matrix,
        prepared.y_validation,
    )
    test_sample = None
    if split.test is not None:
        progress(f"Scoring {len(split.test)} test rows, once, for the reported figures")
        test_sample = sample(
            "test",
            split.test,
            raw,
            prepared.features.iloc[split.test].reset_index(drop=True),
            prepared.test_matrix,
            prepared.y_test,
        )
    oot_sample = None
    if oot_snapshot is not None:
        oot = prepare(oot_snapshot, spec)
        oot_sample = sample(
            "out_of_time",
            None,
            oot.raw,
            oot.features,
            oot.matrix,
            oot.y,
        )
    gate_input = GateInput(
        spec=spec,
        candidate=VersionInfo(ref=ref, digest=version.digest),
        champion=(
            VersionInfo(ModelRef(ref.name, champion_version.version), champion_version.digest)
            if champion_version is not None
            else None
        ),
        train=train_sample,
        validation=validation_sample,
        out_of_time=oot_sample,
        model=model,
        flavor=version.flavor,
        score=lambda matrix: predict_proba(model, matrix),
        test=test_sample,
    )
    key = partition_key(
        gate_input,
        data_fingerprint=version.data_fingerprint,
        oot_fingerprint=oot_snapshot.fingerprint if oot_snapshot is not None else None,
    )
    with ctx.store.transaction() as session:
        earlier = earlier_versions(session, key, excluding=ref)
    results = tuple(
        settle(
            [result for gate in GATES for result in gate.evaluate(gate_input)]
            + [reuse_result(gate_input, key=key, earlier=earlier)],
            spec.gates.not_applicable,
        )
    )
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
            champion_version=gate_input.champion.ref.version if gate_input.champion else None,
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
                "champion": str(gate_input.champion.ref) if gate_input.champion else None,
                "counts": counts(results),
                "gates": {
                    r.gate: {
                        "value": r.value,
                        "passed": r.passed,
                        "status": r.status,
                        "metric": r.metric,
                        "threshold": r.threshold,
                        "comparison": r.comparison,
                        "severity": r.severity,
                        "kind": r.kind,
                    }
                    for r in results
                },
            },
            at=now,
        )
    return ValidationOutcome(
        ref=ref,
        passed=passed,
        state=target,
        champion=gate_input.champion.ref if gate_input.champion else None,
        results=results,
    )
