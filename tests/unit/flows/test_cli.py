"""``riskops flows monitor|train|serve`` against Prefect's test server (the refusals without
Prefect or without an API are in tests/unit/cli/test_flows.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from riskops.cli.app import app
from riskops.config import Settings
from tests.conftest import SPEC

runner = CliRunner()


def test_flows_monitor_runs_one_monitoring_run(workspace: Settings) -> None:
    home = str(workspace.home)
    shown = runner.invoke(app, ["--home", home, "flows", "monitor", "credit-scoring"])
    assert shown.exit_code == 0, shown.output
    assert "monitoring run 1: credit-scoring in production (sealed at audit event" in shown.output
    as_json = runner.invoke(
        app, ["--home", home, "flows", "monitor", "credit-scoring", "--window", "2h", "--json"]
    )
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["run_id"] == 2


def test_flows_serve_builds_both_schedules_and_serves_them(
    workspace: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import riskops.flows.deployments as deployments

    served: list[Any] = []
    # prefect.serve runs until it is stopped; what it was handed is what matters here.
    monkeypatch.setattr(deployments, "prefect_serve", lambda *d, limit: served.append((d, limit)))
    shown = runner.invoke(
        app,
        [
            "--home",
            str(workspace.home),
            "flows",
            "serve",
            "--monitor",
            "credit-scoring",
            "--retrain",
            str(SPEC),
            "--trained-by",
            "alice",
            "--validated-by",
            "victor",
            "--limit",
            "1",
        ],
    )
    assert shown.exit_code == 0, shown.output
    [(built, limit)] = served
    assert limit == 1
    assert [(d.name, d.schedules[0].schedule.cron) for d in built] == [
        ("monitor-credit-scoring-production", "5 * * * *"),
        ("retrain-credit_scoring", "0 3 1 * *"),
    ]
    assert {d.parameters["workspace"] for d in built} == {str(workspace.home)}
    assert "serving monitor-credit-scoring-production" in shown.output


def test_flows_serve_refuses_a_bad_cron(workspace: Settings) -> None:
    shown = runner.invoke(
        app,
        ["--home", str(workspace.home), "flows", "serve", "--monitor", "m", "--monitor-cron", "x"],
    )
    assert "'x' is not a cron schedule" in str(shown.exception)
