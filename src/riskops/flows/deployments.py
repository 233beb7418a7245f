"""Scheduled deployments of the flows, served by one long-running process.

:func:`monitoring_deployment` runs :func:`~riskops.flows.pipelines.monitoring_run_flow` every
hour by default (five minutes past, once the hour's aggregates are complete) over the last
24 hours; :func:`retrain_deployment` runs
:func:`~riskops.flows.pipelines.train_and_validate_flow` monthly by default (03:00 UTC on the
1st). Each is a Prefect ``RunnerDeployment`` built by ``flow.to_deployment``; :func:`serve`
registers them with the Prefect API (``PREFECT_API_URL``) and runs their flow runs in this
process as they come due (``prefect.serve``). ``riskops flows serve`` does the same from the
command line.

Example::

    serve(
        monitoring_deployment("credit-scoring", workspace="/srv/riskops"),
        retrain_deployment("models/credit_scoring/model.yaml", workspace="/srv/riskops",
                           trained_by="alice", validated_by="victor"),
    )
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from prefect import serve as prefect_serve
from prefect.deployments.runner import RunnerDeployment
from prefect.types.entrypoint import EntrypointType

from riskops.errors import InputError
from riskops.flows.pipelines import monitoring_run_flow, train_and_validate_flow
from riskops.flows.retries import DEFAULT_RETRIES, DEFAULT_RETRY_DELAY_SECONDS, check_retries
from riskops.monitoring.windows import parse_window

HOURLY = "5 * * * *"
MONTHLY = "0 3 1 * *"
TAGS = ["riskops"]


def _schedule(cron: str | None, interval: timedelta | None, default: str) -> dict[str, Any]:
    if cron is not None and interval is not None:
        raise InputError(
            "Give a deployment either a cron schedule or an interval, not both.",
            hint=f"For example cron={default!r}, or interval=timedelta(hours=1).",
        )
    if interval is not None:
        if not isinstance(interval, timedelta) or interval <= timedelta(0):
            raise InputError(
                f"The interval must be a positive timedelta, not {interval!r}.",
                hint="For example interval=timedelta(hours=1).",
            )
        return {"interval": interval}
    cron = default if cron is None else cron
    _check_cron(cron)
    return {"cron": cron}


def _check_cron(cron: str) -> None:
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron)
    except ValueError as exc:
        raise InputError(
            f"{cron!r} is not a cron schedule: {' '.join(str(exc).split())[:200]}",
            hint="Five fields: minute hour day-of-month month day-of-week, e.g. '5 * * * *' "
            "(hourly) or '0 3 1 * *' (monthly).",
        ) from None


def _workspace(workspace: str | Path | None) -> str | None:
    # A deployment's flow runs may start in another folder: pin the workspace to a full path.
    return str(Path(workspace).expanduser().absolute()) if workspace is not None else None


def monitoring_deployment(
    model: str,
    *,
    workspace: str | Path | None = None,
    environment: str = "production",
    window: str = "24h",
    webhook: str | None = None,
    cron: str | None = None,
    interval: timedelta | None = None,
    name: str | None = None,
    retries: int = DEFAULT_RETRIES,
    retry_delay_seconds: float = DEFAULT_RETRY_DELAY_SECONDS,
) -> RunnerDeployment:
    """A deployment of the monitoring run of ``model`` in ``environment`` over the last
    ``window``, on ``cron`` (default ``5 * * * *``, hourly) or every ``interval``; named
    ``name`` (default ``monitor-<model>-<environment>``)."""
    if not isinstance(model, str) or not model.strip():
        raise InputError(
            f"The model to monitor is required, not {model!r}.",
            hint="Pass the model's name, e.g. credit-scoring.",
        )
    parse_window(window)
    check_retries(retries, retry_delay_seconds)
    schedule = _schedule(cron, interval, HOURLY)
    deployment = monitoring_run_flow.to_deployment(
        name=name or f"monitor-{model.strip()}-{environment}",
        parameters={
            "model": model.strip(),
            "workspace": _workspace(workspace),
            "environment": environment,
            "window": window,
            "webhook": webhook,
            "retries": retries,
            "retry_delay_seconds": retry_delay_seconds,
        },
        description=f"Monitoring run of {model.strip()} in {environment} over the last {window}.",
        tags=[*TAGS, "monitoring"],
        entrypoint_type=EntrypointType.MODULE_PATH,
        **schedule,
    )
    return cast(RunnerDeployment, deployment)  # called outside an event loop: not a coroutine


def retrain_deployment(
    spec_path: str | Path,
    *,
    trained_by: str,
    validated_by: str,
    workspace: str | Path | None = None,
    params: dict[str, Any] | None = None,
    cron: str | None = None,
    interval: timedelta | None = None,
    name: str | None = None,
    retries: int = DEFAULT_RETRIES,
    retry_delay_seconds: float = DEFAULT_RETRY_DELAY_SECONDS,
) -> RunnerDeployment:
    """A deployment of train → validate for the spec at ``spec_path``, on ``cron`` (default
    ``0 3 1 * *``, monthly) or every ``interval``; named ``name`` (default
    ``retrain-<spec folder>``). The new version still needs its sign-offs to deploy."""
    spec = Path(spec_path).expanduser().absolute()
    if not spec.is_file():
        raise InputError(
            f"No model spec at {spec}.",
            hint="Pass the path of the model's model.yaml, e.g. models/credit_scoring/model.yaml.",
        )
    for who, value in (("trained_by", trained_by), ("validated_by", validated_by)):
        if not isinstance(value, str) or not value.strip():
            raise InputError(
                f"{who} is required, not {value!r}.",
                hint="Name a developer (trained_by) and a validator (validated_by) from "
                "riskops.toml; separation of duties needs two people.",
            )
    check_retries(retries, retry_delay_seconds)
    schedule = _schedule(cron, interval, MONTHLY)
    deployment = train_and_validate_flow.to_deployment(
        name=name or f"retrain-{spec.parent.name}",
        parameters={
            "spec_path": str(spec),
            "workspace": _workspace(workspace),
            "trained_by": trained_by.strip(),
            "validated_by": validated_by.strip(),
            "params": params,
            "retries": retries,
            "retry_delay_seconds": retry_delay_seconds,
        },
        description=f"Train and validate {spec}.",
        tags=[*TAGS, "retrain"],
        entrypoint_type=EntrypointType.MODULE_PATH,
        **schedule,
    )
    return cast(RunnerDeployment, deployment)


def serve(*deployments: RunnerDeployment, limit: int | None = None) -> None:
    """Register ``deployments`` with the Prefect API and run their flow runs as they come due,
    until interrupted (``prefect.serve``); at most ``limit`` flow runs at once."""
    if not deployments:
        raise InputError(
            "Nothing to serve: no deployment was given.",
            hint="Build one with monitoring_deployment(...) or retrain_deployment(...).",
        )
    prefect_serve(*deployments, limit=limit)
