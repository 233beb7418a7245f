"""Reproducing a registered version: retrain it from its records and compare the predictions.

The inputs are the ones recorded at training: the data snapshot stored with the MLflow run
(checked against its fingerprint), the spec text, the trainer params, and the trainer found
beside the spec where it was (``model_versions.spec_path``, or ``--spec`` when it moved). What
may have changed since — the trainer file, the git commit, the installed packages — is
compared with the records and reported, not refused. The fresh model and the registered one
(loaded only if its digest matches) score the same validation rows, and

    max_abs_difference = max_i |p_fresh(x_i) - p_registered(x_i)|

decides the verdict: ``bit-for-bit`` when every prediction is identical, ``within tolerance``
when the difference is at most 1e-9, ``mismatch`` otherwise. Nothing is registered in MLflow;
the reproduction is an audit event (``version.reproduced``).

Example::

    result = reproduce(ctx, ModelRef("credit-scoring", 1), actor="victor")
    result.verdict  # 'bit-for-bit'
"""

from __future__ import annotations

import getpass
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from riskops.audit import record
from riskops.config import Role
from riskops.context import Context
from riskops.datasets.prepared import prepare
from riskops.datasets.snapshot import load_snapshot
from riskops.errors import InputError, IntegrityError
from riskops.governance.roles import require_role
from riskops.registry.artifacts import load_verified_model
from riskops.registry.flavors import flavor_of, predict_proba
from riskops.registry.lineage import code_lineage, package_versions
from riskops.registry.versions import ModelRef, get_version
from riskops.spec import LoadedSpec, parse_spec
from riskops.store.tables import ModelVersionRecord
from riskops.training.trainer import resolve_trainer

TOLERANCE = 1e-9
Verdict = Literal["bit-for-bit", "within tolerance", "mismatch"]
Progress = Callable[[str], None]

NONDETERMINISM = (
    "floating-point nondeterminism: the same sums taken in another order (threads, CPU vector "
    "instructions) round differently in the last bits"
)


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class Reproduction:
    """The outcome of retraining ``ref`` from its records."""

    kind: ClassVar[str] = "riskops.reproduction@1"

    ref: ModelRef
    verdict: Verdict
    max_abs_difference: float
    rows: int
    tolerance: float
    reason: str
    differences: tuple[str, ...]
    data_fingerprint: str
    trainer_file: str | None

    @property
    def matches(self) -> bool:
        return self.verdict != "mismatch"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": str(self.ref),
            "verdict": self.verdict,
            "matches": self.matches,
            "max_abs_difference": self.max_abs_difference,
            "rows": self.rows,
            "tolerance": self.tolerance,
            "reason": self.reason,
            "differences": list(self.differences),
            "data_fingerprint": self.data_fingerprint,
            "trainer_file": self.trainer_file,
        }


def reproduce(
    ctx: Context,
    ref: ModelRef,
    *,
    actor: str | None = None,
    spec_path: Path | str | None = None,
    progress: Progress = _quiet,
) -> Reproduction:
    """Retrain ``ref`` from its recorded data, spec, params and trainer, and compare its
    predictions on the validation rows with the registered model's."""
    who, role = _who(ctx, actor, ref)
    with ctx.store.reading() as session:
        version = get_version(session, ref)
    loaded, notes = _recorded_spec(version, ref, spec_path)
    spec = loaded.spec

    progress("Fetching the recorded data snapshot")
    with tempfile.TemporaryDirectory(prefix="riskops-reproduce-") as tmp:
        data_file = ctx.registry.download_run_file(
            version.mlflow_run_id, f"data/{Path(version.data_source).name}", Path(tmp)
        )
        snapshot = load_snapshot(data_file)
    if snapshot.fingerprint != version.data_fingerprint:
        raise IntegrityError(
            f"The data snapshot stored with {ref} has fingerprint {snapshot.fingerprint}, not "
            f"the recorded {version.data_fingerprint}; it cannot reproduce the version.",
            hint="The MLflow artifact store was altered; restore the snapshot from a backup.",
        )
    prepared = prepare(snapshot, spec)

    fit, trainer_file = resolve_trainer(loaded)
    trainer, repository = _code_differences(version, trainer_file)
    packages = _package_differences(version)
    differences = [*notes, *trainer, *repository, *packages]
    progress(f"Retraining with {spec.trainer.entrypoint} on {len(prepared.split.train)} rows")
    try:
        model = fit(prepared.train_features, prepared.y_train, dict(version.params))
    except Exception as exc:
        raise InputError(
            f"The trainer {spec.trainer.entrypoint} raised {type(exc).__name__}: {exc}",
            hint="The trainer no longer runs on the recorded inputs; see what changed in it.",
        ) from exc
    flavor_of(model)
    fresh = predict_proba(model, prepared.validation_matrix)

    progress(f"Scoring {len(fresh)} validation rows with the registered {ref}")
    registered = load_verified_model(
        ctx.registry, ref.name, ref.version, digest=version.digest, flavor=version.flavor
    )
    recorded = predict_proba(registered, prepared.validation_matrix)
    largest = float(np.max(np.abs(fresh - recorded))) if len(fresh) else 0.0
    if np.array_equal(fresh, recorded):
        verdict: Verdict = "bit-for-bit"
        reason = "every prediction is identical"
    elif largest <= TOLERANCE:
        verdict = "within tolerance"
        reason = f"predictions differ by at most {largest:.3g} (≤ {TOLERANCE:g}): {NONDETERMINISM}"
    else:
        verdict = "mismatch"
        reason = _likely_cause(trainer, packages, repository)

    result = Reproduction(
        ref=ref,
        verdict=verdict,
        max_abs_difference=largest,
        rows=len(fresh),
        tolerance=TOLERANCE,
        reason=reason,
        differences=tuple(differences),
        data_fingerprint=snapshot.fingerprint,
        trainer_file=str(trainer_file) if trainer_file is not None else None,
    )
    with ctx.store.transaction() as session:
        record(
            session,
            actor=who,
            role=role,
            action="version.reproduced",
            object_type="model_version",
            object_id=str(ref),
            payload={
                "verdict": verdict,
                "max_abs_difference": largest,
                "rows": result.rows,
                "tolerance": TOLERANCE,
                "reason": reason,
                "differences": list(differences),
                "data_fingerprint": snapshot.fingerprint,
                "digest": version.digest,
            },
            at=ctx.clock(),
        )
    return result


