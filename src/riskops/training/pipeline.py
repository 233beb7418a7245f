"""The training pipeline: data snapshot → schema check → split → fit → MLflow → candidate.

Nothing is written anywhere until the spec, the data and the trainer's result have been
checked; then MLflow gets the run and the registered version, the artifact's digest is
recomputed from what MLflow stored, and the store records a ``candidate`` with its lineage and
an audit event in one transaction. If anything after registering fails (a digest that does not
match, a store that does not answer), the store records nothing and the MLflow version is
tagged ``riskops.abandoned`` with the error: it never becomes a candidate, and training again
registers the next number.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from riskops.audit import record
from riskops.config import Role
from riskops.context import Context
from riskops.datasets.prepared import prepare
from riskops.datasets.snapshot import load_snapshot
from riskops.errors import ConflictError, InputError, IntegrityError, RiskopsError
from riskops.governance.lifecycle import State
from riskops.governance.roles import require_actor, require_role
from riskops.profiles.profile import ReferenceProfile, fit_profile
from riskops.registry.digest import directory_digest
from riskops.registry.flavors import flavor_of, predict_proba
from riskops.registry.lineage import code_lineage, package_versions
from riskops.registry.mlflow_adapter import ABANDONED_TAG, OOT_FINGERPRINT_TAG
from riskops.registry.model_files import save_model
from riskops.registry.profiles import PROFILE_TAG, write_profile
from riskops.registry.versions import ModelRef
from riskops.spec import ModelSpec, load_spec
from riskops.statistics.discrimination import summary
from riskops.store.tables import ModelRecord, ModelVersionRecord
from riskops.training.trainer import resolve_trainer

Progress = Callable[[str], None]
log = logging.getLogger(__name__)


def _quiet(_: str) -> None:
    return None


@contextmanager
def _abandoned_on_failure(ctx: Context, ref: ModelRef) -> Iterator[None]:
    """Tag the MLflow version ``ref`` as abandoned (:data:`ABANDONED_TAG`, with the error) if
    the block fails, then let the error through: the version is in MLflow but never became a
    riskops candidate, so it cannot be validated, approved or deployed; the tag says why."""
    try:
        yield
    except BaseException as exc:
        reason = f"{type(exc).__name__}: {exc}"[:500]
        try:
            ctx.registry.tag_version(ref.name, ref.version, {ABANDONED_TAG: reason})
        except RiskopsError as tagging:  # MLflow is down too: the error itself still surfaces
            log.warning("could not tag the abandoned %s in MLflow: %s", ref, tagging)
        raise


def reference_profile(
    spec: ModelSpec, version: int, train_features: pd.DataFrame, train_scores: np.ndarray
) -> ReferenceProfile:
    """The reference profile of ``spec.name@version``, fitted on the training split's typed
    features (categories as their text, missing as NaN) and the model's scores on them."""
    columns = {
        name: train_features[name].to_numpy(
            dtype=object if isinstance(train_features[name].dtype, pd.CategoricalDtype) else None
        )
        for name in spec.feature_names
    }
    return fit_profile(spec.name, version, spec, columns, train_scores)


@dataclass(frozen=True)
class TrainResult:
    ref: ModelRef
    digest: str
    run_id: str
    metrics: dict[str, float]
    data_fingerprint: str
    code_commit: str | None
    code_dirty: bool
    flavor: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": str(self.ref),
            "state": State.CANDIDATE.value,
            "digest": self.digest,
            "mlflow_run_id": self.run_id,
            "metrics": self.metrics,
            "data_fingerprint": self.data_fingerprint,
            "code_commit": self.code_commit,
            "code_dirty": self.code_dirty,
            "flavor": self.flavor,
        }


