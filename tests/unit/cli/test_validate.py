"""``riskops validate``: the table, the summary counted by status, and why each
not-applicable check did not apply."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from riskops.cli.app import app
from riskops.context import Context
from riskops.training.pipeline import train
from tests.conftest import SPEC

runner = CliRunner()


def test_validate_counts_statuses_apart_names_failures_and_says_so_in_json(ctx: Context) -> None:
    ref = train(ctx, SPEC, actor="alice").ref
    done = runner.invoke(
        app, ["--home", str(ctx.settings.home), "validate", str(ref), "--as", "victor"]
    )
    assert done.exit_code == 0, done.output
    text = " ".join(done.output.split())
    assert "passed, " in text
    assert "not applicable, " in text
    assert " reported, of " in text
    assert "not applicable: data_quality.duplicate_subjects: the data has no subject key" in text
    assert "not applicable: champion.auc_difference: no champion" in text
    # the advisory fairness checks that cannot be computed are failures, each named
    assert "failed (fairness." in text

    # the JSON form of the same statuses, for a second candidate
    second = train(ctx, SPEC, actor="alice").ref
    done = runner.invoke(
        app,
        ["--home", str(ctx.settings.home), "validate", str(second), "--as", "victor", "--json"],
    )
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    statuses = {g["gate"]: g["status"] for g in body["gates"]}
    assert statuses["data_quality.duplicate_subjects"] == "not_applicable"
    assert statuses["performance.auc"] == "passed"
    assert sum(body["counts"].values()) == len(body["gates"])
