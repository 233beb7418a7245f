"""``riskops spec init``: a drafted spec passes ``spec check`` (warning about its
placeholders), and a model trains and validates from it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskops.cli.app import app
from riskops.datasets.prepared import load_checked
from riskops.errors import ConflictError, InputError
from riskops.spec import load_spec
from riskops.training.scaffold import (
    HELD_OUT_SHARE,
    HL_MEANINGFUL_GAP,
    MAX_GROUP_SIZE,
    draft_spec,
    hosmer_lemeshow_gap,
    placeholders,
    write_scaffold,
)
from riskops.training.trainer import resolve_trainer
from tests.conftest import DATA

runner = CliRunner()


def _coded_dataset(path: Path, rows: int = 3000, extra: int = 0) -> Path:
    """Integer-coded categories (EDUCATION 1-4, SEX 1/2), a 0/1 label, a few numbers."""
    rng = np.random.default_rng(7)
    education = rng.integers(1, 5, rows)
    limit = rng.gamma(2.0, 50_000, rows).round(-3)
    age = rng.integers(21, 75, rows)
    pay = rng.integers(-2, 9, rows)  # eleven integer values: read as a number
    logit = -1.6 + 0.45 * (education - 2) + 0.35 * pay - limit / 200_000
    frame = pd.DataFrame(
        {
            "ID": np.arange(1, rows + 1),
            "LIMIT_BAL": limit,
            "SEX": rng.integers(1, 3, rows),
            "EDUCATION": education,
            "AGE": age,
            "PAY_0": pay,
            **{f"X{i}": rng.normal(size=rows).round(3) for i in range(extra)},
            "default": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )
    frame.loc[::50, "LIMIT_BAL"] = np.nan
    frame.to_csv(path, index=False)
    return path


def test_german_credit_drafts_a_spec_that_checks(tmp_path: Path) -> None:
    folder = tmp_path / "german"
    done = runner.invoke(
        app,
        [
            "spec", "init", "--data", str(DATA), "--label", "creditability",
            "--protected", "age_in_years", "--protected", "foreign_worker",
            "--name", "german-draft", "--out", str(folder),
        ],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "Drafted german-draft from 1000 rows" in done.output
    loaded = load_spec(folder / "model.yaml")
    spec = loaded.spec
    assert spec.data.label.positive == "bad"  # the rarer class is the event
    assert "age_in_years" not in spec.feature_names
    assert spec.feature("purpose").category_kind == "text"
    duration = spec.feature("duration_in_month")
    assert (duration.min, duration.max) == (0, 79)  # 4..72 widened by 10%, never negative
    assert spec.gates.fairness.bands == {"age_in_years": (33.0,)}
    assert load_checked(loaded).rows == 1000
    resolve_trainer(loaded)

    checked = runner.invoke(app, ["spec", "check", str(folder / "model.yaml")])
    assert checked.exit_code == 0, checked.output
    assert "its data matches (1000 rows)" in checked.output
    assert "TODO(owner) placeholder(s) left" in checked.output
    # the header four, a reason per feature, the cut-offs, and the three checks it cannot run
    # (no subject key, no monotone feature, and foreign_worker, whose 37 "no" rows leave about
    # 11 held out, under min_group_size) left to the owner under gates.not_applicable
    assert len(placeholders(loaded.text)) == 4 + len(spec.features) + 1 + 3
    assert set(spec.gates.not_applicable) == {
        "monotonicity",
        "data_quality.duplicate_subjects",
        "fairness.foreign_worker",
    }
    assert (
        "about 9 held-out rows fall outside the largest group of foreign_worker"
        in (spec.gates.not_applicable["fairness.foreign_worker"])
    )


def test_a_coded_dataset_drafts_integer_codes_a_subject_key_and_missing_values(
    tmp_path: Path,
) -> None:
    # the lifecycle from such a draft (train, validate, sign-offs, deploy, serve, roll back):
    # tests/e2e/test_onboarding.py
    data = _coded_dataset(tmp_path / "card_default.csv")
    draft = draft_spec(data, label="default", name="card-default", subject_key="ID",
                       protected=("SEX", "AGE"))  # fmt: skip
    [spec_path, _] = write_scaffold(draft, tmp_path / "card")
    loaded = load_spec(spec_path)
    spec = loaded.spec
    assert (spec.data.label.positive, spec.data.label.negative) == (1, 0)
    assert spec.data.subject_key == "ID"
    education = spec.feature("EDUCATION")
    assert (education.category_kind, education.category_codes) == ("integer", (1, 2, 3, 4))
    assert spec.feature("PAY_0").type == "numeric"
    assert spec.feature("LIMIT_BAL").allow_missing
    assert load_checked(loaded).rows == 3000


def test_hundreds_of_features_draft_in_seconds(tmp_path: Path) -> None:
    data = _coded_dataset(tmp_path / "wide.csv", rows=2000, extra=300)
    started = time.perf_counter()
    draft = draft_spec(data, label="default", name="wide-model")
    elapsed = time.perf_counter() - started
    assert len(draft.features) == 306
    assert elapsed < 5.0, elapsed


def test_bad_arguments_say_what_to_do(tmp_path: Path) -> None:
    data = _coded_dataset(tmp_path / "d.csv", rows=200)
    with pytest.raises(InputError, match="The label 'defualt' is not a column") as caught:
        draft_spec(data, label="defualt", name="ok-name")
    assert "The columns are: ID, LIMIT_BAL" in (caught.value.hint or "")
    with pytest.raises(InputError, match="has 4 distinct value"):
        draft_spec(data, label="EDUCATION", name="ok-name")
    with pytest.raises(InputError, match="model name 'Bad Name'"):
        draft_spec(data, label="default", name="Bad Name")
    draft = draft_spec(data, label="default", name="ok-name")
    write_scaffold(draft, tmp_path / "out")
    with pytest.raises(ConflictError, match="already exist"):
        write_scaffold(draft, tmp_path / "out")
    write_scaffold(draft, tmp_path / "out", force=True)


def test_only_plainly_written_integers_become_codes(tmp_path: Path) -> None:
    path = tmp_path / "zeros.csv"
    rows = ["region,grade,score,y"] + [
        f"0{i % 3 + 1},{i % 4 + 1},{(i % 7) / 2},{i % 2}" for i in range(120)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    loaded = load_spec(write_scaffold(draft_spec(path, label="y", name="zeros"), tmp_path / "z")[0])
    region = loaded.spec.feature("region")
    assert (region.category_kind, region.categories) == ("text", ("01", "02", "03"))
    assert loaded.spec.feature("grade").category_codes == (1, 2, 3, 4)
    assert loaded.spec.feature("score").type == "numeric"  # 0.5 steps: not codes
    assert load_checked(loaded).rows == 120


def test_a_column_of_many_texts_is_flagged_for_the_owner(tmp_path: Path) -> None:
    path = tmp_path / "names.csv"
    path.write_text(
        "name,y\n" + "".join(f"person {i},{i % 2}\n" for i in range(80)), encoding="utf-8"
    )
    draft = draft_spec(path, label="y", name="names")
    assert "TODO(owner): 80 categories; an identifier or free text?" in draft.text


@pytest.mark.parametrize("rows", [1000, 10_000])
def test_group_size_and_hosmer_lemeshow_are_sized_from_the_rows(tmp_path: Path, rows: int) -> None:
    data = _coded_dataset(tmp_path / "sized.csv", rows=rows)
    frame = pd.read_csv(data)
    # two regions of about 5% each: 15 held-out rows at 1,000 rows, 150 at 10,000
    frame["REGION"] = np.random.default_rng(1).choice(
        ["north", "south", "east", "west"], size=rows, p=[0.45, 0.45, 0.05, 0.05]
    )
    frame.to_csv(data, index=False)
    draft = draft_spec(data, label="default", name="sized", protected=("SEX", "REGION"))
    spec = load_spec(write_scaffold(draft, tmp_path / "sized")[0]).spec
    held_out = round(rows * HELD_OUT_SHARE)
    event_rate = float(pd.read_csv(data)["default"].mean())
    gap = hosmer_lemeshow_gap(held_out, event_rate)
    assert gap is not None
    assert f"a gap of about {gap:.3f}" in draft.text
    # a tenth of the held-out rows, capped where the approval rate's noise is within 0.10
    assert spec.gates.fairness.min_group_size == min(held_out // 10, MAX_GROUP_SIZE)
    # the few hundred held-out rows of the small data leave the test a coarse one, which is
    # set; on thousands it would flag what ECE forgives, and is left unset
    hl = spec.gates.calibration.min_hosmer_lemeshow_p
    assert (hl == 0.05) if gap >= HL_MEANINGFUL_GAP else (hl is None)
    assert (hl is not None) == (rows == 1000)
    # the rare regions are gathered where their held-out rows fall short of the size
    groups = spec.gates.fairness.groups.get("REGION")
    assert groups == ({"other": ("east", "west")} if rows == 1000 else None)
