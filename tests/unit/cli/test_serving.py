"""``riskops serve``'s refusals before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskops.cli.app import app
from riskops.errors import InputError

runner = CliRunner()


@pytest.mark.parametrize("workers", ["0", "65"])
def test_a_worker_count_out_of_range_is_refused(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, workers: str
) -> None:
    done = runner.invoke(app, ["--home", str(tmp_path), "serve", "--workers", workers])
    assert isinstance(done.exception, InputError)
    assert f"--workers {workers}: give a number of worker processes from 1 to 64" in str(
        done.exception
    )
