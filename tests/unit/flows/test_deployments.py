"""The scheduled deployments are built without a server: their flow, schedule and parameters."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from riskops.config import Settings
from riskops.errors import InputError
from riskops.flows.deployments import (
    HOURLY,
    MONTHLY,
    monitoring_deployment,
    retrain_deployment,
    serve,
)
from tests.conftest import SPEC


def test_the_monitoring_deployment_runs_hourly_by_default(tmp_path: Path) -> None:
    deployment = monitoring_deployment("credit-scoring", workspace=tmp_path / "ws")
    assert deployment.name == "monitor-credit-scoring-production"
    assert deployment.flow_name == "monitoring-run"
    assert deployment.entrypoint == "riskops.flows.pipelines.monitoring_run_flow"
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == HOURLY == "5 * * * *"
    assert deployment.parameters == {
        "model": "credit-scoring",
        "workspace": str((tmp_path / "ws").absolute()),
        "environment": "production",
        "window": "24h",
        "webhook": None,
        "retries": 2,
        "retry_delay_seconds": 30.0,
    }
    assert set(deployment.tags) == {"riskops", "monitoring"}


def test_the_retrain_deployment_runs_monthly_by_default() -> None:
    deployment = retrain_deployment(SPEC, trained_by="alice", validated_by="victor")
    assert deployment.name == "retrain-credit_scoring"
    assert deployment.flow_name == "train-and-validate"
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == MONTHLY == "0 3 1 * *"
    assert deployment.parameters["spec_path"] == str(SPEC)
    assert deployment.parameters["workspace"] is None  # RISKOPS_HOME when the run starts
    assert (deployment.parameters["trained_by"], deployment.parameters["validated_by"]) == (
        "alice",
        "victor",
    )


def test_a_schedule_may_be_an_interval_or_another_cron() -> None:
    every = monitoring_deployment("credit-scoring", interval=timedelta(minutes=30), window="1h")
    assert every.schedules[0].schedule.interval == timedelta(minutes=30)
    weekly = retrain_deployment(
        SPEC, trained_by="alice", validated_by="victor", cron="0 2 * * 1", name="weekly"
    )
    assert (weekly.name, weekly.schedules[0].schedule.cron) == ("weekly", "0 2 * * 1")


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: monitoring_deployment("credit-scoring", cron="every hour"), "not a cron schedule"),
        (
            lambda: monitoring_deployment(
                "credit-scoring", cron=HOURLY, interval=timedelta(hours=1)
            ),
            "either a cron schedule or an interval, not both",
        ),
        (
            lambda: monitoring_deployment("credit-scoring", interval=timedelta(0)),
            "interval must be a positive timedelta",
        ),
        (lambda: monitoring_deployment("credit-scoring", window="1w"), "not a duration"),
        (lambda: monitoring_deployment(""), "model to monitor is required"),
        (
            lambda: retrain_deployment("nowhere/model.yaml", trained_by="a", validated_by="b"),
            "No model spec at",
        ),
        (
            lambda: retrain_deployment(SPEC, trained_by="alice", validated_by=""),
            "validated_by is required",
        ),
        (lambda: retrain_deployment(SPEC, trained_by="a", validated_by="b", retries=99), "retries"),
        (lambda: serve(), "Nothing to serve"),
    ],
)
def test_bad_deployment_options_are_refused(build: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        build()  # type: ignore[operator]


def test_a_deployment_runs_its_flow_from_its_entrypoint_and_parameters(
    workspace: Settings,
) -> None:
    """What a served deployment does when its run comes due: load the flow by its module
    path and call it with the stored parameters."""
    import json

    from prefect.flow_engine import run_flow
    from prefect.flows import load_flow_from_entrypoint

    deployment = monitoring_deployment("credit-scoring", workspace=workspace.home)
    flow = load_flow_from_entrypoint(deployment.entrypoint)
    parameters = json.loads(json.dumps(deployment.parameters))  # as the API stores them
    result = run_flow(flow, parameters=parameters)
    assert result["run_id"] == 1
    assert result["environment"] == "production"
