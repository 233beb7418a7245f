"""The data-quality gate on the German credit data: clean as shipped, and each problem (missing
and out-of-range values, unseen categories, duplicate subjects, a leaking field, a missing
column) planted in a copy and found."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from riskops.context import Context
from riskops.datasets.encoding import encode_frame, typed_frame
from riskops.datasets.schema import label_vector
from riskops.registry.versions import ModelRef
from riskops.spec import ModelSpec
from riskops.training.pipeline import train
from riskops.validation.gate import GateInput, GateResult, Sample, VersionInfo
from riskops.validation.gates.data_quality import DataQualityGate
from riskops.validation.run import validate
from tests.conftest import DATA, SPEC, reference_split


def spec_with(edit: Callable[[dict[str, Any]], None] | None = None) -> ModelSpec:
    raw = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    if edit is not None:
        edit(raw)
    return ModelSpec.model_validate(raw)


def german() -> pd.DataFrame:
    return pd.read_csv(DATA, dtype="string")


def sample(name: str, raw: pd.DataFrame, spec: ModelSpec) -> Sample:
    raw = raw.reset_index(drop=True)
    features = typed_frame(raw, spec)
    y = label_vector(raw, spec).to_numpy()
    return Sample(name, raw, features, encode_frame(features), y, np.full(len(raw), 0.3))


def evaluate(
    spec: ModelSpec, raw: pd.DataFrame, *, validation_rows: slice = slice(700, 1000)
) -> dict[str, GateResult]:
    """Rows 0-699 as training, the validation rows as held out."""
    gate_input = GateInput(
        spec=spec,
        candidate=VersionInfo(ModelRef("credit-scoring", 1), "sha256:toy"),
        champion=None,
        train=sample("train", raw.iloc[:700], spec),
        validation=sample("validation", raw.iloc[validation_rows], spec),
        out_of_time=None,
        model=None,
        flavor="lightgbm",
        score=lambda matrix: np.full(len(matrix), 0.3),
    )
    return {r.gate: r for r in DataQualityGate().evaluate(gate_input)}


def test_the_german_credit_data_is_clean() -> None:
    results = evaluate(spec_with(), german())
    assert list(results) == [
        "data_quality.schema",
        "data_quality.missing_rate",
        "data_quality.out_of_range_rate",
        "data_quality.unseen_category_rate",
        "data_quality.duplicate_subjects",
        "data_quality.label_leakage",
    ]
    assert all(r.passed for r in results.values())
    assert all(r.kind == "riskops.gate/data_quality@1" for r in results.values())
    assert results["data_quality.schema"].value == 0.0
    assert results["data_quality.missing_rate"].evidence["rows"] == 1000
    duplicates = results["data_quality.duplicate_subjects"]
    assert (duplicates.value, duplicates.comparison) == (None, "n/a")
    assert "no data.subject_key" in duplicates.evidence["note"]
    assert duplicates.evidence["duplicate_rows"] == 0


def test_missing_values_are_rated_per_feature() -> None:
    raw = german()
    raw.loc[:29, "credit_amount"] = pd.NA  # 30 of 1,000
    raw.loc[30:39, "job"] = " "  # blank counts as missing, as in the schema check
    result = evaluate(spec_with(), raw)["data_quality.missing_rate"]
    assert result.value == pytest.approx(0.03)
    assert result.evidence["worst"] == "credit_amount"
    rates = {row["feature"]: row["rate"] for row in result.evidence["features"]}
    assert rates["job"] == pytest.approx(0.01)
    assert result.passed  # 3% <= 5%
    raw.loc[:79, "credit_amount"] = pd.NA
    assert not evaluate(spec_with(), raw)["data_quality.missing_rate"].passed


def test_values_outside_the_spec_range_are_counted() -> None:
    raw = german()
    raw.loc[:4, "duration_in_month"] = "150"  # above max 120
    raw.loc[5, "present_residence_since"] = "0"  # below min 1
    result = evaluate(spec_with(), raw)["data_quality.out_of_range_rate"]
    assert result.value == pytest.approx(0.005)
    assert not result.passed  # the spec's bounds are hard: 0 allowed
    by_feature = {row["feature"]: row for row in result.evidence["features"]}
    assert by_feature["duration_in_month"]["above"] == 5
    assert by_feature["present_residence_since"]["below"] == 1


def test_a_category_never_seen_in_training_is_reported() -> None:
    raw = german()
    retraining = raw["purpose"] == "retraining"
    # Every 'retraining' application goes to the held-out rows.
    ordered = pd.concat([raw[~retraining], raw[retraining]], ignore_index=True)
    result = evaluate(spec_with(), ordered)["data_quality.unseen_category_rate"]
    count = int(retraining.sum())
    assert result.value == pytest.approx(count / 300)
    assert result.evidence["worst"] == "purpose"
    purpose = next(r for r in result.evidence["features"] if r["feature"] == "purpose")
    assert purpose["unseen"] == {"retraining": count}
    assert not result.passed


def test_duplicate_subjects_and_rows() -> None:
    raw = german()
    raw["applicant_id"] = [f"A{i:04d}" for i in range(len(raw))]
    raw.loc[10:14, "applicant_id"] = raw.loc[0:4, "applicant_id"].to_numpy()  # 5 repeats
    raw.iloc[20] = raw.iloc[21]  # one exact duplicate row (its key too)

    def keyed(spec: dict[str, Any]) -> None:
        spec["data"]["subject_key"] = "applicant_id"

    result = evaluate(spec_with(keyed), raw)["data_quality.duplicate_subjects"]
    assert result.value == pytest.approx(6 / 1000)
    assert result.evidence["duplicate_subjects"] == 6
    assert result.evidence["duplicate_rows"] == 1
    assert not result.passed


def test_a_field_that_gives_the_outcome_away_is_flagged() -> None:
    raw = german()
    bad = (raw["creditability"] == "bad").to_numpy()
    rng = np.random.default_rng(0)
    raw["days_in_arrears"] = [str(v) for v in np.where(bad, 60, 0) + rng.integers(0, 5, len(raw))]
    raw["collections_flag"] = np.where(bad, "yes", "no")

    def leaking(spec: dict[str, Any]) -> None:
        spec["features"].append(
            {"name": "days_in_arrears", "type": "numeric", "min": 0, "reason": "Arrears"}
        )
        spec["features"].append(
            {
                "name": "collections_flag",
                "type": "categorical",
                "categories": ["no", "yes"],
                "reason": "In collections",
            }
        )

    result = evaluate(spec_with(leaking), raw)["data_quality.label_leakage"]
    top = result.evidence["top_features"]
    assert {top[0]["feature"], top[1]["feature"]} == {"days_in_arrears", "collections_flag"}
    assert top[0]["auc"] == pytest.approx(1.0)
    assert result.value == pytest.approx(1.0)
    assert not result.passed
    assert top[2]["feature"] == "status_of_existing_checking_account"
    assert len(top) == 10


def test_either_direction_of_a_feature_counts_the_same() -> None:
    raw = german()
    # Reversing a feature's direction leaves max(AUC, 1 − AUC) as it was.
    base = evaluate(spec_with(), raw)["data_quality.label_leakage"].evidence["top_features"]
    flipped = raw.copy()
    flipped["duration_in_month"] = [str(121 - int(v)) for v in raw["duration_in_month"]]
    again = evaluate(spec_with(), flipped)["data_quality.label_leakage"].evidence["top_features"]
    duration = next(r["auc"] for r in base if r["feature"] == "duration_in_month")
    assert duration == pytest.approx(
        next(r["auc"] for r in again if r["feature"] == "duration_in_month")
    )


def test_a_missing_column_fails_the_schema() -> None:
    raw = german().drop(columns=["foreign_worker"])
    results = evaluate(spec_with(), raw)
    schema = results["data_quality.schema"]
    assert schema.value == 1.0
    assert schema.evidence["missing_columns"] == ["foreign_worker"]
    assert not schema.passed


def test_the_reference_models_data_quality(ctx: Context) -> None:
    outcome = validate(ctx, train(ctx, SPEC, actor="alice").ref, actor="victor")
    gates = {r.gate: r for r in outcome.results if r.gate.startswith("data_quality.")}
    assert len(gates) == 6
    assert all(r.passed for r in gates.values())
    leakage = gates["data_quality.label_leakage"]
    assert leakage.threshold == 0.90
    assert leakage.evidence["worst"] == "status_of_existing_checking_account"
    assert leakage.value == pytest.approx(0.708, abs=0.001)
    assert gates["data_quality.unseen_category_rate"].evidence["held_out_rows"] == len(
        reference_split().test
    )