def train(
    ctx: Context,
    spec_path: Path | str,
    *,
    actor: str | None,
    params: Mapping[str, Any] | None = None,
    progress: Progress = _quiet,
) -> TrainResult:
    """Train the model described by the spec at ``spec_path`` and register a candidate.

    ``params`` override the spec's trainer params for this run (recorded with the version).
    """
    who = require_actor(actor)
    role = require_role(ctx.settings, who, Role.DEVELOPER, doing="train a model")
    loaded = load_spec(spec_path)
    spec = loaded.spec
    data_path = loaded.resolve(spec.data.source)
    progress(f"Checking {data_path.name} against the spec")
    snapshot = load_snapshot(data_path)
    prepared = prepare(snapshot, spec)
    oot_snapshot = None
    if spec.data.out_of_time:
        oot_snapshot = load_snapshot(loaded.resolve(spec.data.out_of_time))
        prepare(oot_snapshot, spec)  # the same schema check, before anything is trained
    fit, trainer_file = resolve_trainer(loaded)
    used_params = {**spec.trainer.params, **(params or {})}

    sizes = prepared.split.sizes()
    progress(
        "Split into "
        + ", ".join(f"{rows} {part}" for part, rows in sizes.items())
        + " rows"
        + ("; the test rows stay unscored until validation" if prepared.has_test else "")
    )
    progress(f"Training with {spec.trainer.entrypoint} on {len(prepared.split.train)} rows")
    try:
        model = fit(prepared.train_features, prepared.y_train, dict(used_params))
    except Exception as exc:
        raise InputError(
            f"The trainer {spec.trainer.entrypoint} raised {type(exc).__name__}: {exc}",
            hint="Fix the trainer or its params; nothing was registered.",
        ) from exc
    flavor_of(model)  # refuses anything riskops cannot score before anything is written
    train_scores = predict_proba(model, prepared.matrix[prepared.split.train])
    validation_scores = predict_proba(model, prepared.validation_matrix)
    metrics = {f"train_{k}": v for k, v in summary(prepared.y_train, train_scores).items()}
    metrics |= {
        f"validation_{k}": v for k, v in summary(prepared.y_validation, validation_scores).items()
    }
    lineage = code_lineage(trainer_file)
    packages = package_versions()

    # The profile names its version, so it needs the number before MLflow hands it out; the
    # number is checked after registering.
    expected_version = ctx.registry.next_version(spec.name)
    progress(f"Fitting the reference profile on {len(prepared.split.train)} training rows")
    profile = reference_profile(spec, expected_version, prepared.train_features, train_scores)
    profile_sha256 = profile.sha256()

    progress("Logging the run and registering the version in MLflow")
    lineage_tags = {
        "riskops.data_fingerprint": snapshot.fingerprint,
        "riskops.data_source": str(data_path),
        "riskops.code_commit": lineage.commit or "none",
        "riskops.code_dirty": str(lineage.dirty).lower(),
        "riskops.code_diff_sha256": lineage.diff_sha256 or "none",
        "riskops.trainer": spec.trainer.entrypoint,
        "riskops.trainer_sha256": lineage.trainer_sha256,
        "riskops.spec_sha256": f"sha256:{loaded.sha256}",
        "riskops.trained_by": who,
        PROFILE_TAG: profile_sha256,
        **({OOT_FINGERPRINT_TAG: oot_snapshot.fingerprint} if oot_snapshot else {}),
    }
    with tempfile.TemporaryDirectory(prefix="riskops-train-") as tmp:
        model_dir = Path(tmp) / "model"
        flavor = save_model(
            model,
            model_dir,
            feature_names=list(spec.feature_names),
            example=prepared.matrix[prepared.split.validation[:5]],
        )
        write_profile(profile, model_dir)  # inside the model folder: the digest covers it
        digest = directory_digest(model_dir)
        spec_dir = Path(tmp) / "riskops"
        spec_dir.mkdir()
        (spec_dir / "model.yaml").write_text(loaded.text, encoding="utf-8")
        run_tags = {
            **lineage_tags,
            "riskops.digest": digest,
            "mlflow.user": who,
            "mlflow.source.name": spec.trainer.entrypoint,
            **({"mlflow.source.git.commit": lineage.commit} if lineage.commit else {}),
            **{f"riskops.package.{k}": v for k, v in packages.items()},
        }
        run_id, artifact_uri = ctx.registry.log_run(
            spec.name,
            run_name=f"{spec.name}-train",
            params={
                **used_params,
                "split.method": spec.data.split.method,
                "split.test_size": spec.data.split.test_size,
                "split.seed": spec.data.split.seed,
                "split.holdout_size": spec.data.split.holdout_size or "none",
                **{f"split.{part}_rows": rows for part, rows in sizes.items()},
                "trainer.entrypoint": spec.trainer.entrypoint,
            },
            metrics=metrics,
            tags=run_tags,
            artifacts={
                "model": model_dir,
                "riskops": spec_dir,
                "data": snapshot.path,
                **({"data_out_of_time": oot_snapshot.path} if oot_snapshot else {}),
            },
        )
        registered = ctx.registry.register(
            spec.name,
            run_id=run_id,
            source=f"{artifact_uri}/model",
            tags={**lineage_tags, "riskops.digest": digest},
        )
    ref = ModelRef(spec.name, registered.version)
    # From here on MLflow holds the version; if anything below fails, riskops records nothing
    # and the MLflow version is tagged abandoned (never deleted: MLflow would not reuse its
    # number, and the next training counts on that).
    with _abandoned_on_failure(ctx, ref):
        if registered.version != expected_version:
            raise ConflictError(
                f"MLflow numbered the new version {ref}, but its reference profile was fitted for "
                f"version {expected_version}: another version of {spec.name} was registered at the "
                "same time.",
                model_ref=str(ref),
                hint=f"Nothing was recorded in riskops; train again: riskops train {spec_path} "
                "--as <developer>",
            )
        with ctx.registry.downloaded_version(spec.name, registered.version) as stored:
            stored_digest = directory_digest(stored)
        if stored_digest != digest:
            raise IntegrityError(
                f"MLflow returned {ref} with digest {stored_digest}, not the {digest} that was logged.",
                hint="The artifact store altered or truncated the model; check it before retrying.",
            )

        with ctx.store.transaction() as session:
            now = ctx.clock()
            model_row = session.get(ModelRecord, spec.name)
            if model_row is None:
                session.add(
                    ModelRecord(
                        name=spec.name,
                        risk_tier=spec.risk_tier,
                        owner=spec.owner,
                        intended_use=spec.intended_use,
                        created_at=now,
                        updated_at=now,
                    )
                )
            else:
                model_row.risk_tier = spec.risk_tier
                model_row.owner = spec.owner
                model_row.intended_use = spec.intended_use
                model_row.updated_at = now
            clash = session.execute(
                select(ModelVersionRecord.id).where(
                    ModelVersionRecord.model_name == spec.name,
                    ModelVersionRecord.version == registered.version,
                )
            ).first()
            if clash is not None:
                raise ConflictError(
                    f"MLflow numbered the new version {ref}, but the riskops store already has {ref}: "
                    "the two stores belong to different workspaces.",
                    model_ref=str(ref),
                    hint="Point MLFLOW_TRACKING_URI and RISKOPS_DATABASE_URL at the same workspace: "
                    "riskops doctor",
                )
            session.flush()
            session.add(
                ModelVersionRecord(
                    model_name=spec.name,
                    version=registered.version,
                    state=State.CANDIDATE.value,
                    digest=digest,
                    artifact_uri=registered.source,
                    mlflow_run_id=run_id,
                    flavor=flavor,
                    data_fingerprint=snapshot.fingerprint,
                    data_source=str(data_path),
                    data_rows=snapshot.rows,
                    code_commit=lineage.commit,
                    code_dirty=lineage.dirty,
                    code_diff_sha256=lineage.diff_sha256,
                    trainer_sha256=lineage.trainer_sha256,
                    spec_sha256=f"sha256:{loaded.sha256}",
                    spec_yaml=loaded.text,
                    spec_path=str(loaded.path),
                    params=used_params,
                    metrics=metrics,
                    packages=packages,
                    trained_by=who,
                    created_at=now,
                    updated_at=now,
                )
            )
            record(
                session,
                actor=who,
                role=role.value,
                action="version.registered",
                object_type="model_version",
                object_id=str(ref),
                payload={
                    "digest": digest,
                    "data_fingerprint": snapshot.fingerprint,
                    "code_commit": lineage.commit,
                    "code_dirty": lineage.dirty,
                    "code_diff_sha256": lineage.diff_sha256,
                    "trainer_sha256": lineage.trainer_sha256,
                    "spec_sha256": f"sha256:{loaded.sha256}",
                    "profile_sha256": profile_sha256,
                    "mlflow_run_id": run_id,
                    "artifact_uri": registered.source,
                    "flavor": flavor,
                    "data_rows": snapshot.rows,
                    "params": used_params,
                    "metrics": metrics,
                },
                at=now,
            )
    return TrainResult(
        ref=ref,
        digest=digest,
        run_id=run_id,
        metrics=metrics,
        data_fingerprint=snapshot.fingerprint,
        code_commit=lineage.commit,
        code_dirty=lineage.dirty,
        flavor=flavor,
    )
