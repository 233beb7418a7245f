from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from riskops.spec import ModelSpec
from riskops.validation.gates.detection import DetectionGate, recall_at_fpr
from tests.unit.validation.toys import scored, toy_input


def _spec(
    detection: dict[str, Any] | None, prevalence: float | None = None, **policy: Any
) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": "toy-fraud",
            "kind": "fraud",
            "intended_use": "Checking the detection gate.",
            "risk_tier": "low",
            "owner": "tests",
            "data": {
                "source": "toy.csv",
                "label": {"column": "y", "positive": 1, "negative": 0},
                "population_prevalence": prevalence,
            },
            "features": [{"name": "x", "type": "numeric", "reason": "The only input"}],
            "trainer": {"entrypoint": "trainer.py:fit"},
            "policy": policy or {"approve_below": 0.3, "decline_from": 0.6},
            "gates": {"detection": detection} if detection is not None else {},
        }
    )


# 4 frauds, 6 legitimate; scores rank all frauds above all but one legitimate row.
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
SCORES = np.array([0.9, 0.8, 0.7, 0.2, 0.5, 0.1, 0.1, 0.05, 0.05, 0.01])
COSTS = {"type": "expected_cost", "costs": {"missed_event": 100, "false_alarm": 10, "review": 2}}


def _results(spec: ModelSpec) -> dict[str, Any]:
    out = DetectionGate().evaluate(toy_input(spec, scored("validation", Y, SCORES)))
    return {r.gate: r for r in out}


def test_recall_at_a_false_positive_rate_takes_the_best_threshold_within_it() -> None:
    w = np.ones((1, len(Y)))
    recall, threshold = recall_at_fpr(Y, SCORES, w, 0.0)
    assert recall[0] == pytest.approx(0.75)  # 0.9, 0.8, 0.7 caught before the 0.5 non-event
    assert threshold[0] == 0.7
    recall, threshold = recall_at_fpr(Y, SCORES, w, 1 / 6)
    assert recall[0] == 1.0  # at 0.2 only the 0.5 non-event is above: FPR 1/6
    assert threshold[0] == 0.2


def test_alert_rate_and_expected_cost_under_the_policy_unweighted() -> None:
    gates = _results(_spec({"max_alert_rate": 0.5, "max_expected_cost_per_1k": 50_000}, **COSTS))
    # Cut-offs of least cost: review from 2/100 = 0.02, block from 1 - 2/10 = 0.8.
    # Codes: 0.9 0.8 block; 0.7 0.2 review; 0.5 review (non-event); 0.1 0.1 0.05 0.05 review;
    # 0.01 allow. Alerts 9 of 10.
    alert = gates["detection.alert_rate"]
    assert alert.value == pytest.approx(0.9)
    assert not alert.passed
    cost = gates["detection.expected_cost_per_1k"]
    # Two blocked frauds cost 0, seven reviews cost 2 each, one allowed non-event 0.
    assert cost.value == pytest.approx(1000 * 14 / 10)
    trivial = gates["detection.expected_cost_vs_trivial"]
    # allow all 100 * 0.4 = 40, review all 2, block all 10 * 0.6 = 6 per case: cheapest 2000/1k.
    assert trivial.threshold == pytest.approx(2000)
    assert trivial.passed
    assert cost.evidence["weights"]["method"] == "unweighted"
    assert [o["outcome"] for o in cost.evidence["outcomes"]] == ["allow", "review", "block"]
    assert set(cost.evidence["ci"]) >= {"recall_at_fpr", "alert_rate", "expected_cost_per_1k"}


def test_a_population_prevalence_reweights_every_rate_and_says_so() -> None:
    gates = _results(_spec({"max_alert_rate": 0.5}, prevalence=0.01, **COSTS))
    alert = gates["detection.alert_rate"]
    w_event, w_non = 0.01 / 0.4, 0.99 / 0.6
    expected = (4 * w_event + 5 * w_non) / (4 * w_event + 6 * w_non)
    assert alert.value == pytest.approx(expected)
    assert alert.evidence["weights"]["note"].startswith("reweighted to 1%")
    # Recall needs no weights: it is the same with or without them.
    unweighted = _results(_spec({"max_alert_rate": 0.5}, **COSTS))
    assert gates["detection.recall_at_fpr"].value == unweighted["detection.recall_at_fpr"].value


def test_without_costs_the_expected_cost_is_not_judged_and_says_why() -> None:
    gates = _results(_spec({}))
    trivial = gates["detection.expected_cost_vs_trivial"]
    assert trivial.passed
    assert trivial.value is None
    assert "the policy states no costs" in trivial.evidence["note"]
    assert "detection.expected_cost_per_1k" not in gates


def test_a_credit_spec_runs_no_detection_gate_and_one_class_cannot_be_judged() -> None:
    credit = ModelSpec.model_validate(
        {**_spec({}).model_dump(by_alias=True), "kind": "credit", "gates": {}}
    )
    assert DetectionGate().evaluate(toy_input(credit, scored("validation", Y, SCORES))) == []
    [only] = DetectionGate().evaluate(
        toy_input(_spec({}), scored("validation", np.zeros(4, dtype=int), SCORES[:4]))
    )
    assert not only.passed
    assert "detection needs both events and non-events" in only.evidence["note"]
