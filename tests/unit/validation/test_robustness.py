"""The robustness gate: score changes computed by hand for a linear score, a score that jumps
with tiny input changes, and the reference model in a whole validation run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from riskops.context import Context
from riskops.registry.versions import ModelRef
from riskops.spec import ModelSpec
from riskops.training.pipeline import train
from riskops.validation.gate import GateInput, Sample, VersionInfo
from riskops.validation.gates.robustness import RobustnessGate, feature_step, score_change
from riskops.validation.run import validate
from tests.conftest import SPEC, reference_split

# amount, kind (categorical code), months; the second row has no months.
MATRIX = np.array(
    [[100.0, 0.0, 12.0], [200.0, 1.0, np.nan], [400.0, 1.0, 24.0], [800.0, 0.0, 36.0]]
)


def small_spec(**gate: Any) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": "toy-model",
            "intended_use": "Checking the robustness gate.",
            "risk_tier": "low",
            "owner": "tests",
            "data": {"source": "toy.csv", "label": {"column": "y", "positive": 1, "negative": 0}},
            "features": [
                {"name": "amount", "type": "numeric", "reason": "Amount"},
                {"name": "kind", "type": "categorical", "categories": ["a", "b"], "reason": "Kind"},
                {"name": "months", "type": "numeric", "allow_missing": True, "reason": "Term"},
            ],
            "trainer": {"entrypoint": "trainer.py:fit"},
            "policy": {"approve_below": 0.3, "decline_from": 0.6},
            "gates": {"robustness": gate},
        }
    )


def toy_input(spec: ModelSpec, score: Callable[[np.ndarray], np.ndarray]) -> GateInput:
    frame = pd.DataFrame(MATRIX, columns=["amount", "kind", "months"])
    y = np.array([0, 1, 0, 1])
    sample = Sample("validation", frame, frame, MATRIX, y, score(MATRIX))
    return GateInput(
        spec=spec,
        candidate=VersionInfo(ModelRef("toy-model", 1), "sha256:toy"),
        champion=None,
        train=sample,
        validation=sample,
        out_of_time=None,
        model=None,
        flavor="sklearn",
        score=score,
    )


def linear(matrix: np.ndarray) -> np.ndarray:
    """0.0001 per unit of amount, 0.5 per category code, 0.001 per month (none when missing)."""
    return 0.0001 * matrix[:, 0] + 0.5 * matrix[:, 1] + 0.001 * np.nan_to_num(matrix[:, 2])


def test_a_linear_score_moves_by_the_perturbation_times_its_slope() -> None:
    spec = small_spec(relative_perturbation=0.1, max_abs_score_change=0.01)
    mean_result, max_result = RobustnessGate().evaluate(toy_input(spec, linear))
    # Per row, both directions move by 0.1 * (0.0001 * amount + 0.001 * months); the category
    # code is not touched and the missing months stay missing.
    expected = 0.1 * (0.0001 * np.array([100, 200, 400, 800]) + 0.001 * np.array([12, 0, 24, 36]))
    assert mean_result.gate == "robustness.mean_abs_score_change"
    assert mean_result.value == pytest.approx(expected.mean())
    assert max_result.gate == "robustness.max_abs_score_change"
    assert max_result.value == pytest.approx(expected.max())
    assert mean_result.passed  # 0.0056 <= 0.02
    assert not max_result.passed  # 0.0116 > 0.01: the optional maximum has its own result
    by_feature = {row["feature"]: row for row in mean_result.evidence["features"]}
    assert set(by_feature) == {"amount", "months"}
    assert by_feature["amount"]["mean_abs_score_change"] == pytest.approx(0.1 * 0.0001 * 375)
    assert by_feature["months"]["max_abs_score_change"] == pytest.approx(0.1 * 0.001 * 36)
    assert [row["feature"] for row in mean_result.evidence["features"]] == ["amount", "months"]


def test_missing_values_stay_missing_and_category_codes_stay_put() -> None:
    seen: list[np.ndarray] = []

    def record(matrix: np.ndarray) -> np.ndarray:
        seen.append(matrix.copy())
        return linear(matrix)

    changes = score_change(record, MATRIX, [0, 2], 0.5)
    assert changes.shape == (4,)
    for moved in seen[1:]:
        assert np.isnan(moved[1, 2])
        assert moved[:, 1].tolist() == MATRIX[:, 1].tolist()
    assert sorted(seen[1][:, 0].tolist() + seen[2][:, 0].tolist()) == [
        50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 600.0, 1200.0
    ]  # fmt: skip


def test_a_score_that_jumps_with_tiny_changes_fails() -> None:
    def jumpy(matrix: np.ndarray) -> np.ndarray:
        # Only the exact amounts it has seen score low: any change at all jumps to 0.9.
        return np.where(np.isin(matrix[:, 0], MATRIX[:, 0]), 0.1, 0.9)

    spec = small_spec(severity="blocking")
    [result] = RobustnessGate().evaluate(toy_input(spec, jumpy))
    assert result.value == pytest.approx(0.8)
    assert result.threshold == 0.02
    assert result.blocks


def test_the_reference_model_barely_moves(ctx: Context) -> None:
    outcome = validate(ctx, train(ctx, SPEC, actor="alice").ref, actor="victor")
    [result] = [r for r in outcome.results if r.gate.startswith("robustness.")]
    assert result.kind == "riskops.gate/robustness@1"
    assert result.passed
    assert result.value is not None
    assert 0.0 < result.value < 0.02
    assert result.evidence["rows"] == len(reference_split().test)
    features = result.evidence["features"]
    assert len(features) == 6  # the spec's numeric features
    changes = [row["mean_abs_score_change"] for row in features]
    assert changes == sorted(changes, reverse=True)


def test_each_feature_moves_by_a_step_that_means_something_for_it() -> None:
    spec = small_spec(relative_perturbation=0.01)
    [result] = RobustnessGate().evaluate(toy_input(spec, linear))
    steps = {row["feature"]: row for row in result.evidence["feature_steps"]}
    # whole numbers move by one unit: months by 0.001 where present (3 of 4 rows), amount by
    # 0.0001 on every row
    assert steps["months"]["step"] == 1.0
    assert steps["months"]["step_kind"].startswith("one unit")
    assert steps["months"]["mean_abs_score_change"] == pytest.approx(0.001 * 3 / 4)
    assert steps["amount"]["max_abs_score_change"] == pytest.approx(0.0001)
    assert [row["feature"] for row in result.evidence["feature_steps"]] == ["months", "amount"]


def test_a_continuous_feature_steps_by_its_middle_decile() -> None:
    values = np.linspace(0.0, 1.0, 101) + 0.001
    step, kind = feature_step(np.append(values, np.nan))
    assert step == pytest.approx(0.1)
    assert kind.startswith("middle-decile width")
    assert feature_step(np.array([np.nan])) == (0.0, "no value to step from")
