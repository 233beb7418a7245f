"""The end-to-end demo on the embedded defaults: two versions of the credit-scoring model go
through training, validation, the validator's findings and opinion, two sign-offs with the
condition "monitoring live before production" (met by starting monitoring first), deployment
and a rollback; the fraud-detection and
transaction-risk models are trained, validated, signed off and deployed beside it; a real
``riskops serve`` answers one decision of each kind over HTTP (the transaction's history looked
up in the online store, backfilled from its training data); one batch job scores a file; and the
audit chain is verified. It only calls the same service functions the CLI calls.

With ``drift=True`` version 2 goes back into production and the drift walk follows
(:mod:`riskops.demo.drift`): a real ``riskops serve``, monitoring, injected drift, an alert with
its runbook and the automatic rollback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from riskops.audit.verification import AuditReport, verify_audit
from riskops.config import Settings, load_settings
from riskops.context import Context, open_context
from riskops.demo.challenge import challenge_and_approve
from riskops.demo.drift import DriftSummary, drift_walk
from riskops.demo.serving import serve_one_of_each
from riskops.documents.monitoring import write_monitoring_report
from riskops.documents.render import render_documents
from riskops.errors import ConflictError, InputError
from riskops.governance.deployments import deploy, rollback
from riskops.monitoring.runs import MONITOR_ACTOR
from riskops.registry.versions import ModelRef
from riskops.spec import load_spec
from riskops.store import open_store
from riskops.store.tables import ModelRecord
from riskops.training.pipeline import train
from riskops.validation.gate import summary_line
from riskops.validation.run import validate
from riskops.workspace import DEMO_PEOPLE, init_workspace, reset_workspace

DEFAULT_SPEC = Path("models/credit_scoring/model.yaml")
OTHER_SPECS = (
    Path("models/fraud_detection/model.yaml"),
    Path("models/transaction_risk/model.yaml"),
)
"""The other kinds the default demo walks beside credit scoring (one version each)."""
V2_PARAMS = {"n_estimators": 300, "learning_rate": 0.02, "num_leaves": 6}

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class DemoStep:
    what: str
    model: str
    actor: str
    outcome: str
    at: datetime


@dataclass
class DemoSummary:
    settings: Settings
    steps: list[DemoStep] = field(default_factory=list)
    versions: dict[int, dict[str, Any]] = field(default_factory=dict)
    audit: AuditReport | None = None
    seconds: float = 0.0
    production_history: list[tuple[datetime, int]] = field(default_factory=list)
    documents: list[Path] = field(default_factory=list)
    drift: DriftSummary | None = None
    monitoring_report: Path | None = None
    models: list[str] = field(default_factory=list)
    served: list[dict[str, Any]] = field(default_factory=list)
    batch: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "home": str(self.settings.home),
            "database_url": self.settings.database_url,
            "mlflow_tracking_uri": self.settings.mlflow_tracking_uri,
            "artifact_root": self.settings.artifact_root,
            "steps": [
                {
                    "what": s.what,
                    "model": s.model,
                    "actor": s.actor,
                    "outcome": s.outcome,
                    "at": s.at.isoformat(),
                }
                for s in self.steps
            ],
            "versions": self.versions,
            "models": self.models,
            "served": self.served,
            "batch": self.batch,
            "audit": self.audit.as_dict() if self.audit else None,
            "documents": [str(p) for p in self.documents],
            "drift": self.drift.as_dict() if self.drift is not None else None,
            "monitoring_report": None
            if self.monitoring_report is None
            else str(self.monitoring_report),
            "seconds": self.seconds,
        }


def run_demo(
    settings: Settings,
    *,
    reset: bool = False,
    spec_path: Path = DEFAULT_SPEC,
    progress: Progress = _quiet,
    drift: bool = False,
    others: Sequence[Path] = (),
) -> DemoSummary:
    """Build the demo workspace at ``settings.home`` and walk the whole lifecycle in it: two
    versions of ``spec_path``'s model with a rollback, one version of each of ``others``, one
    decision of each model over HTTP and one batch job; with ``drift``, then the drift walk
    (:func:`riskops.demo.drift.drift_walk`)."""
    started = time.perf_counter()
    for path in (spec_path, *others):
        if not path.is_file():
            raise InputError(
                f"The demo's model spec {path} is not here.",
                hint="Run the demo from the riskops checkout (where models/ is), or pass "
                "--spec PATH.",
            )
        load_spec(path)  # a broken spec fails here, before the workspace is touched
    name = load_spec(spec_path).spec.name
    home = settings.home
    if reset:
        if not settings.is_embedded:
            raise ConflictError(
                "--reset deletes the embedded workspace folder; this workspace uses external "
                "stores, which the demo will not wipe.",
                hint="Unset RISKOPS_DATABASE_URL / MLFLOW_TRACKING_URI, or use an empty database.",
            )
        reset_workspace(home)
    elif home.exists() and any(home.iterdir()):
        raise ConflictError(
            f"The workspace {home} is not empty; the demo builds a fresh one.",
            hint="Rerun with --reset to replace it (make demo does), or set RISKOPS_HOME to "
            "another folder.",
        )
    if not settings.is_embedded:
        store = open_store(settings.database_url)
        with store.reading() as session:
            taken = session.query(ModelRecord).count()
        store.dispose()
        if taken:
            raise ConflictError(
                "The configured riskops database already holds models; the demo needs an empty one.",
                hint="Point RISKOPS_DATABASE_URL at an empty database.",
            )
    progress(f"Creating the workspace in {home}")
    people = {**DEMO_PEOPLE, MONITOR_ACTOR: ["operator"]} if drift else DEMO_PEOPLE
    init_workspace(home, force=True, people=people)
    settings = load_settings(home=home)
    ctx = open_context(settings)
    summary = DemoSummary(settings=settings)
    try:
        _walk(ctx, spec_path, summary, progress)
        summary.models.append(name)
        for other in others:
            summary.models.append(_walk_one(ctx, other, summary, progress))
        summary.served = serve_one_of_each(ctx, [spec_path, *others], progress)
        summary.batch = _batch_job(ctx, name, spec_path, progress)
        if drift:
            _drift(ctx, spec_path, summary, progress)
        progress("Writing the validation reports, model cards and Annex IV packs")
        for number in summary.versions:
            summary.documents += render_documents(ctx, ModelRef(name, number), home / "reports")
        for beside in summary.models[1:]:
            summary.documents += render_documents(ctx, ModelRef(beside, 1), home / "reports")
        if drift:
            progress("Writing the monitoring report")
            summary.monitoring_report = write_monitoring_report(
                ctx,
                name,
                home / "reports" / f"{name}-production-monitoring.html",
            )
        progress("Verifying the audit chain")
        summary.audit = verify_audit(ctx.store, ctx.settings.audit, now=ctx.clock)
    finally:
        ctx.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _walk(ctx: Context, spec_path: Path, summary: DemoSummary, progress: Progress) -> None:
    def step(what: str, model: str, actor: str, outcome: str) -> None:
        summary.steps.append(DemoStep(what, model, actor, outcome, ctx.clock()))

    for number, params in ((1, None), (2, V2_PARAMS)):
        progress(f"Training version {number}" + (f" with {params}" if params else ""))
        trained = train(ctx, spec_path, actor="alice", params=params, progress=progress)
        ref = trained.ref
        step(
            "train",
            str(ref),
            "alice",
            f"candidate, validation AUC {trained.metrics['validation_auc']:.3f}",
        )
        progress(f"Validating {ref}")
        outcome = validate(ctx, ref, actor="victor", progress=progress)
        failed = [r.gate for r in outcome.results if not r.passed]
        against = f" vs champion {outcome.champion}" if outcome.champion else ""
        step(
            "validate",
            str(ref),
            "victor",
            f"{outcome.state}: {summary_line(outcome.results)}{against}",
        )
        if not outcome.passed:
            raise ConflictError(f"The demo's {ref} failed its gates: {', '.join(failed)}")
        challenge_and_approve(
            ctx,
            ref,
            outcome.results,
            step,
            validator_note="Gates reviewed; conceptually sound for the demo.",
            approval_note="Approved for production within the refer band.",
        )
        deployed = deploy(ctx, ref, environment="production", actor="oscar", reason="demo release")
        summary.production_history.append((deployed.at, ref.version))
        step("deploy", str(ref), "oscar", "production (MLflow alias 'champion')")
        summary.versions[number] = {
            "params": params or "spec defaults",
            "validation_auc": trained.metrics["validation_auc"],
            "digest": trained.digest,
            "champion_compared": str(outcome.champion) if outcome.champion else None,
        }
    progress("Rolling production back to version 1")
    rolled = rollback(
        ctx,
        ref.name,
        environment="production",
        actor="oscar",
        reason="demo: return to the previous champion",
    )
    summary.production_history.append((rolled.at, rolled.ref.version))
    step(
        "rollback",
        str(ModelRef(ref.name, rolled.ref.version)),
        "oscar",
        f"production back to v{rolled.ref.version} (from v{rolled.previous_version})",
    )


def _walk_one(ctx: Context, spec_path: Path, summary: DemoSummary, progress: Progress) -> str:
    """One version of another model: train, validate, both sign-offs, deploy to production."""

    def step(what: str, model: str, actor: str, outcome: str) -> None:
        summary.steps.append(DemoStep(what, model, actor, outcome, ctx.clock()))

    progress(f"Training {spec_path.parent.name}")
    trained = train(ctx, spec_path, actor="alice", progress=progress)
    ref = trained.ref
    step(
        "train",
        str(ref),
        "alice",
        f"candidate, validation AUC {trained.metrics['validation_auc']:.3f}",
    )
    progress(f"Validating {ref}")
    outcome = validate(ctx, ref, actor="victor", progress=progress)
    failed = [r.gate for r in outcome.results if not r.passed]
    step(
        "validate",
        str(ref),
        "victor",
        f"{outcome.state}: {summary_line(outcome.results)}",
    )
    if not outcome.passed:
        raise ConflictError(f"The demo's {ref} failed its gates: {', '.join(failed)}")
    challenge_and_approve(
        ctx,
        ref,
        outcome.results,
        step,
        validator_note="Gates reviewed for the demo.",
        approval_note="Approved for production within the review band.",
    )
    deploy(ctx, ref, environment="production", actor="oscar", reason="demo release")
    step("deploy", str(ref), "oscar", "production (MLflow alias 'champion')")
    return ref.name


def _batch_job(ctx: Context, model: str, spec_path: Path, progress: Progress) -> dict[str, Any]:
    """Score the model's reference rows as a batch job on the production version."""
    from riskops.batch.local import Options, score_file

    loaded = load_spec(spec_path)
    source = loaded.resolve(loaded.spec.data.source)
    out = ctx.settings.home / "batch" / model
    progress(f"Batch scoring {source.name} with {model} in production")
    # A thousand rows: one worker, no process pool to start.
    run = score_file(
        ctx,
        model,
        source,
        out,
        environment="production",
        actor="oscar",
        options=Options(workers=1),
    )
    return run.as_dict()


def _drift(ctx: Context, spec_path: Path, summary: DemoSummary, progress: Progress) -> None:
    """Version 2 back into production, then the drift walk; its rollback joins the history."""
    model = load_spec(spec_path).spec.name
    progress("Deploying version 2 to production again for the drift walk")
    deployed = deploy(
        ctx,
        ModelRef(model, 2),
        environment="production",
        actor="oscar",
        reason="demo: v2 back in production for the drift walk",
    )
    summary.production_history.append((deployed.at, 2))
    summary.steps.append(DemoStep("deploy", f"{model}@2", "oscar", "production", ctx.clock()))
    walked = drift_walk(ctx, model, spec_path, progress=progress)
    summary.drift = walked
    if walked.rolled_back_to is not None and walked.rolled_back_to != 2:
        summary.production_history.append((ctx.clock(), walked.rolled_back_to))
        summary.steps.append(
            DemoStep(
                "rollback (monitoring rule)",
                f"{model}@{walked.rolled_back_to}",
                MONITOR_ACTOR,
                f"critical prediction drift after {walked.waves} drifted wave(s): production "
                f"back to v{walked.rolled_back_to}",
                ctx.clock(),
            )
        )
