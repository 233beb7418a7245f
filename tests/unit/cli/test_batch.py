"""``riskops batch score`` and ``batch verify`` drive the batch service and print its record."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from riskops.cli.app import app
from riskops.errors import ConflictError, InputError
from tests.unit.batch import conftest as batch
from tests.unit.batch.conftest import Workspace

runner = CliRunner()
ws = batch.ws  # the batch tests' workspace fixture, for this module too


def _home(ws: Workspace) -> list[str]:
    return ["--home", str(ws.ctx.settings.home)]


def test_score_prints_the_run_and_verify_checks_the_output(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "scored"
    done = runner.invoke(
        app,
        [
            *_home(ws),
            "batch",
            "score",
            "credit-scoring",
            "--env",
            "production",
            "--input",
            str(ws.parquet),
            "--output",
            str(out),
            "--workers",
            "1",
            "--partition-rows",
            "400",
            "--as",
            "oscar",
        ],
    )
    assert done.exit_code == 0, done.output
    assert "Scored 1,000 rows of" in done.output
    assert "with credit-scoring@1" in done.output
    assert "3 partitions (3 written, 0 already done)" in done.output
    assert "sealed at audit event" in done.output
    assert pq.read_metadata(out / "part-00002.parquet").num_rows == 200

    checked = runner.invoke(app, ["batch", "verify", str(out), "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["problems"] == []
    (out / "part-00001.parquet").write_bytes(b"")
    broken = runner.invoke(app, ["batch", "verify", str(out)])
    assert broken.exit_code == 1
    assert "part-00001.parquet: sha256" in broken.output


def test_score_as_json_and_its_refusals(ws: Workspace, tmp_path: Path) -> None:
    args = [*_home(ws), "batch", "score", "credit-scoring@1", "--input", str(ws.csv)]
    done = runner.invoke(
        app, [*args, "--output", str(tmp_path / "a"), "--workers", "1", "--as", "oscar", "--json"]
    )
    assert done.exit_code == 0, done.output
    record = json.loads(done.output)
    assert record["kind"] == "riskops.batch-run@1"
    assert (record["rows"], record["engine"]) == (1000, "local")
    refused = runner.invoke(
        app,
        [
            *args[:4],
            "credit-scoring@2",
            *args[5:],
            "--output",
            str(tmp_path / "b"),
            "--as",
            "oscar",
        ],
    )
    assert isinstance(refused.exception, ConflictError)
    assert "it is 'candidate', not 'approved'" in str(refused.exception)
    bad = runner.invoke(
        app, [*args, "--output", str(tmp_path / "c"), "--as", "oscar", "--unknown-category", "drop"]
    )
    assert isinstance(bad.exception, InputError)
    assert "unknown_category is 'drop'" in str(bad.exception)


def test_the_progress_bar_follows_the_jobs_callback() -> None:
    from riskops.batch.local import Progress
    from riskops.cli.batch import _Bar

    bar = _Bar()
    bar.update(Progress(1, 300, 4, 1000, 0))
    bar.update(Progress(2, 600, 4, 1000, 1))
    task = bar._progress.tasks[0]
    assert (task.completed, task.total, task.fields["rows"]) == (2, 4, 600)
    bar.close()
    unknown = _Bar()  # a CSV file: its row count is not known in advance
    unknown.update(Progress(3, 900, None, None, 0))
    assert unknown._progress.tasks[0].total is None
    unknown.close()
