"""Performance and calibration at a population prevalence: ``data.population_prevalence``
makes both gates weigh the held-out rows back to the population's event rate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from riskops.spec import ModelSpec
from riskops.statistics.curves import pr_points
from riskops.statistics.prevalence import prior_shift
from riskops.validation.gates.calibration import CalibrationGate
from riskops.validation.gates.performance import PerformanceGate
from tests.unit.validation.toys import scored, toy_input

PI = 0.002


def _spec(prevalence: float | None, gates: dict[str, Any]) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": "toy-fraud",
            "kind": "fraud",
            "intended_use": "Checking reweighted gates.",
            "risk_tier": "low",
            "owner": "tests",
            "data": {
                "source": "toy.csv",
                "label": {"column": "y", "positive": 1, "negative": 0},
                "population_prevalence": prevalence,
            },
            "features": [{"name": "x", "type": "numeric", "reason": "The only input"}],
            "trainer": {"entrypoint": "trainer.py:fit"},
            "policy": {"approve_below": 0.01, "decline_from": 0.5},
            "gates": gates,
        }
    )


def _enriched(seed: int = 5, rows: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """A sample at 30% events whose scores are calibrated at that rate."""
    rng = np.random.default_rng(seed)
    p = rng.beta(0.6, 1.4, size=rows)
    return (rng.random(rows) < p).astype(int), p


def test_pr_auc_and_brier_are_the_populations_and_auc_does_not_move() -> None:
    y, p = _enriched()
    gates = {"performance": {"min_pr_auc": 0.0, "max_brier": 1.0, "bootstrap_resamples": 20}}
    sample_view = {
        r.metric: r
        for r in PerformanceGate().evaluate(
            toy_input(_spec(None, gates), scored("validation", y, p))
        )
    }
    population_view = {
        r.metric: r
        for r in PerformanceGate().evaluate(toy_input(_spec(PI, gates), scored("validation", y, p)))
    }
    assert population_view["auc"].value == pytest.approx(sample_view["auc"].value)
    assert population_view["pr_auc"].value < sample_view["pr_auc"].value / 10
    note = population_view["pr_auc"].evidence["weights"]["note"]
    assert note.startswith("reweighted to 0.2% (the sample holds")
    assert sample_view["pr_auc"].evidence["weights"]["method"] == "unweighted"


def test_shifted_scores_are_calibrated_at_the_population_rate_and_sample_scores_are_not() -> None:
    y, p = _enriched()
    shifted = prior_shift(p, sample_rate=float(y.mean()), population_rate=PI)
    config = {"calibration": {"max_ece": 0.01, "slope_range": [0.8, 1.2], "max_abs_intercept": 0.5}}
    good = {
        r.gate: r
        for r in CalibrationGate().evaluate(
            toy_input(_spec(PI, config), scored("validation", y, shifted))
        )
    }
    assert all(r.passed for r in good.values()), good
    assert good["calibration.slope_min"].value == pytest.approx(1.0, abs=0.1)
    assert good["calibration.ece"].evidence["weighted_event_rate"] == pytest.approx(PI)
    # The unshifted scores, judged at the population rate, are far too high.
    bad = {
        r.gate: r
        for r in CalibrationGate().evaluate(
            toy_input(_spec(PI, config), scored("validation", y, p))
        )
    }
    assert not bad["calibration.ece"].passed
    assert not bad["calibration.intercept"].passed


def test_hosmer_lemeshow_is_not_computed_on_weighted_rows_and_says_why() -> None:
    y, p = _enriched(rows=500)
    config = {"calibration": {"min_hosmer_lemeshow_p": 0.05}}
    results = {
        r.gate: r
        for r in CalibrationGate().evaluate(
            toy_input(_spec(PI, config), scored("validation", y, p))
        )
    }
    hl = results["calibration.hosmer_lemeshow_p"]
    assert not hl.passed
    assert "not defined for case-weighted rows" in hl.evidence["note"]


def test_the_weighted_precision_recall_curve_sits_below_the_samples() -> None:
    y, p = _enriched(rows=1000)
    w = np.where(y == 1, 0.01, 1.4)
    plain = pr_points(y, p, points=11)
    weighted = pr_points(y, p, points=11, weights=w)
    assert weighted["recall"] == plain["recall"]
    assert all(
        a <= b + 1e-12 for a, b in zip(weighted["precision"], plain["precision"], strict=True)
    )
