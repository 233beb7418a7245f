"""The calibration gate: values equal the statistics on fixed data, the slope range as two
one-sided results, the held-out sample it reads, and the reference model's validation run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from riskops.context import Context
from riskops.spec import ModelSpec
from riskops.statistics.calibration import (
    expected_calibration_error,
    hosmer_lemeshow,
    logistic_recalibration,
    logit,
)
from riskops.training.pipeline import train
from riskops.validation.gate import Sample
from riskops.validation.gates.calibration import CalibrationGate
from riskops.validation.run import validate
from tests.conftest import SPEC, reference_split
from tests.unit.validation import toys
from tests.unit.validation.toys import scored, toy_input


def toy_spec(**config: Any) -> ModelSpec:
    return toys.toy_spec("calibration", **config)


def drawn(seed: int, rows: int, *, slope: float = 1.0, shift: float = 0.0) -> Sample:
    """Outcomes drawn from ``logit P(y=1) = shift + slope · logit(score)``."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0.03, 0.9, rows)
    truth = 1.0 / (1.0 + np.exp(-(shift + slope * logit(scores))))
    y = (rng.uniform(size=rows) < truth).astype(np.int64)
    return scored("validation", y, scores)


FULL = {
    "max_ece": 0.1,
    "slope_range": [0.7, 1.3],
    "max_abs_intercept": 0.4,
    "min_hosmer_lemeshow_p": 0.05,
}


def test_a_calibrated_score_passes_every_check_with_the_statistics_values() -> None:
    sample = drawn(1, 3000)
    results = CalibrationGate().evaluate(toy_input(toy_spec(**FULL), sample))
    by_gate = {r.gate: r for r in results}
    assert list(by_gate) == [
        "calibration.ece",
        "calibration.slope_min",
        "calibration.slope_max",
        "calibration.intercept",
        "calibration.hosmer_lemeshow_p",
    ]
    assert all(r.passed for r in results)
    assert all(r.kind == "riskops.gate/calibration@1" for r in results)
    fit = logistic_recalibration(sample.y, sample.scores)
    assert by_gate["calibration.ece"].value == pytest.approx(
        expected_calibration_error(sample.y, sample.scores, bins=10)
    )
    assert by_gate["calibration.slope_min"].value == pytest.approx(fit.slope)
    assert (
        by_gate["calibration.slope_min"].comparison,
        by_gate["calibration.slope_min"].threshold,
    ) == (">=", 0.7)
    assert (
        by_gate["calibration.slope_max"].comparison,
        by_gate["calibration.slope_max"].threshold,
    ) == ("<=", 1.3)
    assert by_gate["calibration.intercept"].value == pytest.approx(abs(fit.intercept))
    assert by_gate["calibration.hosmer_lemeshow_p"].value == pytest.approx(
        hosmer_lemeshow(sample.y, sample.scores).p_value
    )


def test_the_evidence_carries_the_table_and_the_fit() -> None:
    sample = drawn(2, 1000)
    [ece] = CalibrationGate().evaluate(toy_input(toy_spec(max_ece=0.1, slope_range=None), sample))
    evidence = ece.evidence
    assert [row["band"] for row in evidence["table"]] == list(range(1, 11))
    assert set(evidence["table"][0]) == {
        "band",
        "lower",
        "upper",
        "count",
        "events",
        "mean_score",
        "observed_rate",
        "weight",
    }
    assert evidence["table"][0]["weight"] is None  # unweighted: no population prevalence
    assert evidence["weights"]["method"] == "unweighted"
    assert sum(row["count"] for row in evidence["table"]) == 1000
    assert evidence["hosmer_lemeshow"]["df"] == 8
    assert len(evidence["hosmer_lemeshow"]["groups"]) == 10
    assert evidence["slope_se"] > 0
    assert evidence["fit_converged"] is True
    assert (evidence["sample"], evidence["rows"]) == ("validation", 1000)


def test_overconfident_scores_fail_the_lower_end_of_the_slope_range() -> None:
    # The truth moves half as far as the score: the score is too extreme, slope ≈ 0.5.
    sample = drawn(3, 3000, slope=0.5)
    by_gate = {r.gate: r for r in CalibrationGate().evaluate(toy_input(toy_spec(**FULL), sample))}
    assert by_gate["calibration.slope_min"].value == pytest.approx(0.5, abs=0.1)
    assert not by_gate["calibration.slope_min"].passed
    assert by_gate["calibration.slope_max"].passed
    assert not by_gate["calibration.ece"].passed


