"""The monotonicity gate: hand-made scores with a known dip, the reference trainer's monotone
param, and a whole validation run of a model that contradicts the spec's declaration."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from riskops.context import Context
from riskops.registry.versions import ModelRef
from riskops.spec import ModelSpec, load_spec
from riskops.training.pipeline import train
from riskops.validation.gate import GateInput, Sample, VersionInfo
from riskops.validation.gates.monotonicity import MonotonicityGate, grid, violations
from riskops.validation.run import validate
from tests.conftest import SPEC


def small_spec(monotone: str | None, **gate: Any) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": "toy-model",
            "intended_use": "Checking the monotonicity gate.",
            "risk_tier": "low",
            "owner": "tests",
            "data": {"source": "toy.csv", "label": {"column": "y", "positive": 1, "negative": 0}},
            "features": [
                {"name": "amount", "type": "numeric", "monotone": monotone, "reason": "Amount"},
                {"name": "kind", "type": "categorical", "categories": ["a", "b"], "reason": "Kind"},
            ],
            "trainer": {"entrypoint": "trainer.py:fit"},
            "policy": {"approve_below": 0.3, "decline_from": 0.6},
            "gates": {"monotonicity": gate},
        }
    )


def toy_input(spec: ModelSpec, score: Callable[[np.ndarray], np.ndarray]) -> GateInput:
    def sample(name: str, amounts: np.ndarray) -> Sample:
        matrix = np.column_stack([amounts, np.arange(len(amounts)) % 2]).astype(np.float64)
        frame = pd.DataFrame(matrix, columns=["amount", "kind"])
        y = np.arange(len(amounts)) % 2
        return Sample(name, frame, frame, matrix, y, score(matrix))

    return GateInput(
        spec=spec,
        candidate=VersionInfo(ModelRef("toy-model", 1), "sha256:toy"),
        champion=None,
        train=sample("train", np.linspace(0.0, 100.0, 101)),
        validation=sample("validation", np.linspace(5.0, 95.0, 40)),
        out_of_time=None,
        model=None,
        flavor="sklearn",
        score=score,
    )


def rising_with_a_dip(matrix: np.ndarray) -> np.ndarray:
    """0.005 per unit of amount, less 0.05 from 60 on: one step down of 0.05 - 0.005 * 5."""
    amount = matrix[:, 0]
    return 0.005 * amount - np.where(amount >= 60.0, 0.05, 0.0) + 0.01 * matrix[:, 1]


def test_a_rising_score_passes_a_declared_increase_and_fails_a_declared_decrease() -> None:
    def rising(matrix: np.ndarray) -> np.ndarray:
        return 0.005 * matrix[:, 0]

    [up] = MonotonicityGate().evaluate(toy_input(small_spec("increasing"), rising))
    assert (up.gate, up.value, up.passed, up.comparison) == ("monotonicity.amount", 0.0, True, "<=")
    assert up.evidence["rows_violating"] == 0
    [down] = MonotonicityGate().evaluate(toy_input(small_spec("decreasing", grid_points=5), rising))
    assert not down.passed
    assert down.blocks
    # The grid is 0, 25, 50, 75, 100 (5 quantiles of 0..100): each step rises 0.125.
    assert down.evidence["grid"] == [0.0, 25.0, 50.0, 75.0, 100.0]
    assert down.value == pytest.approx(0.125)
    assert down.evidence["rows_violating"] == down.evidence["rows_checked"] == 40


def test_the_largest_step_against_the_direction_is_the_value() -> None:
    spec = small_spec("increasing", grid_points=21, sample_rows=10, tolerance=0.001)
    [result] = MonotonicityGate().evaluate(toy_input(spec, rising_with_a_dip))
    # Grid step 5: from 55 to 60 the score moves by 0.025 - 0.05 = -0.025.
    assert result.value == pytest.approx(0.025)
    assert result.threshold == 0.001
    assert not result.passed
    assert result.evidence["rows_checked"] == 10
    assert result.evidence["rows_violating"] == 10
    worst = result.evidence["worst_row"]
    assert len(worst["scores"]) == len(result.evidence["grid"]) == 21
    assert worst["violation"] == pytest.approx(0.025)
    assert 0 <= worst["row"] < 40
    # A looser tolerance accepts the same dip.
    loose = small_spec("increasing", grid_points=21, tolerance=0.03)
    [accepted] = MonotonicityGate().evaluate(toy_input(loose, rising_with_a_dip))
    assert accepted.passed


def test_the_checked_rows_are_the_same_on_every_run() -> None:
    spec = small_spec("increasing", sample_rows=7)
    first = MonotonicityGate().evaluate(toy_input(spec, rising_with_a_dip))
    second = MonotonicityGate().evaluate(toy_input(spec, rising_with_a_dip))
    assert first == second


def test_without_a_declared_relation_one_result_says_so() -> None:
    [result] = MonotonicityGate().evaluate(toy_input(small_spec(None), rising_with_a_dip))
    assert result.passed
    assert result.value is None
    assert result.evidence["note"] == "no feature declares a monotone relation in the spec"


def test_grid_and_violations_helpers() -> None:
    assert grid(np.array([3.0, np.nan, 1.0, 2.0]), 3).tolist() == [1.0, 2.0, 3.0]
    assert grid(np.array([np.nan]), 5).size == 0
    curves = np.array([[0.1, 0.2, 0.15], [0.3, 0.2, 0.1]])
    assert violations(curves, "increasing") == pytest.approx([0.05, 0.1])
    assert violations(curves, "decreasing") == pytest.approx([0.1, 0.0])


def reference_trainer() -> ModuleType:
    module_spec = importlib.util.spec_from_file_location(
        "credit_trainer", SPEC.parent / "trainer.py"
    )
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_the_reference_specs_declarations_and_trainer_params_agree() -> None:
    spec = load_spec(SPEC).spec
    declared = {
        f.name: 1 if f.monotone == "increasing" else -1 for f in spec.features if f.monotone
    }
    assert declared == spec.trainer.params["monotone"]
    assert set(declared) == {
        "duration_in_month",
        "installment_rate_in_percentage_of_disposable_income",
    }


def test_the_trainer_turns_monotone_into_lightgbms_constraints_in_column_order() -> None:
    trainer = reference_trainer()
    X = pd.DataFrame(
        {
            "a": [1.0, 2.0],
            "kind": pd.Categorical(["x", "y"]),
            "b": [3.0, 4.0],
        }
    )
    assert trainer.monotone_constraints(X, {"b": 1, "a": -1}) == [-1, 0, 1]
    with pytest.raises(ValueError, match="monotone names c, which are not features"):
        trainer.monotone_constraints(X, {"c": 1})
    with pytest.raises(ValueError, match=r"monotone.a is 2; use 1 .* or -1"):
        trainer.monotone_constraints(X, {"a": 2})
    with pytest.raises(ValueError, match="a categorical feature cannot be monotone"):
        trainer.monotone_constraints(X, {"kind": 1})


SHORTER_IS_RISKIER = '''

def fit_shorter_is_riskier(X, y, params):
    """Learns that loans under 18 months are the bad ones: risk falls with the duration."""
    monotone = {k: v for k, v in params["monotone"].items() if k != "duration_in_month"}
    params = {**params, "monotone": monotone}
    return fit_lightgbm(X, (X["duration_in_month"] < 18).to_numpy().astype(int), params)
'''


def test_a_model_that_breaks_a_declared_increase_is_rejected(
    ctx: Context, spec_copy: Callable[..., Path]
) -> None:
    path = spec_copy(
        lambda raw: raw["trainer"].update(entrypoint="trainer.py:fit_shorter_is_riskier")
    )
    with (path.parent / "trainer.py").open("a", encoding="utf-8") as f:
        f.write(SHORTER_IS_RISKIER)
    outcome = validate(ctx, train(ctx, path, actor="alice").ref, actor="victor")
    assert outcome.state == "rejected"
    results = {r.gate: r for r in outcome.results}
    duration = results["monotonicity.duration_in_month"]
    assert duration.blocks
    assert duration.kind == "riskops.gate/monotonicity@1"
    assert duration.value is not None
    assert duration.value > 0.5  # the step down at 18 months
    assert duration.evidence["direction"] == "increasing"
    assert duration.evidence["rows_checked"] == 200
    assert duration.evidence["rows_violating"] == 200
    worst = duration.evidence["worst_row"]["scores"]
    assert worst[0] > 0.9 > 0.1 > worst[-1]
    # The relation the trainer still constrains holds.
    assert results["monotonicity.installment_rate_in_percentage_of_disposable_income"].passed
