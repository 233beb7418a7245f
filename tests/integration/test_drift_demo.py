"""The demo's drift walk on a temporary workspace: a real ``riskops serve`` answers reference
traffic (no alert), then drifted traffic until prediction-drift fires with its runbook and the
spec's rule rolls production back as riskops-monitor, and the server answers with v1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from riskops.audit import list_events
from riskops.context import Context, open_context
from riskops.demo.drift import drift_walk
from riskops.errors import ConflictError
from riskops.training.pipeline import train
from riskops.workspace import init_workspace
from tests.conftest import PEOPLE, SPEC, approve_and_deploy

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "credit-scoring"


@pytest.fixture
def workspace(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Iterator[Context]:
    settings = init_workspace(tmp_path / "ws", people={**PEOPLE, "riskops-monitor": ["operator"]})
    ctx = open_context(settings)
    yield ctx
    ctx.close()


def test_drift_fires_an_alert_with_its_runbook_and_the_rule_rolls_back(
    workspace: Context,
) -> None:
    ctx = workspace
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    lines: list[str] = []
    summary = drift_walk(ctx, MODEL, SPEC, progress=lines.append)
    assert summary.reference_alerts == 0, lines
    assert summary.runs[0].fired == ()
    assert 1 <= summary.waves <= 8
    assert summary.rolled_back_to == 1, lines
    assert summary.served_after == 1
    assert any(url.endswith("runbooks/prediction-drift.md") for url in summary.runbooks)
    (event,) = list_events(ctx.store, action="deployment.rolled_back")
    assert event.actor == "riskops-monitor"
    assert f"monitoring run {summary.runs[-1].run_id}" in event.payload["reason"]
    assert any("FIRING prediction-drift (critical)" in line for line in lines)
    # The real server's refresher set its gauges from the run.
    assert any(
        'alert="prediction-drift"' in g and 'severity="critical"' in g and g.endswith(" 1.0")
        for g in summary.gauges
    ), summary.gauges


def test_the_walk_needs_a_version_to_roll_back_to(workspace: Context) -> None:
    ctx = workspace
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    with pytest.raises(ConflictError, match="an earlier version to roll back to"):
        drift_walk(ctx, MODEL, SPEC, progress=print)


def test_demo_drift_from_the_command_line_rolls_back_and_writes_the_monitoring_report(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """What `make demo` runs: the whole walk, the rollback by the monitoring rule, and the
    monitoring report beside the documents."""
    import json

    from typer.testing import CliRunner

    from riskops.cli.app import app

    home = tmp_path / "demo"
    done = CliRunner().invoke(
        app, ["--home", str(home), "demo", "--reset", "--drift", "--json"], catch_exceptions=False
    )
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["drift"]["rolled_back_to"] == 1
    assert summary["audit"]["ok"] is True
    report = Path(summary["monitoring_report"])
    assert report.parent == home / "reports"
    page = report.read_text(encoding="utf-8")
    assert "prediction-drift" in page
    assert "runbooks/prediction-drift.md" in page
