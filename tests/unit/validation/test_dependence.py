"""Partial dependence: the mean score with one feature set on every row, on a known function;
the grid of observed quantiles or of the spec's categories; the declared direction checked;
and on the reference model, the explainability gate's top features with the monotone
constraint visible in the curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from riskops.registry.versions import ModelRef
from riskops.spec import ModelSpec, load_spec
from riskops.validation.gate import GateInput, Sample, VersionInfo, settle
from riskops.validation.gates.dependence import (
    DependenceGate,
    follows,
    grid_for,
    partial_dependence,
)
from riskops.validation.gates.explainability import ExplainabilityGate
from tests.conftest import SPEC
from tests.unit.validation.test_explainability import gate_input, reference_trainer


def test_the_mean_of_a_function_of_one_feature_is_that_function() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(50, 3))
    grid = np.array([1.0, 2.0, 5.0])

    def score(m: np.ndarray) -> np.ndarray:
        return m[:, 1] / 10 + 0.0 * m[:, 0]

    found = partial_dependence(score, matrix, 1, grid)
    assert found["mean_score"] == pytest.approx([0.1, 0.2, 0.5])
    assert found["ice_p10"] == pytest.approx([0.1, 0.2, 0.5])
    assert found["ice_p90"] == pytest.approx([0.1, 0.2, 0.5])


def test_the_mean_is_over_rows_with_their_other_features_kept_and_weighted() -> None:
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(40, 2))
    weights = rng.uniform(0.5, 2.0, size=40)

    def score(m: np.ndarray) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-(m[:, 0] * m[:, 1]))))

    found = partial_dependence(score, matrix, 0, np.array([-1.0, 3.0]), weights)
    for value, mean in zip((-1.0, 3.0), found["mean_score"], strict=True):
        by_hand = 1.0 / (1.0 + np.exp(-(value * matrix[:, 1])))
        assert mean == pytest.approx(float(np.average(by_hand, weights=weights)))


def test_grids_are_observed_quantiles_or_the_spec_categories() -> None:
    spec = load_spec(SPEC).spec
    duration = spec.feature("duration_in_month")
    column = np.array([6.0, 12, 12, 24, 36, np.nan, 48, 9, 18, 60] * 5)
    grid = grid_for(duration, column)
    assert set(grid) <= set(column[~np.isnan(column)])  # observed values only
    assert list(grid) == sorted(set(grid))
    housing = spec.feature("housing")
    assert list(grid_for(housing, column)) == [0.0, 1.0, 2.0]


def test_a_declared_direction_is_checked_on_the_mean_curve() -> None:
    assert follows("increasing", [0.1, 0.1, 0.3]) is True
    assert follows("increasing", [0.1, 0.3, 0.2]) is False
    assert follows("decreasing", [0.3, 0.2, 0.2]) is True
    assert follows(None, [0.3, 0.4]) is None


def toy_input() -> GateInput:
    """A logistic model increasing in ``x``, decreasing in category order of ``c``."""
    spec = ModelSpec.model_validate(
        {
            "name": "pd-toy",
            "intended_use": "Checking partial dependence.",
            "risk_tier": "low",
            "owner": "tests",
            "data": {"source": "toy.csv", "label": {"column": "y", "positive": 1, "negative": 0}},
            "features": [
                {"name": "x", "type": "numeric", "monotone": "decreasing", "reason": "A number"},
                {
                    "name": "c",
                    "type": "categorical",
                    "categories": ["lo", "mid", "hi"],
                    "reason": "A kind",
                },
            ],
            "trainer": {"entrypoint": "trainer.py:fit"},
            "policy": {"approve_below": 0.3, "decline_from": 0.6},
            "gates": {"explainability": {"dependence_features": 2}},
        }
    )
    rng = np.random.default_rng(2)
    matrix = np.column_stack([rng.normal(size=600), rng.integers(0, 3, size=600)]).astype(float)
    logit = 2.0 * matrix[:, 0] - 1.0 * matrix[:, 1]
    y = (rng.random(600) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    model = LogisticRegression().fit(matrix, y)

    def score(m: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_proba(m)[:, 1])

    frame = pd.DataFrame(matrix, columns=["x", "c"])
    sample = Sample("validation", frame, frame, matrix, y, score(matrix))
    return GateInput(
        spec=spec,
        candidate=VersionInfo(ModelRef("pd-toy", 1), "sha256:one"),
        champion=None,
        train=sample,
        validation=sample,
        out_of_time=None,
        model=model,
        flavor="sklearn",
        score=score,
    )


def test_the_gate_records_a_curve_per_top_feature_with_category_names_and_direction() -> None:
    [result] = settle(DependenceGate().evaluate(toy_input()), {})
    assert result.gate == "explainability.partial_dependence"
    assert result.status == "reported"
    assert result.value == 2
    curves = {c["feature"]: c for c in result.evidence["curves"]}
    assert list(curves) == ["x", "c"]  # x carries more of the score
    x, c = curves["x"], curves["c"]
    assert np.all(np.diff(x["mean_score"]) > 0)  # the model rises with x ...
    assert (x["monotone"], x["follows_monotone"]) == ("decreasing", False)  # ... against the spec
    assert c["labels"] == ["lo", "mid", "hi"]
    assert c["grid"] == [0.0, 1.0, 2.0]
    assert np.all(np.diff(c["mean_score"]) < 0)
    assert c["follows_monotone"] is None
    assert all(
        lo <= m <= hi
        for cv in (x, c)
        for lo, m, hi in zip(cv["ice_p10"], cv["mean_score"], cv["ice_p90"], strict=True)
    )


def test_on_the_reference_model_the_top_features_are_the_explainability_gates() -> None:
    trainer = reference_trainer()
    params = load_spec(SPEC).spec.trainer.params
    data = gate_input(lambda X, y: trainer.fit_lightgbm(X, y, dict(params)))
    [result] = DependenceGate().evaluate(data)
    ranked = next(
        r for r in ExplainabilityGate().evaluate(data) if r.gate.endswith("importance_recorded")
    )
    k = data.spec.gates.explainability.dependence_features
    curves = result.evidence["curves"]
    assert [c["feature"] for c in curves] == ranked.evidence["top_features"][:k]
    for curve in curves:
        if curve["monotone"] is not None:
            assert curve["follows_monotone"] is True
    # LightGBM's monotone constraints hold for the mean curve of every declared feature
    names = list(data.spec.feature_names)
    declared = [f for f in data.spec.features if f.monotone is not None]
    assert declared
    for feature in declared:
        column = names.index(feature.name)
        grid = grid_for(feature, data.train.matrix[:, column])
        found = partial_dependence(data.score, data.held_out.matrix, column, grid)
        assert follows(feature.monotone, found["mean_score"]) is True
