"""The explainability gate: TreeSHAP importance of the LightGBM model (its contributions add up
to the raw margin), coefficient importance of the scorecard computed by hand, permutation
importance for any other estimator, and the reason-text check."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression

from riskops.context import Context
from riskops.datasets.prepared import prepare
from riskops.datasets.snapshot import load_snapshot
from riskops.registry.flavors import flavor_of, predict_proba
from riskops.registry.versions import ModelRef
from riskops.spec import ModelSpec, load_spec
from riskops.training.pipeline import train
from riskops.validation.gate import GateInput, Sample, VersionInfo
from riskops.validation.gates.explainability import ExplainabilityGate, global_importance
from riskops.validation.run import validate
from tests.conftest import DATA, SPEC, reference_split


def reference_trainer() -> ModuleType:
    module_spec = importlib.util.spec_from_file_location(
        "credit_trainer", SPEC.parent / "trainer.py"
    )
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def gate_input(fit: Callable[[Any, np.ndarray], Any], spec: ModelSpec | None = None) -> GateInput:
    """The reference data, split as in training, scored by the model ``fit`` returns."""
    spec = spec or load_spec(SPEC).spec
    prepared = prepare(load_snapshot(DATA), spec)
    model = fit(prepared.train_features, prepared.y_train)

    def sample(name: str, rows: np.ndarray) -> Sample:
        matrix = prepared.matrix[rows]
        features = prepared.features.iloc[rows].reset_index(drop=True)
        return Sample(
            name, features, features, matrix, prepared.y[rows], predict_proba(model, matrix)
        )

    return GateInput(
        spec=spec,
        candidate=VersionInfo(ModelRef(spec.name, 1), "sha256:test"),
        champion=None,
        train=sample("train", prepared.split.train),
        validation=sample("validation", prepared.split.validation),
        out_of_time=None,
        model=model,
        flavor=flavor_of(model),
        score=lambda matrix: predict_proba(model, matrix),
    )


def test_treeshap_importance_is_the_mean_absolute_contribution_that_adds_up_to_the_margin() -> None:
    trainer = reference_trainer()
    params = load_spec(SPEC).spec.trainer.params
    data = gate_input(lambda X, y: trainer.fit_lightgbm(X, y, dict(params)))
    booster = data.model
    assert isinstance(booster, lgb.Booster)
    matrix = data.held_out.matrix
    contributions = booster.predict(matrix, pred_contrib=True)
    # the validation rows (the helper builds no test sample); 17 features and the expected value
    assert contributions.shape == (len(reference_split().validation), 18)
    margin = booster.predict(matrix, raw_score=True)
    np.testing.assert_allclose(contributions.sum(axis=1), margin, rtol=0, atol=1e-9)

    importance = global_importance(data)
    assert importance.method == "treeshap"
    names = data.spec.feature_names
    expected = np.abs(contributions[:, :-1]).mean(axis=0)
    assert [importance.values[n] for n in names] == pytest.approx(expected.tolist(), abs=1e-12)

    reasons, recorded = ExplainabilityGate().evaluate(data)
    assert reasons.gate == "explainability.reason_texts"
    assert (reasons.value, reasons.passed, reasons.evidence["missing"]) == (0.0, True, [])
    assert recorded.gate == "explainability.importance_recorded"
    assert recorded.passed
    ranking = recorded.evidence["importance"]
    values = [row["mean_abs_contribution"] for row in ranking]
    assert values == sorted(values, reverse=True)
    assert recorded.value == sum(1 for v in values if v != 0.0)
    assert {row["feature"] for row in ranking} == set(names)
    assert all(row["reason"] == data.spec.feature(row["feature"]).reason for row in ranking)
    assert recorded.evidence["top_k"] == 10
    assert recorded.evidence["top_features"] == [row["feature"] for row in ranking[:10]]


def test_scorecard_importance_is_coefficient_times_spread_summed_per_feature() -> None:
    trainer = reference_trainer()
    data = gate_input(lambda X, y: trainer.fit_scorecard(X, y, {}))
    importance = global_importance(data)
    assert importance.method == "coefficients"

    # By hand, from the fitted pipeline's own layout: the one-hot block of each categorical
    # feature (OneHotEncoder.categories_), then one standardised column per numeric feature.
    pipeline = data.model
    prepare_step = pipeline.named_steps["prepare"]
    coef = pipeline.named_steps["logit"].coef_.ravel()
    transformed = prepare_step.transform(data.held_out.matrix)
    transformed = transformed.toarray() if hasattr(transformed, "toarray") else transformed
    weights = np.abs(coef * transformed.std(axis=0))
    names = data.spec.feature_names
    expected: dict[str, float] = {}
    position = 0
    _, encoder, categorical = prepare_step.transformers_[0]
    for column, categories in zip(categorical, encoder.categories_, strict=True):
        expected[names[column]] = float(weights[position : position + len(categories)].sum())
        position += len(categories)
    for column in prepare_step.transformers_[1][2]:
        expected[names[column]] = float(weights[position])
        position += 1
    assert position == len(coef)
    assert importance.values == pytest.approx(expected, abs=1e-12)
    assert importance.values["status_of_existing_checking_account"] > 0.0


def test_a_bare_linear_model_maps_its_coefficients_one_to_one() -> None:
    def fit(X: Any, y: np.ndarray) -> LogisticRegression:
        from riskops.datasets.encoding import encode_frame

        return LogisticRegression(solver="newton-cholesky").fit(encode_frame(X), y)

    data = gate_input(fit)
    importance = global_importance(data)
    assert importance.method == "coefficients"
    expected = np.abs(data.model.coef_.ravel() * data.held_out.matrix.std(axis=0))
    assert list(importance.values.values()) == pytest.approx(expected.tolist())


def test_other_estimators_get_permutation_importance() -> None:
    def fit(X: Any, y: np.ndarray) -> RandomForestClassifier:
        from riskops.datasets.encoding import encode_frame

        forest = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0)
        return forest.fit(encode_frame(X), y)

    data = gate_input(fit)
    importance = global_importance(data)
    assert importance.method == "permutation"
    expected = permutation_importance(
        data.model,
        data.held_out.matrix,
        data.held_out.y,
        scoring="roc_auc",
        n_repeats=5,
        random_state=0,
    ).importances_mean
    assert list(importance.values.values()) == pytest.approx(expected.tolist())
    assert "AUC" in importance.unit


def test_a_feature_without_a_real_reason_text_fails_and_is_named(
    spec_copy: Callable[..., Path],
) -> None:
    def blank(raw: dict[str, Any]) -> None:
        raw["features"][1]["reason"] = "   "

    spec = load_spec(spec_copy(blank)).spec
    trainer = reference_trainer()
    data = gate_input(lambda X, y: trainer.fit_scorecard(X, y, {}), spec)
    reasons, _ = ExplainabilityGate().evaluate(data)
    assert reasons.value == 1.0
    assert reasons.blocks
    assert reasons.evidence["missing"] == ["duration_in_month"]


def test_validation_stores_the_importance_with_the_results(ctx: Context) -> None:
    outcome = validate(ctx, train(ctx, SPEC, actor="alice").ref, actor="victor")
    results = {r.gate: r for r in outcome.results if r.gate.startswith("explainability.")}
    assert set(results) == {
        "explainability.reason_texts",
        "explainability.importance_recorded",
        "explainability.partial_dependence",
    }
    dependence = results["explainability.partial_dependence"]
    assert dependence.kind == "riskops.gate/dependence@1"
    assert dependence.status == "reported"
    assert [c["feature"] for c in dependence.evidence["curves"]] == results[
        "explainability.importance_recorded"
    ].evidence["top_features"][:4]
    recorded = results["explainability.importance_recorded"]
    assert recorded.kind == "riskops.gate/explainability@1"
    assert recorded.evidence["method"] == "treeshap"
    assert recorded.evidence["importance"][0]["feature"] == "status_of_existing_checking_account"
    assert recorded.value == 17.0