def _who(ctx: Context, actor: str | None, ref: ModelRef) -> tuple[str, str]:
    """A named person must be known; without a name the operating-system user is recorded,
    since a reproduction changes nothing but is still evidence."""
    if actor and actor.strip():
        who = actor.strip()
        return who, require_role(ctx.settings, who, *Role, doing=f"reproduce {ref}").value
    try:
        return getpass.getuser(), "os_user"
    except (OSError, KeyError):  # no login name in this environment (e.g. a bare container)
        return "unknown", "os_user"


def _recorded_spec(
    version: ModelVersionRecord, ref: ModelRef, spec_path: Path | str | None
) -> tuple[LoadedSpec, list[str]]:
    """The spec recorded with ``version``, placed where its file is (so that a trainer named
    relative to it is found), and notes on what differs from the file there now."""
    source = f"the spec recorded with {ref}"
    recorded = parse_spec(version.spec_yaml, source=source)
    needs_folder = recorded.spec.trainer.entrypoint.split(":", 1)[0].endswith(".py")
    notes: list[str] = []
    if spec_path is not None:
        where = Path(spec_path).expanduser().absolute()
        if where.is_dir():
            where = where / "model.yaml"
        if not where.parent.is_dir():
            raise InputError(
                f"--spec {spec_path}: the folder {where.parent} does not exist.",
                hint="Point --spec at the model.yaml (or its folder) beside the trainer file.",
            )
        if version.spec_path and Path(version.spec_path) != where:
            notes.append(f"the spec was at {version.spec_path} at training; used {where}")
    elif version.spec_path and Path(version.spec_path).parent.is_dir():
        where = Path(version.spec_path)
    elif needs_folder:
        missing = (
            f"its spec was at {version.spec_path}, which no longer exists"
            if version.spec_path
            else "where its spec was is not recorded (trained before riskops recorded it)"
        )
        raise InputError(
            f"Cannot find the trainer of {ref}: {missing}.",
            hint=f"Say where the spec and its {recorded.spec.trainer.entrypoint.split(':')[0]} are "
            f"now: riskops reproduce {ref} --spec PATH/model.yaml",
        )
    else:
        return recorded, notes
    if where.is_file() and where.read_text(encoding="utf-8") != version.spec_yaml:
        notes.append(f"the spec file {where} changed since training; the recorded spec was used")
    return parse_spec(version.spec_yaml, source=source, path=where), notes


def _code_differences(
    version: ModelVersionRecord, trainer_file: Path | None
) -> tuple[list[str], list[str]]:
    """What changed in the trainer file itself, and what changed in its repository."""
    now = code_lineage(trainer_file)
    trainer = []
    if now.trainer_sha256 != version.trainer_sha256:
        trainer.append(
            f"the trainer file {trainer_file} changed since training "
            f"({_short(version.trainer_sha256)} → {_short(now.trainer_sha256)})"
        )
    found = []
    if now.commit != version.code_commit:
        found.append(
            f"the code commit differs: {version.code_commit or 'not in git'} at training, "
            f"{now.commit or 'not in git'} now"
        )
    elif now.commit is not None and now.diff_sha256 != version.code_diff_sha256:
        found.append(
            "the uncommitted changes in the trainer's repository differ from those at training"
        )
    return trainer, found


def _package_differences(version: ModelVersionRecord) -> list[str]:
    now = package_versions()
    recorded = {str(k): str(v) for k, v in version.packages.items()}
    return [
        f"{name} {recorded.get(name, 'absent')} at training, {now.get(name, 'absent')} now"
        for name in sorted(set(recorded) | set(now))
        if recorded.get(name) != now.get(name)
    ]


def _likely_cause(trainer: list[str], packages: list[str], repository: list[str]) -> str:
    """The change that most plausibly explains different predictions: the trainer's own code
    first (it is the code that fits), then the packages, then the rest of the repository."""
    if trainer:
        return f"likely cause: {trainer[0]}"
    if packages:
        return "likely cause: package versions differ (" + "; ".join(packages) + ")"
    if repository:
        return f"likely cause: {repository[0]}"
    return (
        "likely cause: training is not deterministic with the recorded inputs; fix the "
        "trainer's random seed (random_state) and use one thread (n_jobs=1)"
    )


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]
