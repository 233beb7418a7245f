"""The performance gate: its values against scikit-learn on fixed data, one result per set
threshold and sample, the evidence the documents draw from, and a whole validation run of the
reference model with an out-of-time sample."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)

from riskops.context import Context
from riskops.errors import IntegrityError
from riskops.spec import ModelSpec
from riskops.training.pipeline import train
from riskops.validation.gates.performance import PerformanceGate
from riskops.validation.run import validate
from tests.conftest import DATA, reference_split
from tests.unit.validation import toys
from tests.unit.validation.toys import scored, toy_input


def toy_spec(**config: Any) -> ModelSpec:
    return toys.toy_spec("performance", **config)


def fixed(seed: int, rows: int, signal: float = 1.2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=rows) < 0.3).astype(np.int64)
    scores = 1.0 / (1.0 + np.exp(-(rng.normal(size=rows) + signal * y - 1.2)))
    return y, scores


ALL = {
    "min_auc": 0.7,
    "min_ks": 0.3,
    "min_gini": 0.4,
    "min_pr_auc": 0.45,
    "max_brier": 0.19,
    "max_log_loss": 0.55,
}


def test_every_set_threshold_gives_one_result_with_scikit_learns_value() -> None:
    y, scores = fixed(1, 300)
    results = PerformanceGate().evaluate(
        toy_input(toy_spec(**ALL), scored("validation", y, scores))
    )
    by_gate = {r.gate: r for r in results}
    assert list(by_gate) == [
        "performance.auc",
        "performance.ks",
        "performance.gini",
        "performance.pr_auc",
        "performance.brier",
        "performance.log_loss",
    ]
    auc = roc_auc_score(y, scores)
    assert by_gate["performance.auc"].value == pytest.approx(auc)
    assert by_gate["performance.gini"].value == pytest.approx(2 * auc - 1)
    assert by_gate["performance.pr_auc"].value == pytest.approx(average_precision_score(y, scores))
    assert by_gate["performance.brier"].value == pytest.approx(brier_score_loss(y, scores))
    assert by_gate["performance.log_loss"].value == pytest.approx(log_loss(y, scores))
    assert by_gate["performance.brier"].comparison == "<="
    assert by_gate["performance.auc"].comparison == ">="
    assert by_gate["performance.auc"].threshold == 0.7
    assert all(r.kind == "riskops.gate/performance@1" for r in results)
    for r in results:
        assert r.passed == (
            r.value >= r.threshold if r.comparison == ">=" else r.value <= r.threshold
        )


def test_the_evidence_holds_values_intervals_and_curves_for_the_documents() -> None:
    y, scores = fixed(2, 300)
    spec = toy_spec(min_auc=0.6, bootstrap_resamples=200, confidence=0.9)
    [result] = PerformanceGate().evaluate(toy_input(spec, scored("validation", y, scores)))
    evidence = result.evidence
    assert evidence["sample"] == "validation"
    assert (evidence["rows"], evidence["events"]) == (300, int(y.sum()))
    assert set(evidence["values"]) == {"auc", "gini", "ks", "brier", "log_loss", "pr_auc"}
    assert evidence["confidence"] == 0.9
    for metric, (low, high) in evidence["ci"].items():
        assert low <= evidence["values"][metric] <= high, metric
    assert evidence["bootstrap"]["resamples"] == 200
    assert evidence["bootstrap"]["replicates_used"] == 200
    assert len(evidence["roc"]["fpr"]) == len(evidence["roc"]["tpr"]) == 101
    assert len(evidence["pr"]["recall"]) == len(evidence["pr"]["precision"]) == 101
    histogram = evidence["score_histogram"]
    assert len(histogram["edges"]) == 21
    assert sum(histogram["events"]) + sum(histogram["non_events"]) == 300


def test_the_same_rows_give_the_same_intervals() -> None:
    y, scores = fixed(3, 300)
    gate_input = toy_input(toy_spec(min_auc=0.6), scored("validation", y, scores))
    assert PerformanceGate().evaluate(gate_input) == PerformanceGate().evaluate(gate_input)


def test_out_of_time_rows_get_their_own_results() -> None:
    y, scores = fixed(4, 300)
    late_y, late_scores = fixed(5, 200, signal=0.4)  # the score has weakened over time
    gate_input = toy_input(
        toy_spec(min_auc=0.7, max_brier=0.25),
        scored("validation", y, scores),
        scored("out_of_time", late_y, late_scores),
    )
    by_gate = {r.gate: r for r in PerformanceGate().evaluate(gate_input)}
    assert list(by_gate) == [
        "performance.auc",
        "performance.brier",
        "performance.out_of_time.auc",
        "performance.out_of_time.brier",
    ]
    late = by_gate["performance.out_of_time.auc"]
    assert late.metric == "auc"
    assert late.evidence["sample"] == "out_of_time"
    assert late.evidence["rows"] == 200
    assert late.value == pytest.approx(roc_auc_score(late_y, late_scores))
    assert by_gate["performance.auc"].passed
    assert not late.passed


def test_without_a_minimum_the_auc_is_still_reported() -> None:
    y, scores = fixed(6, 300)
    spec = toy_spec(min_auc=None, bootstrap_resamples=0)
    [result] = PerformanceGate().evaluate(toy_input(spec, scored("validation", y, scores)))
    assert result.gate == "performance.auc"
    assert result.comparison == "n/a"
    assert result.threshold is None
    assert result.passed
    assert result.evidence["ci"] == {}


def test_a_sample_with_one_class_cannot_pass() -> None:
    y, scores = fixed(7, 300)
    late = scored("out_of_time", np.zeros(50, dtype=np.int64), np.full(50, 0.2))
    results = PerformanceGate().evaluate(
        toy_input(toy_spec(min_auc=0.7), scored("validation", y, scores), late)
    )
    failed = results[-1]
    assert failed.gate == "performance.out_of_time.auc"
    assert failed.value is None
    assert not failed.passed
    assert "one class only" in failed.evidence["note"]


def test_the_reference_model_with_out_of_time_rows(
    ctx: Context, spec_copy: Callable[..., Path], tmp_path: Path
) -> None:
    # The last 250 applications of the file stand in for a later period (some of them are
    # training rows too: this checks the path through training and validation, not the model).
    later = tmp_path / "later.csv"
    pd.read_csv(DATA, dtype="string").tail(250).to_csv(later, index=False)

    def with_out_of_time(raw: dict[str, Any]) -> None:
        raw["data"]["out_of_time"] = str(later)

    ref = train(ctx, spec_copy(with_out_of_time), actor="alice").ref
    outcome = validate(ctx, ref, actor="victor")
    gates = {r.gate: r for r in outcome.results if r.gate.startswith("performance.")}
    assert set(gates) == {
        f"performance.{prefix}{metric}"
        for prefix in ("", "out_of_time.")
        for metric in ("auc", "ks", "gini", "pr_auc", "brier", "log_loss")
    } | {"performance.generalisation_gap"}
    assert all(r.passed for r in gates.values())
    # The reported figures come from the test partition when the spec keeps one, even beside
    # an out-of-time file (which keeps its own performance.out_of_time.* checks).
    assert gates["performance.generalisation_gap"].evidence["sample"] == "test"
    late = gates["performance.out_of_time.auc"].evidence
    assert (late["sample"], late["rows"]) == ("out_of_time", 250)
    assert gates["performance.auc"].evidence["rows"] == len(reference_split().test)
    low, high = late["ci"]["auc"]
    assert low < late["values"]["auc"] < high
    # Every family's evidence is strict JSON (no NaN or infinity), as PostgreSQL's JSON needs.
    families = (
        "performance.",
        "calibration.",
        "stability.",
        "champion.",
        "data_quality.",
        "benchmark.",
        "explainability.",
    )
    for result in outcome.results:
        if result.gate.startswith(families):
            json.dumps(result.evidence, allow_nan=False)
    calibration = next(r for r in outcome.results if r.gate == "calibration.ece")
    # the test partition gives the reported figures; the out-of-time file its own checks
    assert calibration.evidence["sample"] == "test"


def test_an_out_of_time_snapshot_altered_after_training_is_refused(
    ctx: Context, spec_copy: Callable[..., Path], tmp_path: Path
) -> None:
    later = tmp_path / "later.csv"
    pd.read_csv(DATA, dtype="string").tail(250).to_csv(later, index=False)

    def with_out_of_time(raw: dict[str, Any]) -> None:
        raw["data"]["out_of_time"] = str(later)

    ref = train(ctx, spec_copy(with_out_of_time), actor="alice").ref
    stored = next(ctx.settings.home.rglob("data_out_of_time/later.csv"))
    lines = stored.read_text(encoding="utf-8").splitlines()
    lines[5] = lines[6]  # one applicant replaced by another in the stored copy
    stored.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(IntegrityError, match="out-of-time snapshot stored with credit-scoring@1"):
        validate(ctx, ref, actor="victor")
