"""The benchmark gate: a logistic regression fitted on the training rows, compared with the
candidate on the held-out rows. On data a linear model explains exactly, the true probability
and the benchmark rank alike; a candidate that knows less loses to it; a lift threshold judges
the difference; population weights and the prior shift apply as the performance gate's do."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from riskops.registry.versions import ModelRef
from riskops.spec import ModelSpec
from riskops.statistics.delong import compare_aucs
from riskops.statistics.discrimination import weighted_metrics
from riskops.statistics.prevalence import case_weights, prior_shift
from riskops.validation.gate import GateInput, Sample, VersionInfo, settle
from riskops.validation.gates.benchmark import BenchmarkGate, fit_benchmark


def linear_spec(**data: Any) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": "linear-toy",
            "intended_use": "Checking the benchmark gate.",
            "risk_tier": "low",
            "owner": "tests",
            "data": {
                "source": "toy.csv",
                "label": {"column": "y", "positive": 1, "negative": 0},
                **data,
            },
            "features": [
                {"name": "x", "type": "numeric", "reason": "A number"},
                {
                    "name": "c",
                    "type": "categorical",
                    "categories": ["a", "b", "c"],
                    "reason": "A category",
                },
            ],
            "trainer": {"entrypoint": "trainer.py:fit"},
            "policy": {"approve_below": 0.3, "decline_from": 0.6},
        }
    )


def linear_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows whose log-odds are exactly linear in ``x`` and the one-hot ``c``: (matrix, y, p)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    c = rng.integers(0, 3, size=n).astype(np.float64)
    logit = -0.8 + 1.4 * x + np.array([0.0, 0.9, -0.7])[c.astype(int)]
    p = 1.0 / (1.0 + np.exp(-logit))
    y = (rng.random(n) < p).astype(np.int64)
    return np.column_stack([x, c]), y, p


def sample(name: str, matrix: np.ndarray, y: np.ndarray, scores: np.ndarray) -> Sample:
    frame = pd.DataFrame(matrix, columns=["x", "c"])
    return Sample(name, frame, frame, matrix, y, scores)


def gate_input(spec: ModelSpec, train: Sample, validation: Sample) -> GateInput:
    return GateInput(
        spec=spec,
        candidate=VersionInfo(ModelRef(spec.name, 1), "sha256:one"),
        champion=None,
        train=train,
        validation=validation,
        out_of_time=None,
        model=None,
        flavor="sklearn",
        score=lambda matrix: matrix[:, 0],
    )


@pytest.fixture(scope="module")
def linear() -> tuple[Sample, Sample]:
    """The true probability as the candidate, on 3,000 training and 2,000 validation rows."""
    train_m, train_y, train_p = linear_rows(3000, seed=1)
    valid_m, valid_y, valid_p = linear_rows(2000, seed=2)
    return (
        sample("train", train_m, train_y, train_p),
        sample("validation", valid_m, valid_y, valid_p),
    )


def test_where_a_linear_model_is_right_the_benchmark_ranks_as_well_as_the_truth(
    linear: tuple[Sample, Sample],
) -> None:
    train, validation = linear
    [result] = settle(BenchmarkGate().evaluate(gate_input(linear_spec(), train, validation)), {})
    assert result.gate == "benchmark.auc_lift"
    assert result.status == "reported"
    assert not result.blocks
    model = fit_benchmark(linear_spec(), train.matrix, train.y)
    benchmark = model.predict_proba(validation.matrix)[:, 1]
    expected = roc_auc_score(validation.y, validation.scores) - roc_auc_score(
        validation.y, benchmark
    )
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert result.value is not None
    assert abs(result.value) < 0.005  # the same ranking up to estimation noise
    rows = {r["metric"]: r for r in result.evidence["comparison"]}
    assert list(rows) == ["auc", "ks", "brier", "pr_auc"]
    delong = compare_aucs(validation.y, validation.scores, benchmark)
    assert rows["auc"]["ci_low"] == pytest.approx(delong.difference - 1.959964 * delong.se)
    assert rows["auc"]["ci_low"] < 0 < rows["auc"]["ci_high"]
    for metric in ("ks", "brier", "pr_auc"):
        row = rows[metric]
        assert row["interval"] == "paired bootstrap"
        assert row["ci_low"] <= row["difference"] <= row["ci_high"]
        assert row["difference"] == pytest.approx(row["candidate"] - row["benchmark"])
    assert "cannot tell the two apart" in result.evidence["reading"]
    assert "3000 train rows" in result.evidence["fitted_on"]


def test_a_candidate_that_knows_less_than_the_benchmark_loses_to_it(
    linear: tuple[Sample, Sample],
) -> None:
    train, validation = linear
    rng = np.random.default_rng(3)
    blurred = np.clip(validation.scores + rng.normal(scale=0.35, size=len(validation.y)), 0, 1)
    weak = sample("validation", validation.matrix, validation.y, blurred)
    [result] = BenchmarkGate().evaluate(gate_input(linear_spec(), train, weak))
    auc = result.evidence["comparison"][0]
    assert result.value is not None
    assert result.value < 0
    assert auc["ci_high"] < 0
    assert "the benchmark ranks cases better than the candidate" in result.evidence["reading"]


def test_a_lift_threshold_judges_the_difference_and_is_advisory_by_default(
    linear: tuple[Sample, Sample],
) -> None:
    train, validation = linear
    spec = linear_spec()
    spec = spec.model_copy(
        update={
            "gates": spec.gates.model_copy(
                update={"benchmark": spec.gates.benchmark.model_copy(update={"min_auc_lift": 0.02})}
            )
        }
    )
    [result] = settle(BenchmarkGate().evaluate(gate_input(spec, train, validation)), {})
    assert (result.threshold, result.comparison) == (0.02, ">=")
    assert result.status == "failed"
    assert result.severity == "advisory"
    assert not result.blocks


def test_population_weights_and_the_prior_shift_apply_to_the_benchmark(
    linear: tuple[Sample, Sample],
) -> None:
    train, validation = linear
    spec = linear_spec(population_prevalence=0.05)
    [result] = BenchmarkGate().evaluate(gate_input(spec, train, validation))
    assert result.evidence["weights"]["method"] != "unweighted"
    raw = fit_benchmark(spec, train.matrix, train.y).predict_proba(validation.matrix)[:, 1]
    shifted = prior_shift(raw, sample_rate=float(train.y.mean()), population_rate=0.05)
    weights = case_weights(validation.y, 0.05)
    expected = weighted_metrics(validation.y, shifted, weights[np.newaxis, :])
    rows = {r["metric"]: r for r in result.evidence["comparison"]}
    assert rows["brier"]["benchmark"] == pytest.approx(float(expected["brier"][0]))
    assert rows["pr_auc"]["benchmark"] == pytest.approx(float(expected["pr_auc"][0]))


def test_training_rows_of_one_class_fail_as_not_computable(
    linear: tuple[Sample, Sample],
) -> None:
    train, validation = linear
    no_events = sample("train", train.matrix, np.zeros_like(train.y), train.scores)
    [result] = settle(
        BenchmarkGate().evaluate(gate_input(linear_spec(), no_events, validation)), {}
    )
    assert result.value is None
    assert result.status == "failed"
    assert "the benchmark cannot be fitted" in result.evidence["note"]


def test_the_spec_can_declare_the_benchmark_not_applicable_and_state_where_params_came_from() -> (
    None
):
    raw = linear_spec().model_dump(mode="json", by_alias=True, exclude_none=True)
    raw["gates"] = {"not_applicable": {"benchmark": "the candidate is itself a logistic model"}}
    raw["trainer"]["params_source"] = "5-fold cross-validation on the training rows"
    spec = ModelSpec.model_validate(raw)
    assert spec.gates.not_applicable == {"benchmark": "the candidate is itself a logistic model"}
    assert spec.trainer.params_source == "5-fold cross-validation on the training rows"
    assert spec.gates.benchmark.min_auc_lift is None
    assert spec.gates.benchmark.severity == "advisory"
