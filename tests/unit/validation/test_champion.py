"""The champion gate: DeLong and paired-bootstrap non-inferiority on fixed data, the lower
bound that decides, and whole validation runs against a deployed champion."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import norm

from riskops.context import Context
from riskops.spec import ModelSpec
from riskops.statistics.delong import compare_aucs
from riskops.training.pipeline import train
from riskops.validation.gate import GateInput
from riskops.validation.gates.champion import ChampionGate
from riskops.validation.run import validate
from tests.conftest import SPEC, approve_and_deploy
from tests.unit.validation import toys


def toy_spec(**config: Any) -> ModelSpec:
    return toys.toy_spec("champion", **config)


def toy_input(
    spec: ModelSpec, y: np.ndarray, candidate: np.ndarray, champion: np.ndarray | None
) -> GateInput:
    return toys.toy_input(spec, toys.scored("validation", y, candidate, champion))


def two_scores(seed: int, rows: int, candidate_signal: float) -> tuple[np.ndarray, ...]:
    """A champion and a candidate sharing most of their signal, as two versions do."""
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=rows) < 0.3).astype(np.int64)
    common = rng.normal(size=rows)
    champion = common + 1.0 * y + 0.3 * rng.normal(size=rows)
    candidate = common + candidate_signal * y + 0.3 * rng.normal(size=rows)
    return y, candidate, champion


def test_without_a_champion_the_gate_passes_and_says_why() -> None:
    y, candidate, _ = two_scores(0, 100, 1.0)
    [result] = ChampionGate().evaluate(toy_input(toy_spec(), y, candidate, None))
    assert result.gate == "champion.auc_difference"
    assert (result.value, result.comparison, result.passed) == (None, "n/a", True)
    assert result.evidence["note"] == "no version serves in production yet"


def test_delong_decides_on_the_one_sided_lower_bound() -> None:
    y, candidate, champion = two_scores(1, 300, 1.0)
    spec = toy_spec(max_auc_drop=0.02, method="delong", confidence=0.95)
    [result] = ChampionGate().evaluate(toy_input(spec, y, candidate, champion))
    reference = compare_aucs(y, candidate, champion)
    evidence = result.evidence
    assert evidence["method"] == "delong"
    assert evidence["difference"] == pytest.approx(reference.difference)
    assert evidence["se"] == pytest.approx(reference.se)
    assert evidence["candidate_auc"] == pytest.approx(reference.auc_a)
    assert evidence["champion_auc"] == pytest.approx(reference.auc_b)
    lower = reference.difference - norm.ppf(0.95) * reference.se
    assert result.value == pytest.approx(lower)
    assert evidence["lower_bound"] == pytest.approx(lower)
    assert evidence["ci"] == [
        pytest.approx(reference.difference - norm.ppf(0.975) * reference.se),
        pytest.approx(reference.difference + norm.ppf(0.975) * reference.se),
    ]
    z = (reference.difference + 0.02) / reference.se
    assert evidence["z"] == pytest.approx(z)
    assert evidence["p_value"] == pytest.approx(norm.sf(z))
    assert (result.threshold, result.comparison) == (-0.02, ">=")
    assert result.passed == (lower >= -0.02)
    assert (evidence["champion"], evidence["champion_digest"]) == ("toy-model@1", "sha256:one")
    assert (evidence["rows"], evidence["events"]) == (300, int(y.sum()))


def test_a_small_point_loss_with_a_wide_interval_is_not_non_inferior() -> None:
    # On few rows the point estimate can sit inside the margin while the data cannot rule
    # out a larger loss: the lower bound, not the point, decides.
    y, candidate, champion = two_scores(3, 120, 0.9)
    [result] = ChampionGate().evaluate(
        toy_input(toy_spec(max_auc_drop=0.02), y, candidate, champion)
    )
    assert -0.02 < result.evidence["difference"] < 0.0
    assert result.value < -0.02
    assert not result.passed
    assert result.evidence["p_value"] > 0.05


def test_a_clearly_weaker_candidate_fails_and_an_equal_one_passes() -> None:
    y, weak, champion = two_scores(3, 1000, 0.3)
    [failed] = ChampionGate().evaluate(toy_input(toy_spec(), y, weak, champion))
    assert not failed.passed
    [same] = ChampionGate().evaluate(toy_input(toy_spec(), y, champion.copy(), champion))
    assert same.passed
    assert same.evidence["difference"] == 0.0
    assert same.evidence["z"] is None  # no spread at all: nothing to standardise


def test_too_few_events_to_compare_cannot_pass() -> None:
    y = np.array([0] * 30 + [1])
    scores = np.linspace(0.1, 0.9, 31)
    [result] = ChampionGate().evaluate(toy_input(toy_spec(), y, scores, scores[::-1].copy()))
    assert (result.value, result.passed) == (None, False)
    assert "fewer than two of one outcome" in result.evidence["note"]


def test_the_paired_bootstrap_agrees_with_delong_and_is_reproducible() -> None:
    y, candidate, champion = two_scores(4, 1000, 1.0)
    delong = ChampionGate().evaluate(toy_input(toy_spec(method="delong"), y, candidate, champion))[
        0
    ]
    spec = toy_spec(method="paired_bootstrap", bootstrap_resamples=1000)
    boot = ChampionGate().evaluate(toy_input(spec, y, candidate, champion))[0]
    again = ChampionGate().evaluate(toy_input(spec, y, candidate, champion))[0]
    assert boot == again
    assert boot.evidence["method"] == "paired_bootstrap"
    assert boot.evidence["bootstrap"]["replicates_used"] == 1000
    assert boot.evidence["difference"] == pytest.approx(delong.evidence["difference"])
    assert boot.evidence["se"] == pytest.approx(delong.evidence["se"], rel=0.2)
    assert boot.value == pytest.approx(delong.value, abs=0.01)
    low, high = boot.evidence["ci"]
    assert low < boot.evidence["difference"] < high
    assert boot.value == boot.evidence["lower_bound"]
    assert boot.passed == delong.passed


def test_the_demo_challenger_is_non_inferior_to_the_first_version(
    ctx: Context, spec_copy: Callable[..., Path]
) -> None:
    champion = train(ctx, SPEC, actor="alice").ref
    approve_and_deploy(ctx, champion)
    demo_params = {"n_estimators": 300, "learning_rate": 0.02, "num_leaves": 6}
    challenger = train(ctx, SPEC, actor="alice", params=demo_params).ref
    outcome = validate(ctx, challenger, actor="victor")
    [gate] = [r for r in outcome.results if r.gate == "champion.auc_difference"]
    assert gate.passed
    assert gate.evidence["method"] == "delong"
    assert gate.evidence["champion"] == str(champion)
    assert gate.value == pytest.approx(gate.evidence["lower_bound"])
    assert gate.value >= -0.02

    def bootstrap(raw: dict[str, Any]) -> None:
        raw["gates"]["champion"].update(method="paired_bootstrap", bootstrap_resamples=500)

    other = train(ctx, spec_copy(bootstrap), actor="alice", params=demo_params).ref
    outcome = validate(ctx, other, actor="victor")
    [boot] = [r for r in outcome.results if r.gate == "champion.auc_difference"]
    assert boot.evidence["method"] == "paired_bootstrap"
    assert boot.evidence["difference"] == pytest.approx(gate.evidence["difference"])
    assert boot.passed


def test_without_a_champion_the_result_is_not_applicable_not_passed() -> None:
    y, candidate, _ = two_scores(0, 100, 1.0)
    [result] = ChampionGate().evaluate(toy_input(toy_spec(), y, candidate, None))
    assert result.status == "not_applicable"
    assert "no version serves" in result.evidence["not_applicable"]


def test_the_value_is_labelled_and_the_swap_set_counts_changed_decisions() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    # the toy policy approves below 0.3 and declines from 0.6
    champion = np.array([0.1, 0.4, 0.7, 0.2, 0.1, 0.8])
    candidate = np.array([0.1, 0.2, 0.7, 0.7, 0.1, 0.8])
    [result] = ChampionGate().evaluate(toy_input(toy_spec(), y, candidate, champion))
    assert result.metric == "auc_difference_lower_bound"
    assert "lower bound of the AUC difference" in result.evidence["statistic"]
    assert result.evidence["difference"] > result.value  # type: ignore[operator]
    assert {"z_means", "p_value_means", "ci_means"} <= set(result.evidence)
    swaps = {(r["champion"], r["candidate"]): r for r in result.evidence["swap_set"]}
    assert swaps[("approve", "approve")]["rows"] == 2
    assert swaps[("refer", "approve")] == {
        "champion": "refer",
        "candidate": "approve",
        "changed": True,
        "rows": 1,
        "events": 0,
        "event_rate": 0.0,
    }
    assert swaps[("approve", "decline")]["events"] == 1
    assert swaps[("decline", "decline")]["rows"] == 2
    assert sum(r["rows"] for r in swaps.values()) == len(y)