def test_scores_too_low_on_average_fail_the_intercept() -> None:
    sample = drawn(4, 3000, shift=0.8)
    by_gate = {r.gate: r for r in CalibrationGate().evaluate(toy_input(toy_spec(**FULL), sample))}
    intercept = by_gate["calibration.intercept"]
    assert intercept.metric == "abs_intercept"
    assert intercept.evidence["intercept"] == pytest.approx(0.8, abs=0.2)
    assert intercept.evidence["calibration_in_the_large"] > 0.5
    assert not intercept.passed
    assert not by_gate["calibration.hosmer_lemeshow_p"].passed


def test_unset_thresholds_leave_only_the_reported_ece() -> None:
    spec = toy_spec(max_ece=None, slope_range=None)
    [result] = CalibrationGate().evaluate(toy_input(spec, drawn(5, 500)))
    assert (result.gate, result.comparison, result.threshold, result.passed) == (
        "calibration.ece",
        "n/a",
        None,
        True,
    )


def test_scores_that_separate_the_outcomes_have_no_slope() -> None:
    y = np.array([0] * 50 + [1] * 50)
    scores = np.concatenate([np.linspace(0.05, 0.4, 50), np.linspace(0.6, 0.95, 50)])
    results = CalibrationGate().evaluate(
        toy_input(toy_spec(**FULL), scored("validation", y, scores))
    )
    by_gate = {r.gate: r for r in results}
    assert by_gate["calibration.slope"].value is None
    assert not by_gate["calibration.slope"].passed
    assert "not estimable" in by_gate["calibration.slope"].evidence["note"]
    assert by_gate["calibration.slope"].evidence["slope"] is None


def test_out_of_time_rows_are_the_ones_judged() -> None:
    late = scored("out_of_time", drawn(6, 400).y, drawn(6, 400).scores)
    [ece] = CalibrationGate().evaluate(
        toy_input(toy_spec(max_ece=0.1, slope_range=None), drawn(7, 300), late)
    )
    assert (ece.evidence["sample"], ece.evidence["rows"]) == ("out_of_time", 400)


def test_one_class_cannot_be_judged() -> None:
    only_good = scored("validation", np.zeros(40, dtype=np.int64), np.full(40, 0.1))
    [result] = CalibrationGate().evaluate(toy_input(toy_spec(**FULL), only_good))
    assert not result.passed
    assert "one class only" in result.evidence["note"]


def test_the_reference_models_calibration(ctx: Context) -> None:
    outcome = validate(ctx, train(ctx, SPEC, actor="alice").ref, actor="victor")
    gates = {r.gate: r for r in outcome.results if r.gate.startswith("calibration.")}
    assert set(gates) == {
        "calibration.ece",
        "calibration.slope_min",
        "calibration.slope_max",
        "calibration.intercept",
        "calibration.hosmer_lemeshow_p",
    }
    assert all(r.passed and r.severity == "advisory" for r in gates.values())
    evidence = gates["calibration.ece"].evidence
    test = reference_split().test
    assert (evidence["sample"], evidence["rows"]) == ("test", len(test))
    assert evidence["events"] == round(0.3 * len(test))  # stratified: the data's 30% bad
    assert evidence["ece"] < 0.1
    assert 0.7 <= evidence["slope"] <= 1.3


def test_the_hosmer_lemeshow_evidence_states_its_power_at_these_rows() -> None:
    by_rows = {}
    for rows in (300, 3000):
        [ece] = CalibrationGate().evaluate(
            toy_input(toy_spec(slope_range=None, min_hosmer_lemeshow_p=None), drawn(5, rows))
        )
        by_rows[rows] = ece.evidence["hosmer_lemeshow_power"]
    small, large = by_rows[300], by_rows[3000]
    assert (small["rows"], large["rows"], small["alpha"]) == (300, 3000, 0.05)
    # ten times the rows: about a third of the gap (1/sqrt(10), groups differ a little)
    assert large["detectable_gap"] == pytest.approx(small["detectable_gap"] / np.sqrt(10), rel=0.1)
    assert "At 3,000 rows in 10 groups" in large["statement"]
    assert "ECE and the calibration slope are the judged measures" in large["statement"]
    [*_, hl] = CalibrationGate().evaluate(
        toy_input(toy_spec(**{**FULL, "min_hosmer_lemeshow_p": 0.01}), drawn(5, 300))
    )
    assert hl.gate == "calibration.hosmer_lemeshow_p"
    assert hl.evidence["hosmer_lemeshow_power"]["alpha"] == 0.01
