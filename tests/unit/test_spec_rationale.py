"""The spec's ``rationale``: the provider's reasons, keyed by what each one explains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from riskops.errors import SpecError
from riskops.spec import ModelSpec, dump_spec, load_spec, parse_spec, rationale_keys

MODELS = Path(__file__).resolve().parents[2] / "models"


def _text(rationale: dict[str, str]) -> str:
    raw: dict[str, Any] = {
        "name": "why-model",
        "intended_use": "Checking the rationale keys.",
        "risk_tier": "low",
        "owner": "tests",
        "data": {"source": "x.csv", "label": {"column": "y", "positive": 1, "negative": 0}},
        "features": [{"name": "x", "type": "numeric", "reason": "The only input"}],
        "trainer": {"entrypoint": "trainer.py:fit", "params": {"depth": 3}},
        "policy": {"approve_below": 0.3, "decline_from": 0.6},
        "rationale": rationale,
    }
    return yaml.safe_dump(raw)


def _spec(rationale: dict[str, str]) -> ModelSpec:
    return parse_spec(_text(rationale)).spec


def test_keys_name_gates_thresholds_sections_features_and_dropped_ones() -> None:
    rationale = {
        "fairness": "The four-fifths rule, not loosened.",
        "calibration.max_ece": "Twice the noise floor at this sample size.",
        "policy": "A person decides between the cut-offs.",
        "split": "A stratified split keeps the bad rate.",
        "features.x": "The only input.",
        "features.dropped.age": "Age lowered the approval ratio to 0.66.",
        "trainer.params.depth": "Shallow trees explain better.",
        "risk_tier": "No credit decision rests on it.",
    }
    spec = _spec(rationale)
    assert spec.rationale == rationale
    assert parse_spec(dump_spec(spec)).spec == spec


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [("fairnes", "'fairness'"), ("calibration.max_ec", "'calibration.max_ece'")],
)
def test_a_misspelt_key_is_refused_with_its_nearest_keys(key: str, suggestion: str) -> None:
    with pytest.raises(SpecError) as caught:
        _spec({key: "A reason that explains nothing."})
    assert f"rationale names {key!r}, which is nothing in the spec; did you mean" in str(
        caught.value.problems
    )
    assert suggestion in str(caught.value.problems)


def test_a_feature_of_the_spec_is_not_a_dropped_one() -> None:
    with pytest.raises(SpecError) as caught:
        _spec({"features.dropped.x": "It was never dropped."})
    assert "explain it under rationale.features.x" in str(caught.value.problems)


def test_an_empty_reason_is_refused() -> None:
    with pytest.raises(SpecError, match="not a valid model spec"):
        _spec({"policy": ""})


def test_a_check_gets_its_family_and_its_thresholds_entries() -> None:
    spec = _spec(
        {
            "calibration": "Advisory on few rows.",
            "calibration.max_ece": "Twice the noise floor.",
            "calibration.slope_range": "Two standard errors.",
            "performance": "Clear skill.",
        }
    )
    assert spec.rationale_of("calibration.ece") == (
        ("calibration", "Advisory on few rows."),
        ("calibration.max_ece", "Twice the noise floor."),
    )
    assert spec.rationale_of("calibration.slope") == (
        ("calibration", "Advisory on few rows."),
        ("calibration.slope_range", "Two standard errors."),
    )
    assert spec.rationale_of("fairness.sex.approval_rate_ratio") == ()


@pytest.mark.parametrize("model", ["credit_scoring", "fraud_detection", "transaction_risk"])
def test_the_reference_specs_explain_their_gates_and_policy(model: str) -> None:
    spec = load_spec(MODELS / model / "model.yaml").spec
    assert {"policy", "performance", "data_quality"} <= set(spec.rationale)
    known = set(rationale_keys(spec))
    assert all(k in known or k.startswith("features.dropped.") for k in spec.rationale)


def test_the_credit_spec_says_why_age_was_dropped() -> None:
    spec = load_spec(MODELS / "credit_scoring" / "model.yaml").spec
    assert "age_in_years" in spec.data.protected_attributes
    assert "age_in_years" not in spec.feature_names
    assert "ratio 0.66" in spec.rationale["features.dropped.age_in_years"]
