"""``riskops monitor run``: a run from the CLI, as text and JSON, and its refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
from typer.testing import CliRunner

from riskops.cli.app import app
from riskops.context import Context
from riskops.decisions.aggregates import hour_of
from riskops.errors import InputError
from tests.unit.monitoring.population import MODEL, draw, reference, replay

runner = CliRunner()


def test_monitor_run_prints_the_window_and_stores_the_run(ctx: Context) -> None:
    info = reference()
    columns, score = draw(np.random.default_rng(2), 400)
    replay(ctx.store, info, columns, score, hour=hour_of(datetime.now(UTC)))
    home = str(ctx.settings.home)
    shown = runner.invoke(app, ["--home", home, "monitor", "run", MODEL, "--window", "2h"])
    assert shown.exit_code == 0, shown.output
    assert f"monitoring run 1: {MODEL} in production" in shown.output
    assert "version 1: 400 decisions" in shown.output
    # The store knows no such version: the decision layer only, and the run says why.
    assert "no reference profile for this version" in shown.output
    as_json = runner.invoke(app, ["--home", home, "monitor", "run", MODEL, "--json"])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    assert document["kind"] == "riskops.monitoring/run@1"
    assert document["run_id"] == 2
    assert document["results"]["versions"][0]["n"] == 400


def test_monitor_run_refuses_a_bad_window_env_or_webhook(ctx: Context) -> None:
    home = str(ctx.settings.home)
    window = runner.invoke(app, ["--home", home, "monitor", "run", MODEL, "--window", "1y"])
    assert isinstance(window.exception, InputError)
    assert "--window 24h" in str(window.exception.hint)
    env = runner.invoke(app, ["--home", home, "monitor", "run", MODEL, "--env", "qa"])
    assert isinstance(env.exception, InputError)
    assert "Valid environments are: staging, production" in str(env.exception)
    hook = runner.invoke(app, ["--home", home, "monitor", "run", MODEL, "--webhook", "ftp://x"])
    assert isinstance(hook.exception, InputError)
    assert "is not an http(s) URL" in str(hook.exception)
