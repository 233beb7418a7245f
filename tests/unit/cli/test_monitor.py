"""``riskops monitor run`` and ``monitor canary``: from the CLI, as text and JSON, and their
refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
from typer.testing import CliRunner

from riskops.cli.app import app
from riskops.context import Context
from riskops.decisions.aggregates import hour_of
from riskops.errors import ConflictError, InputError
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


def test_monitor_canary_prints_the_comparison_and_its_evidence(
    canary_workspace: Context,
) -> None:
    ctx = canary_workspace
    info = reference()
    hour = hour_of(datetime.now(UTC))
    for version, seed in ((1, 5), (2, 6)):
        columns, score = draw(np.random.default_rng(seed), 600)
        replay(ctx.store, info, columns, score, hour=hour, model="credit-scoring", version=version)
    home = str(ctx.settings.home)
    shown = runner.invoke(app, ["--home", home, "monitor", "canary", "credit-scoring"])
    assert shown.exit_code == 0, shown.output
    assert "v2 (canary, 600 decisions) against champion v1 (600 decisions)" in shown.output
    # The aggregates were counted over another profile than the versions' own: said, not guessed.
    assert "score: not compared" in shown.output
    assert "pass" in shown.output
    assert "action: none" in shown.output
    as_json = runner.invoke(app, ["--home", home, "monitor", "canary", "credit-scoring", "--json"])
    document = json.loads(as_json.output)
    assert document["kind"] == "riskops.monitoring/canary@1"
    assert document["verdict"] == "pass"
    assert document["results_sha256"].startswith("sha256:")


def test_monitor_canary_refuses_a_bad_window_env_or_a_model_without_a_canary(
    ctx: Context,
) -> None:
    home = str(ctx.settings.home)
    window = runner.invoke(app, ["--home", home, "monitor", "canary", MODEL, "--window", "1y"])
    assert isinstance(window.exception, InputError)
    assert "--window 24h" in str(window.exception.hint)
    env = runner.invoke(app, ["--home", home, "monitor", "canary", MODEL, "--env", "qa"])
    assert isinstance(env.exception, InputError)
    assert "Valid environments are: staging, production" in str(env.exception)
    none = runner.invoke(app, ["--home", home, "monitor", "canary", MODEL])
    assert isinstance(none.exception, ConflictError)
    assert f"{MODEL} does not serve in production" in str(none.exception)
