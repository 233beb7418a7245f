"""The stability gate: score PSI computed by hand, per-feature CSI on the German credit data
with one feature shifted, the sample it compares against, and the reference model's run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from riskops.context import Context
from riskops.datasets.prepared import prepare
from riskops.datasets.snapshot import load_snapshot
from riskops.registry.versions import ModelRef
from riskops.spec import ModelSpec, StabilityGate, load_spec
from riskops.statistics.stability import EPSILON
from riskops.training.pipeline import train
from riskops.validation.gate import GateInput, Sample, VersionInfo
from riskops.validation.gates.stability import StabilityGate as Gate
from riskops.validation.run import validate
from tests.conftest import DATA, SPEC, reference_split


def reference_spec(**stability: Any) -> ModelSpec:
    spec = load_spec(SPEC).spec
    gates = spec.gates.model_copy(update={"stability": StabilityGate(**stability)})
    return spec.model_copy(update={"gates": gates})


def german_sample(
    name: str, rows: slice, scores: np.ndarray | None = None, **shift: float
) -> Sample:
    """German credit rows with typed features; ``shift`` multiplies numeric features."""
    spec = load_spec(SPEC).spec
    prepared = prepare(load_snapshot(DATA), spec)
    features = prepared.features.iloc[rows].reset_index(drop=True)
    for column, factor in shift.items():
        features[column] = features[column] * factor
    y = prepared.y[rows]
    given = scores if scores is not None else np.full(len(y), 0.3)
    return Sample(name, features, features, prepared.matrix[rows], y, given)


def gate_input(
    spec: ModelSpec, train: Sample, validation: Sample, out_of_time: Sample | None = None
) -> GateInput:
    return GateInput(
        spec=spec,
        candidate=VersionInfo(ModelRef("credit-scoring", 1), "sha256:toy"),
        champion=None,
        train=train,
        validation=validation,
        out_of_time=out_of_time,
        model=None,
        flavor="lightgbm",
        score=lambda matrix: np.full(len(matrix), 0.3),
    )


def test_score_psi_by_hand() -> None:
    # Training scores spread evenly over 100 values: deciles hold 10 rows each. The held-out
    # scores all fall in the lower half, 20% per decile there, none above.
    train_scores = (np.arange(100) + 0.5) / 100
    held_scores = np.tile((np.arange(50) + 0.5) / 100, 2)
    spec = reference_spec(max_score_psi=0.1, max_feature_csi=0.25)
    psi, _ = Gate().evaluate(
        gate_input(
            spec,
            german_sample("train", slice(0, 100), train_scores),
            german_sample("validation", slice(100, 200), held_scores),
        )
    )
    by_hand = 5 * (0.2 - 0.1) * np.log(0.2 / 0.1) + 5 * (EPSILON - 0.1) * np.log(EPSILON / 0.1)
    assert psi.gate == "stability.score_psi"
    assert psi.kind == "riskops.gate/stability@1"
    assert psi.value == pytest.approx(by_hand)
    assert not psi.passed
    assert psi.evidence["expected_sample"] == "train"
    assert psi.evidence["actual_sample"] == "validation"
    assert [row["expected_count"] for row in psi.evidence["table"]] == [10] * 10
    assert [row["actual_count"] for row in psi.evidence["table"]] == [20] * 5 + [0] * 5
    assert "in-sample" in psi.evidence["note"]


def test_a_shifted_feature_tops_the_csi_table() -> None:
    spec = reference_spec(max_score_psi=0.1, max_feature_csi=0.25)
    _, csi = Gate().evaluate(
        gate_input(
            spec,
            german_sample("train", slice(0, 700)),
            german_sample("validation", slice(700, 1000), credit_amount=1.5),
        )
    )
    features = csi.evidence["features"]
    assert csi.gate == "stability.max_csi"
    assert features[0]["feature"] == "credit_amount"
    assert csi.value == pytest.approx(features[0]["csi"])
    assert csi.value > 0.25
    assert not csi.passed
    assert [f["csi"] for f in features] == sorted((f["csi"] for f in features), reverse=True)
    assert {f["feature"] for f in features} == set(spec.feature_names)
    # Every other feature is the same population: small, sampling-noise CSIs.
    assert all(f["csi"] < 0.1 for f in features[1:])


def test_categorical_bins_are_the_categories_and_numeric_ones_the_training_deciles() -> None:
    spec = reference_spec()
    _, csi = Gate().evaluate(
        gate_input(
            spec,
            german_sample("train", slice(0, 700)),
            german_sample("validation", slice(700, 1000)),
        )
    )
    by_feature = {f["feature"]: f for f in csi.evidence["features"]}
    housing = [b["bin"] for b in by_feature["housing"]["bins"]]
    assert housing == ["rent", "own", "for free"]
    duration = by_feature["duration_in_month"]["bins"]
    assert duration[0]["lower"] is None
    assert duration[-1]["upper"] is None
    assert sum(b["expected_count"] for b in duration) == 700
    assert sum(b["actual_count"] for b in duration) == 300


def test_out_of_time_rows_are_compared_when_present() -> None:
    spec = reference_spec()
    psi, csi = Gate().evaluate(
        gate_input(
            spec,
            german_sample("train", slice(0, 600)),
            german_sample("validation", slice(600, 800)),
            german_sample("out_of_time", slice(800, 1000)),
        )
    )
    assert psi.evidence["actual_sample"] == "out_of_time"
    assert csi.evidence["actual_rows"] == 200


def test_unset_thresholds_report_without_judging() -> None:
    spec = reference_spec(max_score_psi=None, max_feature_csi=None)
    results = Gate().evaluate(
        gate_input(
            spec,
            german_sample("train", slice(0, 700)),
            german_sample("validation", slice(700, 1000)),
        )
    )
    assert [(r.comparison, r.threshold, r.passed) for r in results] == [("n/a", None, True)] * 2


def test_the_reference_models_stability(ctx: Context) -> None:
    outcome = validate(ctx, train(ctx, SPEC, actor="alice").ref, actor="victor")
    gates = {r.gate: r for r in outcome.results if r.gate.startswith("stability.")}
    assert set(gates) == {"stability.score_psi", "stability.max_csi"}
    assert all(r.passed for r in gates.values())
    psi = gates["stability.score_psi"].evidence
    split = reference_split()
    assert (psi["expected_rows"], psi["actual_rows"]) == (len(split.train), len(split.test))
    assert len(gates["stability.max_csi"].evidence["features"]) == 17
