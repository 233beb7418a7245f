"""``riskops monitor compare``: the table, the JSON form, --out, --profile, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from riskops.cli.app import app
from riskops.context import Context
from riskops.errors import DataSchemaError, InputError, NotFoundError, SpecError
from riskops.profiles.profile import fit_profile
from riskops.spec import parse_spec
from tests.conftest import DATA, SPEC
from tests.unit.monitoring.synthetic import SPEC_YAML, population

runner = CliRunner()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "model.yaml").write_text(SPEC_YAML)
    for name, seed, shift in (("ref", 1, 0.0), ("cur", 2, 40.0)):
        columns = population(1200, seed, income_shift=shift)
        pq.write_table(
            pa.table({k: list(v) for k, v in columns.items()}), tmp_path / f"{name}.parquet"
        )
    return tmp_path


def _args(workdir: Path, *extra: str) -> list[str]:
    return [
        "monitor",
        "compare",
        str(workdir / "ref.parquet"),
        str(workdir / "cur.parquet"),
        "--spec",
        str(workdir / "model.yaml"),
        *extra,
    ]


def test_table_names_every_feature_and_the_classifier(workdir: Path) -> None:
    done = runner.invoke(app, _args(workdir))
    assert done.exit_code == 0, done.output
    for name in ("income", "age", "utilisation", "housing", "PSI", "KS p", "unseen"):
        assert name in done.output
    assert "Domain classifier AUC" in done.output
    assert "drivers: income" in done.output


def test_json_and_out_file_carry_the_same_result(workdir: Path) -> None:
    out = workdir / "result.json"
    done = runner.invoke(app, _args(workdir, "--json", "--no-multivariate", "--out", str(out)))
    assert done.exit_code == 0, done.output
    printed = json.loads(done.stdout)
    written = json.loads(out.read_text())
    assert printed["features"] == written["features"]
    assert printed["multivariate"] is None
    assert [f["feature"] for f in printed["features"]] == [
        "income",
        "age",
        "utilisation",
        "housing",
    ]
    assert printed["features"][0]["psi"] > 0.1


def test_profile_option_bins_on_the_versions_edges(workdir: Path) -> None:
    spec = parse_spec(SPEC_YAML).spec
    profile = fit_profile("drift-check", 7, spec, population(500, 9), np.linspace(0, 1, 500))
    (workdir / "profile.json").write_bytes(profile.to_json())
    done = runner.invoke(
        app,
        _args(workdir, "--json", "--no-multivariate", "--profile", str(workdir / "profile.json")),
    )
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert body["profile"] == "drift-check@7"
    assert body["profile_sha256"] == profile.sha256()


def test_missing_file(workdir: Path) -> None:
    done = runner.invoke(
        app,
        [
            "monitor",
            "compare",
            str(workdir / "nope.parquet"),
            str(workdir / "cur.parquet"),
            "--spec",
            str(workdir / "model.yaml"),
        ],
    )
    assert isinstance(done.exception, InputError)
    assert "No file at" in str(done.exception)


def test_missing_profile_file(workdir: Path) -> None:
    done = runner.invoke(app, _args(workdir, "--profile", str(workdir / "none.json")))
    assert isinstance(done.exception, InputError)
    assert "No reference profile at" in str(done.exception)


def test_missing_column_and_wrong_spec(workdir: Path) -> None:
    table = pq.read_table(workdir / "cur.parquet").rename_columns(
        ["income", "age", "utilisaton", "housing"]
    )
    pq.write_table(table, workdir / "cur.parquet")
    done = runner.invoke(app, _args(workdir))
    assert isinstance(done.exception, DataSchemaError)
    assert "utilisation: column is missing; did you mean 'utilisaton'?" in str(done.exception)

    (workdir / "model.yaml").write_text("name: x\n")
    done = runner.invoke(app, _args(workdir))
    assert isinstance(done.exception, SpecError)


def test_errors_reach_the_user_with_a_hint_and_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from riskops.cli.app import main

    (workdir / "cur.parquet").write_bytes(b"not a parquet file")
    monkeypatch.setattr("sys.argv", ["riskops", *_args(workdir)])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "Error: Cannot read" in err
    assert "cur.parquet as PARQUET" in err
    assert "Hint: Check that it is a valid PARQUET file" in err


def test_model_option_uses_the_registered_profile(
    ctx: Context, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    from riskops.training.pipeline import train

    train(ctx, SPEC, actor="alice")
    frame = pd.read_csv(DATA)
    frame.iloc[:500].to_csv(tmp_path / "early.csv", index=False)
    later = frame.iloc[500:].copy()
    later["duration_in_month"] = later["duration_in_month"] * 2  # a unit change
    later.to_csv(tmp_path / "late.csv", index=False)
    home = str(ctx.settings.home)
    args = [
        "--home",
        home,
        "monitor",
        "compare",
        str(tmp_path / "early.csv"),
        str(tmp_path / "late.csv"),
        "--spec",
        str(SPEC),
        "--json",
        "--no-multivariate",
    ]
    done = runner.invoke(app, [*args, "--model", "credit-scoring@1"])
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert body["profile"] == "credit-scoring@1"
    duration = next(f for f in body["features"] if f["feature"] == "duration_in_month")
    assert duration["psi"] > 0.25
    assert duration["out_of_range_current"] > 0  # the spec's max is 120 months

    unknown = runner.invoke(app, [*args, "--model", "credit-scoring@9"])
    assert isinstance(unknown.exception, NotFoundError)
    both = runner.invoke(app, [*args, "--model", "credit-scoring@1", "--profile", "p.json"])
    assert isinstance(both.exception, InputError)
    assert "--model and --profile both name the bins" in str(both.exception)
