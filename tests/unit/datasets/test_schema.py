from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from riskops.datasets.schema import check_schema, label_vector
from riskops.datasets.snapshot import load_snapshot
from riskops.errors import DataSchemaError
from riskops.spec import load_spec
from tests.conftest import DATA, SPEC


@pytest.fixture
def frame() -> pd.DataFrame:
    return load_snapshot(DATA).frame


SPEC_OBJ = load_spec(SPEC).spec


def test_the_shipped_data_matches_its_spec(frame: pd.DataFrame) -> None:
    check_schema(frame, SPEC_OBJ, source="german_credit.csv")
    y = label_vector(frame, SPEC_OBJ)
    assert int(y.sum()) == 300
    assert len(y) == 1000


def test_the_snapshot_fingerprint_is_the_published_sha256() -> None:
    # data/german_credit/README.md publishes this digest for the byte-for-byte copy.
    assert load_snapshot(DATA).fingerprint == (
        "sha256:2c0bae00275c028fc853a1ea72cc7a68002c3f6876c41300c5c948711540c8c6"
    )


def problems_of(frame: pd.DataFrame) -> dict[str, str]:
    with pytest.raises(DataSchemaError, match="does not match the spec") as info:
        check_schema(frame, SPEC_OBJ, source="x.csv")
    assert "update the features in the spec" in (info.value.hint or "")
    return {p.location: p.message for p in info.value.problems}


def test_every_problem_is_reported_with_rows(frame: pd.DataFrame) -> None:
    frame = frame.copy()
    frame = frame.drop(columns=["telephone"])
    frame.loc[4, "duration_in_month"] = "twelve"
    frame.loc[7, "credit_amount"] = "-5"
    frame.loc[[2, 3], "purpose"] = "yacht"
    frame.loc[9, "present_residence_since"] = pd.NA
    frame.loc[11, "creditability"] = "maybe"
    found = problems_of(frame)
    assert found["telephone"] == "column is missing from the data"
    assert "1 value(s) are not numbers ('twelve'; rows 5)" in found["duration_in_month"]
    assert "below the allowed minimum 1" in found["credit_amount"]
    assert "rows 8" in found["credit_amount"]
    assert "not in the spec's categories: 'yacht' ×2" in found["purpose"]
    assert "1 missing value(s) (rows 10)" in found["present_residence_since"]
    assert "neither 'bad' nor 'good' (found 'maybe'; rows 12)" in found["creditability"]


def test_a_single_class_label_is_refused(frame: pd.DataFrame) -> None:
    frame = frame.copy()
    frame["creditability"] = "good"
    assert "only one class" in problems_of(frame)["creditability"]


def test_a_missing_or_unreadable_file_is_a_schema_error(tmp_path: Path) -> None:
    with pytest.raises(DataSchemaError, match="does not exist"):
        load_snapshot(tmp_path / "none.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataSchemaError, match="not a readable CSV"):
        load_snapshot(empty)


def test_a_missing_column_names_the_near_matches(frame: pd.DataFrame) -> None:
    found = problems_of(frame.rename(columns={"telephone": "Telephone_1", "age_in_years": "AGE"}))
    assert found["telephone"] == "column is missing from the data; did you mean 'Telephone_1'?"
    assert found["age_in_years"] == "column is missing from the data"  # 'AGE' is too far off


def test_a_label_mismatch_points_at_the_spec_label_values(frame: pd.DataFrame) -> None:
    frame = frame.copy()
    frame["creditability"] = frame["creditability"].map({"good": "0", "bad": "1"})
    found = problems_of(frame)
    assert "neither 'bad' nor 'good' (found '0', '1'" in found["creditability"]
    assert "set data.label.positive and data.label.negative" in found["creditability"]
