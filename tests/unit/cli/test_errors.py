"""The CLI's table from error codes to exit codes, and how an error is shown."""

from __future__ import annotations

import json

import pytest

from riskops.cli.errors import EXIT_FAILURE, EXIT_REFUSED, exit_code, render
from riskops.errors import (
    BackendError,
    ConflictError,
    GateFailedError,
    MissingExtraError,
    Problem,
    SpecError,
)


def test_the_exit_code_follows_the_code() -> None:
    class Refined(GateFailedError):
        code = "fairness_gate_failed"

    assert exit_code(ConflictError("no")) == EXIT_REFUSED
    assert exit_code(SpecError("bad")) == EXIT_REFUSED  # spec_invalid refines input_invalid
    assert exit_code(MissingExtraError("Documents", "jinja2", "docs")) == EXIT_REFUSED
    assert exit_code(BackendError("down")) == EXIT_FAILURE
    assert exit_code(Refined("failed")) == EXIT_FAILURE


def test_the_json_form_carries_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    error = SpecError(
        "The spec has 1 problem(s):",
        problems=[Problem("features[0].min", "must be a number")],
        hint="Fix the spec: riskops spec check model.yaml",
    )
    render(error, as_json=True)
    shown = json.loads(capsys.readouterr().err)["error"]
    assert shown == {
        "type": "SpecError",
        "code": "spec_invalid",
        "message": "The spec has 1 problem(s):",
        "problems": ["features[0].min: must be a number"],
        "hint": "Fix the spec: riskops spec check model.yaml",
        "exit_code": EXIT_REFUSED,
    }
