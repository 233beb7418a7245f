"""``riskops labels ingest``, ``riskops monitor performance`` and ``riskops skew check``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from riskops.cli.app import app
from riskops.context import Context
from riskops.errors import InputError, ProblemsError
from tests.conftest import DATA
from tests.unit.monitoring.conftest import MODEL, add_version, log_decisions

runner = CliRunner()


def _home(ctx: Context) -> str:
    return str(ctx.settings.home)


def test_ingest_then_performance(ctx: Context, tmp_path: Path) -> None:
    add_version(ctx)
    rng = np.random.default_rng(5)
    p = rng.uniform(0.05, 0.8, size=200)
    made = log_decisions(
        ctx,
        [
            {
                "subject_id": f"S{i}",
                "score": float(v),
                "decided_at": datetime(2026, 2, 3, tzinfo=UTC),
            }
            for i, v in enumerate(p)
        ],
    )
    pd.DataFrame(
        {
            "decision_id": [m.decision_id for m in made],
            "label": ["bad" if rng.random() < v else "good" for v in p],
            "observed_at": ["2026-05-04"] * len(made),
        }
    ).to_csv(tmp_path / "outcomes.csv", index=False)
    done = runner.invoke(
        app,
        [
            "--home",
            _home(ctx),
            "labels",
            "ingest",
            str(tmp_path / "outcomes.csv"),
            "--model",
            MODEL,
            "--as",
            "oscar",
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["new"] == 200

    shown = runner.invoke(app, ["--home", _home(ctx), "monitor", "performance", MODEL])
    assert shown.exit_code == 0, shown.output
    assert "credit-scoring@1: 200 scored decision(s), 200 labelled." in shown.output
    assert "Vintage: cumulative bad rate" in shown.output
    assert "2026-02" in shown.output
    as_json = runner.invoke(app, ["--home", _home(ctx), "monitor", "performance", MODEL, "--json"])
    body = json.loads(as_json.output)
    assert body["kind"] == "riskops.monitoring/performance@1"
    assert body["vintage"]["months_since_decision"] == [0, 1, 2, 3]

    again = runner.invoke(
        app,
        [
            "--home",
            _home(ctx),
            "labels",
            "ingest",
            str(tmp_path / "outcomes.csv"),
            "--model",
            MODEL,
            "--as",
            "oscar",
        ],
    )
    assert "0 new label(s), 200 relabelled" in again.output


def test_bad_input_reaches_the_error_boundary(ctx: Context, tmp_path: Path) -> None:
    add_version(ctx)
    missing = runner.invoke(
        app,
        [
            "--home",
            _home(ctx),
            "labels",
            "ingest",
            str(tmp_path / "none.csv"),
            "--model",
            MODEL,
            "--as",
            "oscar",
        ],
    )
    assert isinstance(missing.exception, InputError)
    assert "No file at" in str(missing.exception)
    (tmp_path / "l.csv").write_text("id,label\nx,bad\n")
    columns = runner.invoke(
        app,
        [
            "--home",
            _home(ctx),
            "labels",
            "ingest",
            str(tmp_path / "l.csv"),
            "--model",
            MODEL,
            "--as",
            "oscar",
        ],
    )
    assert isinstance(columns.exception, ProblemsError)
    assert "lacks 2 column(s)" in str(columns.exception)


def test_skew_check_exits_1_on_a_flagged_feature(ctx: Context, tmp_path: Path) -> None:
    add_version(ctx)
    frame = pd.read_csv(DATA).head(30)
    frame.insert(0, "customer_id", [f"C{i}" for i in range(30)])
    frame.to_csv(tmp_path / "offline.csv", index=False)
    rows = []
    for record in frame.to_dict("records"):
        features = {k: v for k, v in record.items() if k != "customer_id"}
        features["duration_in_month"] = features["duration_in_month"] * 30  # days, not months
        rows.append(
            {
                "subject_id": record["customer_id"],
                "score": 0.2,
                "decided_at": datetime(2026, 1, 1, tzinfo=UTC),
                "features": features,
            }
        )
    log_decisions(ctx, rows)
    done = runner.invoke(
        app,
        [
            "--home",
            _home(ctx),
            "skew",
            "check",
            MODEL,
            "--source",
            str(tmp_path / "offline.csv"),
            "--subject-key",
            "customer_id",
            "--as",
            "victor",
            "--json",
        ],
    )
    assert done.exit_code == 1, done.output
    assert json.loads(done.output)["flagged"] == ["duration_in_month"]
