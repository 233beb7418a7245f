"""The spec's automatic action: a critical prediction-drift alert on the version serving the
environment rolls it back through governance, as the person riskops-monitor, audited with the
run id; without the operator role the rollback is refused and the run says so."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from riskops.audit import list_events
from riskops.context import Context, open_context
from riskops.governance.deployments import serving_at
from riskops.monitoring.runs import MonitoringRun, run_monitoring
from riskops.training.pipeline import train
from riskops.workspace import init_workspace
from tests.conftest import PEOPLE, SPEC, approve_and_deploy
from tests.unit.monitoring.population import draw, reference, replay

HOUR = datetime(2026, 11, 2, 9, tzinfo=UTC)


def workspace(tmp_path: Path, people: dict[str, list[str]]) -> Iterator[Context]:
    settings = init_workspace(tmp_path / "ws", people=people)
    context = open_context(settings)
    yield context
    context.close()


@pytest.fixture
def two_versions(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Context]:
    people = {**PEOPLE, **request.param}
    for ctx in workspace(tmp_path, people):
        approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
        approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
        yield ctx


def drifted_run(ctx: Context) -> MonitoringRun:
    info = reference(persistence=1, on_critical_prediction_drift="rollback")
    # The score moves a lot: the population's income falls by one and a half std.
    columns, score = draw(np.random.default_rng(3), 4000, income_shift=-1.5)
    replay(ctx.store, info, columns, score, hour=HOUR, model="credit-scoring", version=2)
    run = run_monitoring(
        ctx,
        "credit-scoring",
        window=timedelta(hours=1),
        end=HOUR + timedelta(hours=1),
        versions=lambda session, model, version: info,
    )
    return run


@pytest.mark.parametrize("two_versions", [{"riskops-monitor": ["operator"]}], indirect=True)
def test_critical_prediction_drift_rolls_back_as_riskops_monitor(two_versions: Context) -> None:
    ctx = two_versions
    run = drifted_run(ctx)
    fired = {(n.alert, n.labels["severity"]) for n in run.fired}
    assert ("prediction-drift", "critical") in fired
    assert run.actions == ("rolled back credit-scoring in production from 2 to 1",)
    with ctx.store.reading() as session:
        serving = serving_at(session, "credit-scoring", "production")
    assert serving is not None
    assert serving.version == 1
    (event,) = list_events(ctx.store, action="deployment.rolled_back")
    assert event.actor == "riskops-monitor"
    assert f"monitoring run {run.run_id}" in event.payload["reason"]


@pytest.mark.parametrize("two_versions", [{}], indirect=True)
def test_without_the_operator_role_the_rollback_is_refused_and_said(two_versions: Context) -> None:
    ctx = two_versions
    run = drifted_run(ctx)
    assert len(run.actions) == 1
    assert "rollback of credit-scoring@2 refused" in run.actions[0]
    assert "'riskops-monitor' is not a known person" in run.actions[0]
    with ctx.store.reading() as session:
        serving = serving_at(session, "credit-scoring", "production")
    assert serving is not None
    assert serving.version == 2


@pytest.mark.parametrize("two_versions", [{"riskops-monitor": ["operator"]}], indirect=True)
def test_a_warning_that_grows_critical_fires_again_and_rolls_back(two_versions: Context) -> None:
    ctx = two_versions
    info = reference(persistence=1, on_critical_prediction_drift="rollback")

    def run_at(hour: datetime, shift: float) -> MonitoringRun:
        columns, score = draw(np.random.default_rng(3), 4000, income_shift=shift)
        replay(ctx.store, info, columns, score, hour=hour, model="credit-scoring", version=2)
        return run_monitoring(
            ctx,
            "credit-scoring",
            window=timedelta(hours=1),
            end=hour + timedelta(hours=1),
            versions=lambda session, model, version: info,
        )

    # The score's PSI is about 0.14: a warning, which rolls nothing back.
    first = run_at(HOUR, -0.6)
    assert ("prediction-drift", "warning") in {(n.alert, n.labels["severity"]) for n in first.fired}
    assert first.actions == ()
    # An hour later about 0.39: the open alert is now critical, sent again, and acted on.
    second = run_at(HOUR + timedelta(hours=1), -1.0)
    escalated = [n for n in second.fired if n.alert == "prediction-drift"]
    assert [n.labels["severity"] for n in escalated] == ["critical"]
    assert "critical level" in escalated[0].annotations["summary"]
    assert second.actions == ("rolled back credit-scoring in production from 2 to 1",)
    # Still critical in the next run: refreshed, not sent again.
    third = run_at(HOUR + timedelta(hours=2), -1.0)
    assert [n for n in third.fired if n.alert == "prediction-drift"] == []
