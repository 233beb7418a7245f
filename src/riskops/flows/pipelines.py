"""The flows: train → validate, batch scoring, and the monitoring run.

Each task opens the workspace (``workspace``: its folder; None reads ``RISKOPS_HOME`` like the
CLI), calls one service function and returns a small JSON dict, which Prefect keeps as the
task's and the flow's result (``persist_result``, JSON). Tasks never use Prefect's cache: a
monthly retrain on the same spec must train again, not hand back last month's result.

**Retries.** Every task retries only transient failures (:mod:`riskops.flows.retries`):
``retries`` times (default 2), ``retry_delay_seconds`` apart (default 30). A spec error, a
missing role or a version in the wrong state fails the flow at once.

**What a failure leaves.** The flow run ends ``Failed`` in Prefect with the error; riskops
records a ``pipeline.failed`` event in the audit chain naming the pipeline, the step, what it
ran on, the error and its hint, the number of attempts and the flow run
(:mod:`riskops.governance.pipeline_runs`). Each service writes its own result in one
transaction, so a failed step writes nothing else: a training that fails registers no version;
a validation that fails leaves the trained version a ``candidate``, which cannot be approved or
deployed, with no gate results; a monitoring run that fails stores no run and touches no alert;
a batch job writes each partition under a temporary name and renames it whole, so a retry (or a
rerun) keeps the partitions already written with the same digests and writes only the rest.
When the store itself is down the audit event cannot be written either; the flow run's state
and log in Prefect are then the record.

A blocking gate that fails is not a failed step: the validation completes, the version is
``rejected`` and recorded as such, and the flow returns ``"passed": false``.

Example::

    train_and_validate_flow("models/credit_scoring/model.yaml", ".riskops",
                            trained_by="alice", validated_by="victor")
    monitoring_run_flow("credit-scoring", ".riskops", environment="production", window="24h")
    batch_score_flow("credit-scoring", "applications.parquet", "scored/", ".riskops",
                     environment="production", actor="oscar")
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from prefect import flow, runtime, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State

from riskops.config import load_settings
from riskops.context import Context, open_context
from riskops.errors import ConfigError, InputError, RiskopsError
from riskops.flows.retries import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_DELAY_SECONDS,
    check_retries,
    retry_transient,
)
from riskops.governance.pipeline_runs import PipelineFailure, record_failure

log = logging.getLogger(__name__)

TRAIN_AND_VALIDATE = "train-and-validate"
MONITORING_RUN = "monitoring-run"
BATCH_SCORE = "batch-score"
_ATTEMPT = "riskops_attempt"  # set on a step's error: which attempt raised it

T = TypeVar("T")


@contextmanager
def workspace_context(workspace: str | Path | None) -> Iterator[Context]:
    """The workspace at ``workspace`` (None: ``RISKOPS_HOME`` or ``./.riskops``), opened for
    one step and closed after it."""
    ctx = open_context(load_settings(home=workspace))
    try:
        yield ctx
    finally:
        ctx.close()


def _step(name: str) -> Callable[[Callable[..., T]], Any]:
    """A riskops task: transient failures retried, JSON result kept, never cached; an error it
    raises carries the attempt that raised it (Prefect's API records the count only later)."""

    def decorate(fn: Callable[..., T]) -> Any:
        @functools.wraps(fn)
        def attempt(*args: Any, **kwargs: Any) -> T:
            try:
                return fn(*args, **kwargs)
            except BaseException as exc:
                setattr(exc, _ATTEMPT, runtime.task_run.run_count)
                raise

        return task(
            name=name,
            retries=DEFAULT_RETRIES,
            retry_delay_seconds=DEFAULT_RETRY_DELAY_SECONDS,
            retry_condition_fn=retry_transient,
            cache_policy=NO_CACHE,
            persist_result=True,
            result_serializer="json",
        )(attempt)

    return decorate


def prefect_api_url() -> str:
    """The Prefect API the flows report to (``PREFECT_API_URL``, or the active Prefect
    profile's), or ConfigError saying how to set one.

    Without one, Prefect would start a temporary server from this environment, and Prefect's
    server needs an older FastAPI than riskops serves with (docs/flows.md): the server runs
    from its own environment, or Prefect Cloud is used.
    """
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise ConfigError(
            "The riskops flows need a Prefect API to report to, and none is set.",
            hint="Start one from its own environment (pipx run prefect server start) and "
            "export PREFECT_API_URL=http://127.0.0.1:4200/api, or log in to Prefect Cloud; "
            "see docs/flows.md.",
        )
    return str(url)


# -- the tasks -----------------------------------------------------------------------------


@_step("train")
def train_step(
    spec_path: str, workspace: str | None, actor: str, params: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Train the spec's model and register a candidate (:func:`riskops.training.pipeline.train`)."""
    from riskops.training.pipeline import train

    with workspace_context(workspace) as ctx:
        return train(ctx, spec_path, actor=actor, params=params, progress=log.info).as_dict()


@_step("validate")
def validate_step(ref: str, workspace: str | None, actor: str) -> dict[str, Any]:
    """Run the gates on ``ref`` (:func:`riskops.validation.run.validate`); the gate summary."""
    from riskops.registry.versions import parse_ref
    from riskops.validation.run import validate

    with workspace_context(workspace) as ctx:
        outcome = validate(ctx, parse_ref(ref), actor=actor, progress=log.info)
    return {
        "model": str(outcome.ref),
        "passed": outcome.passed,
        "state": outcome.state.value,
        "champion": str(outcome.champion) if outcome.champion else None,
        "failed_gates": [r.gate for r in outcome.results if r.blocks],
        "gates": {
            r.gate: {"passed": r.passed, "severity": r.severity, "value": r.value}
            for r in outcome.results
        },
    }


@_step("monitor")
def monitor_step(
    model: str, workspace: str | None, environment: str, window: str, webhook: str | None
) -> dict[str, Any]:
    """One monitoring run (:func:`riskops.monitoring.runs.run_monitoring`), as the CLI's
    ``monitor run`` does it; its summary without the per-feature results (stored with the run)."""
    from riskops.monitoring.notifiers import Notifier, WebhookNotifier
    from riskops.monitoring.runs import run_monitoring
    from riskops.monitoring.windows import parse_window

    span = parse_window(window)
    with workspace_context(workspace) as ctx:
        url = webhook or ctx.settings.alert_webhook
        notifiers: list[Notifier] = [WebhookNotifier(url)] if url else []
        run = run_monitoring(
            ctx,
            model,
            environment=environment,
            window=span,
            notifiers=notifiers,
            runbook_base=ctx.settings.runbook_base,
        )
    return {
        "kind": run.kind,
        "run_id": run.run_id,
        "model": run.model,
        "environment": run.environment,
        "window_start": run.window_start.isoformat(),
        "window_end": run.window_end.isoformat(),
        "results_sha256": run.results_sha256,
        "audit_seq": run.audit_seq,
        "breaches": list(run.results.get("breaches", [])),
        "fired": [f"{n.alert} on {n.labels.get('target', model)}" for n in run.fired],
        "resolved": [f"{n.alert} on {n.labels.get('target', model)}" for n in run.resolved],
        "actions": list(run.actions),
        "undelivered": list(run.undelivered),
    }


@_step("batch score")
def batch_step(
    target: str,
    workspace: str | None,
    actor: str,
    input: str,
    output: str,
    environment: str | None,
    engine: str,
) -> dict[str, Any]:
    """Score a file (:func:`riskops.batch.local.score_file`); the sealed run record."""
    from riskops.batch.local import score_file

    with workspace_context(workspace) as ctx:
        run = score_file(
            ctx,
            target,
            input,
            output,
            actor=actor,
            environment=environment,
            engine=engine,  # type: ignore[arg-type]
        )
    return run.as_dict()


# -- running a step and recording its failure ----------------------------------------------


def _run_step(
    step: Any,
    *,
    pipeline: str,
    subject: str,
    workspace: str | None,
    retries: int,
    retry_delay_seconds: float,
    **arguments: Any,
) -> dict[str, Any]:
    """Run ``step`` on ``arguments`` with this flow's retry options; if it fails for good,
    record the failure (:func:`record_failure`) and raise the step's error, which fails the
    flow run."""
    state: State[Any] = step.with_options(retries=retries, retry_delay_seconds=retry_delay_seconds)(
        workspace=workspace, return_state=True, **arguments
    )
    if not state.is_failed():
        result: dict[str, Any] = state.result()
        return result
    error = state.result(raise_on_failure=False)
    if not isinstance(error, BaseException):  # a failed state without an exception
        error = RuntimeError(state.message or f"the {step.name} step failed")
    failure = PipelineFailure.of(
        error,
        pipeline=pipeline,
        step=step.name,
        subject=subject,
        attempts=getattr(error, _ATTEMPT, None),
        run_id=str(runtime.flow_run.id) if runtime.flow_run.id else None,
        run_name=runtime.flow_run.name,
        actor=arguments.get("actor"),
    )
    try:
        with workspace_context(workspace) as ctx:
            seq = record_failure(ctx, failure)
        log.error(
            "%s: the %s step on %s failed (%s); recorded as audit event %d",
            pipeline,
            step.name,
            subject,
            failure.code,
            seq,
        )
    except RiskopsError as exc:  # the store is down too: the flow run's state is the record
        log.error("%s: the failure of %s could not be recorded: %s", pipeline, step.name, exc)
    raise error


def _required(value: str | None, what: str, hint: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what} is required, not {value!r}.", hint=hint)
    return value.strip()


# -- the flows -----------------------------------------------------------------------------


@flow(name=TRAIN_AND_VALIDATE, persist_result=True, result_serializer="json", log_prints=False)
def train_and_validate_flow(
    spec_path: str,
    workspace: str | None = None,
    *,
    trained_by: str,
    validated_by: str,
    params: dict[str, Any] | None = None,
    retries: int = DEFAULT_RETRIES,
    retry_delay_seconds: float = DEFAULT_RETRY_DELAY_SECONDS,
) -> dict[str, Any]:
    """Train the model of the spec at ``spec_path`` as ``trained_by`` (a developer), then
    validate the new version as ``validated_by`` (a validator; never the same person).

    Returns ``{"model": "credit-scoring@7", "passed": …, "state": "validated" | "rejected",
    "training": {...}, "validation": {...}}``. Sign-off and deployment stay with people
    (``riskops approve``, ``riskops deploy``).
    """
    check_retries(retries, retry_delay_seconds)
    spec = _required(spec_path, "spec_path", "Pass the path of the model's model.yaml.")
    developer = _required(trained_by, "trained_by", "Name a developer from riskops.toml.")
    validator = _required(validated_by, "validated_by", "Name a validator from riskops.toml.")
    trained = _run_step(
        train_step,
        pipeline=TRAIN_AND_VALIDATE,
        subject=spec,
        workspace=workspace,
        retries=retries,
        retry_delay_seconds=retry_delay_seconds,
        actor=developer,
        spec_path=spec,
        params=params,
    )
    ref = trained["model"]
    validated = _run_step(
        validate_step,
        pipeline=TRAIN_AND_VALIDATE,
        subject=ref,
        workspace=workspace,
        retries=retries,
        retry_delay_seconds=retry_delay_seconds,
        actor=validator,
        ref=ref,
    )
    return {
        "model": ref,
        "passed": validated["passed"],
        "state": validated["state"],
        "training": trained,
        "validation": validated,
    }


@flow(name=MONITORING_RUN, persist_result=True, result_serializer="json", log_prints=False)
def monitoring_run_flow(
    model: str,
    workspace: str | None = None,
    *,
    environment: str = "production",
    window: str = "24h",
    webhook: str | None = None,
    retries: int = DEFAULT_RETRIES,
    retry_delay_seconds: float = DEFAULT_RETRY_DELAY_SECONDS,
) -> dict[str, Any]:
    """One monitoring run of ``model`` in ``environment`` over the last ``window`` (``90m``,
    ``24h``, ``7d``), alerts sent to ``webhook`` (default: the workspace's ``alert_webhook``).

    Returns the run's summary: its id, window, results hash, audit event, breaches, the
    alerts it fired and resolved and the actions it took (a rollback, by the spec's rule).
    """
    check_retries(retries, retry_delay_seconds)
    name = _required(model, "model", "Pass the model's name, e.g. credit-scoring.")
    return _run_step(
        monitor_step,
        pipeline=MONITORING_RUN,
        subject=f"{name} in {environment}",
        workspace=workspace,
        retries=retries,
        retry_delay_seconds=retry_delay_seconds,
        model=name,
        environment=environment,
        window=window,
        webhook=webhook,
    )


@flow(name=BATCH_SCORE, persist_result=True, result_serializer="json", log_prints=False)
def batch_score_flow(
    target: str,
    input: str,
    output: str,
    workspace: str | None = None,
    *,
    actor: str,
    environment: str | None = None,
    engine: str = "local",
    retries: int = DEFAULT_RETRIES,
    retry_delay_seconds: float = DEFAULT_RETRY_DELAY_SECONDS,
) -> dict[str, Any]:
    """Score the Parquet or CSV file ``input`` into the folder ``output`` with ``target``
    (``NAME@VERSION``, or ``NAME`` with ``environment`` for the version serving there) as
    ``actor`` (an operator), on the ``local`` or ``spark`` engine.

    Returns the run record sealed in the audit chain: rows, rejects, wall time, rows/s,
    CPU-seconds, peak memory and the output's sha256. A retry resumes: partitions already
    written with the same digests are kept.
    """
    check_retries(retries, retry_delay_seconds)
    model = _required(target, "target", "Pass NAME@VERSION, or NAME with environment.")
    operator = _required(actor, "actor", "Name an operator from riskops.toml.")
    return _run_step(
        batch_step,
        pipeline=BATCH_SCORE,
        subject=model if environment is None else f"{model} in {environment}",
        workspace=workspace,
        retries=retries,
        retry_delay_seconds=retry_delay_seconds,
        target=model,
        actor=operator,
        input=_required(input, "input", "Pass the Parquet or CSV file to score."),
        output=_required(output, "output", "Pass the folder to write the scores to."),
        environment=environment,
        engine=engine,
    )
