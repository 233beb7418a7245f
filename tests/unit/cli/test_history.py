"""``riskops history backfill`` and ``riskops history label`` on a SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml
from typer.testing import CliRunner

from riskops.cli.app import app
from riskops.errors import InputError, NotFoundError
from tests.conftest import REPO, SPEC

runner = CliRunner()
HISTORY_SPEC = str(REPO / "models" / "transaction_risk" / "model.yaml")


def small_spec(tmp_path: Path, rows: int) -> str:
    """The reference spec over its data's first ``rows`` transactions."""
    raw = yaml.safe_load(Path(HISTORY_SPEC).read_text(encoding="utf-8"))
    source = Path(HISTORY_SPEC).parent / raw["data"]["source"]
    pd.read_csv(source, dtype="string", nrows=rows).to_csv(tmp_path / "few.csv", index=False)
    raw["data"]["source"] = str(tmp_path / "few.csv")
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return str(tmp_path / "model.yaml")


def test_backfill_then_label(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.sqlite'}"
    home = ["--home", str(tmp_path / "ws")]
    spec = small_spec(tmp_path, 500)
    done = runner.invoke(app, [*home, "history", "backfill", spec, "--url", url, "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {
        "model": "transaction-risk",
        "store": url,
        "rows": 500,
        "new": 500,
    }
    again = runner.invoke(app, [*home, "history", "backfill", spec, "--url", url])
    assert "500 transaction(s) read, 0 new" in again.output

    first = "3"  # the subset's first transaction (it keeps the full data's ids)
    labelled = runner.invoke(
        app, [*home, "history", "label", "transaction-risk", first, "--fraud", "--url", url]
    )
    assert labelled.exit_code == 0, labelled.output
    assert "as fraud" in labelled.output

    missing = runner.invoke(
        app, [*home, "history", "label", "transaction-risk", "no-such", "--genuine", "--url", url]
    )
    assert isinstance(missing.exception, NotFoundError)
    assert "keeps no transaction 'no-such'" in str(missing.exception)


def test_a_spec_without_history_has_nothing_to_backfill(tmp_path: Path) -> None:
    done = runner.invoke(
        app,
        ["--home", str(tmp_path / "ws"), "history", "backfill", str(SPEC), "--url", "memory://"],
    )
    assert isinstance(done.exception, InputError)
    assert "has no history section" in str(done.exception)
