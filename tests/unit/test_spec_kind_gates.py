"""Each kind's default gates: what a spec gets when it leaves a gate (or a field) out."""

from __future__ import annotations

from typing import Any

import pytest

from riskops.errors import SpecError
from riskops.spec import DetectionGate, Gates, ModelSpec, dump_spec, parse_spec


def _spec(kind: str | None, gates: dict[str, Any] | None = None, **extra: Any) -> ModelSpec:
    raw: dict[str, Any] = {
        "name": "kind-model",
        "intended_use": "Checking the kinds' default gates.",
        "risk_tier": "low",
        "owner": "tests",
        "data": {"source": "x.csv", "label": {"column": "y", "positive": 1, "negative": 0}},
        "features": [{"name": "x", "type": "numeric", "reason": "The only input"}],
        "trainer": {"entrypoint": "trainer.py:fit"},
        "policy": {"approve_below": 0.3, "decline_from": 0.6},
        **extra,
    }
    if kind is not None:
        raw["kind"] = kind
    if gates is not None:
        raw["gates"] = gates
    return ModelSpec.model_validate(raw)


def test_credit_keeps_todays_defaults() -> None:
    assert _spec(None).gates == Gates()
    assert _spec("credit").gates == Gates()
    assert _spec("credit").gates.detection is None


@pytest.mark.parametrize("kind", ["fraud", "transaction_risk"])
def test_alerting_kinds_get_pr_auc_and_the_detection_gate(kind: str) -> None:
    gates = _spec(kind).gates
    assert gates.performance.min_pr_auc == 0.3
    assert gates.performance.min_auc == 0.85
    assert gates.detection == DetectionGate()
    assert gates.fairness.severity == "advisory"
    assert gates.data_quality.max_single_feature_auc == 0.99
    assert gates.monotonicity == Gates().monotonicity  # only declared features are checked


def test_a_field_the_spec_sets_wins_and_the_rest_of_the_gate_keeps_the_kinds_default() -> None:
    gates = _spec(
        "fraud",
        {
            "performance": {"min_auc": 0.95, "min_pr_auc": None},
            "detection": {"max_alert_rate": 0.05},
        },
    ).gates
    assert gates.performance.min_auc == 0.95
    assert gates.performance.min_pr_auc is None  # explicitly unset
    assert gates.detection is not None
    assert gates.detection.max_alert_rate == 0.05
    assert gates.detection.min_recall_at_fpr == DetectionGate().min_recall_at_fpr


def test_a_spec_round_trips_with_its_kinds_gates() -> None:
    spec = _spec("fraud")
    assert parse_spec(dump_spec(spec)).spec == spec


def test_an_expected_cost_threshold_without_costs_is_refused() -> None:
    text = dump_spec(_spec("fraud")).replace(
        "max_expected_cost_per_1k: null", "max_expected_cost_per_1k: 100"
    )
    with pytest.raises(SpecError, match="not a valid model spec") as caught:
        parse_spec(text)
    assert "max_expected_cost_per_1k needs the policy's costs" in str(caught.value.problems)


def test_a_bad_population_prevalence_is_refused() -> None:
    with pytest.raises(ValueError, match="population_prevalence"):
        _spec(
            "fraud",
            data={
                "source": "x.csv",
                "label": {"column": "y", "positive": 1, "negative": 0},
                "population_prevalence": 1.5,
            },
        )
