"""The train–validation gap: a model that memorised its training rows shows a gap beyond the
held-out interval and says so; one that learnt the rule shows none; the interval adds two
independent DeLong variances; ``max_auc_gap`` judges the gap, advisory."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from riskops.statistics.delong import auc_covariance
from riskops.validation.gate import GateResult, Sample, settle
from riskops.validation.gates.generalisation import GeneralisationGate
from tests.unit.validation.toys import scored, toy_input, toy_spec


def rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from a known probability, and that probability."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, size=n)
    return (rng.random(n) < p).astype(np.int64), p


def with_train(train: Sample, validation: Sample, **config: float) -> list[GateResult]:
    data = replace(toy_input(toy_spec("performance", **config), validation), train=train)
    return settle(GeneralisationGate().evaluate(data), {})


def test_a_model_that_memorised_its_training_rows_shows_a_gap_beyond_the_held_out_interval() -> (
    None
):
    y_train, _ = rows(700, seed=1)
    y_valid, p_valid = rows(300, seed=2)
    # perfect on the rows it saw (the label itself), the true probability blurred on new ones
    rng = np.random.default_rng(3)
    train = scored("train", y_train, y_train * 0.9 + 0.05)
    validation = scored("validation", y_valid, np.clip(p_valid + rng.normal(0, 0.3, 300), 0, 1))
    [result] = with_train(train, validation)
    expected = roc_auc_score(y_train, train.scores) - roc_auc_score(y_valid, validation.scores)
    assert result.gate == "performance.generalisation_gap"
    assert result.status == "reported"
    assert result.value == pytest.approx(expected, abs=1e-12)
    low, high = result.evidence["ci"]["auc_gap"]
    assert 0 < low <= result.value <= high
    reading = result.evidence["reading"]
    assert f"a gap of {expected:+.4f}" in reading
    assert "beyond the" in reading
    assert "the held-out figure is the one to rely on" in reading


def test_a_model_that_learnt_the_rule_shows_no_gap() -> None:
    y_train, p_train = rows(700, seed=4)
    y_valid, p_valid = rows(300, seed=5)
    train = scored("train", y_train, p_train)
    validation = scored("validation", y_valid, p_valid)
    [result] = with_train(train, validation)
    low, high = result.evidence["ci"]["auc_gap"]
    assert low < 0 < high
    assert "about as well as the rows it was fitted on" in result.evidence["reading"]


def test_the_interval_adds_the_two_independent_delong_variances() -> None:
    y_train, p_train = rows(700, seed=6)
    y_valid, p_valid = rows(300, seed=7)
    [gap] = with_train(scored("train", y_train, p_train), scored("validation", y_valid, p_valid))
    _, train_var = auc_covariance(y_train, [p_train])
    held, held_var = auc_covariance(y_valid, [p_valid])
    se = math.sqrt(train_var[0, 0] + held_var[0, 0])
    assert gap.evidence["se"] == pytest.approx(se)
    low, high = gap.evidence["ci"]["auc_gap"]
    assert (high - low) / 2 == pytest.approx(1.959964 * se)
    held_low, held_high = gap.evidence["ci"]["held_out_auc"]
    assert (held_low + held_high) / 2 == pytest.approx(held[0])
    assert (held_high - held_low) / 2 == pytest.approx(1.959964 * math.sqrt(held_var[0, 0]))


def test_a_gap_threshold_judges_it_and_never_blocks() -> None:
    y_train, _ = rows(700, seed=8)
    y_valid, p_valid = rows(300, seed=9)
    train = scored("train", y_train, y_train * 0.9 + 0.05)
    validation = scored("validation", y_valid, p_valid)
    [result] = with_train(train, validation, max_auc_gap=0.05)
    assert (result.threshold, result.comparison) == (0.05, "<=")
    assert result.status == "failed"
    assert result.severity == "advisory"
    assert not result.blocks
