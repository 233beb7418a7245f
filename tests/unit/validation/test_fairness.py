"""The fairness gate: group statistics against fairlearn and a hand computation, the groups
built from raw attribute text, and whole validation runs of the reference model and of a model
trained to disadvantage applicants under 25."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, selection_rate, true_positive_rate
from hypothesis import given, settings
from hypothesis import strategies as st

from riskops.context import Context
from riskops.errors import SpecError
from riskops.scoring.policy import DecisionPolicy
from riskops.spec import FairnessGate as FairnessConfig
from riskops.spec import ModelSpec, load_spec
from riskops.statistics.fairness import (
    approval_rate_ratio,
    calibration_difference,
    equal_opportunity_difference,
    group_outcomes,
    reference_group,
)
from riskops.statistics.proportions import minimum_detectable_difference
from riskops.training.pipeline import train
from riskops.validation.gate import GateInput, Sample
from riskops.validation.gates import proxies as proxies_gate
from riskops.validation.gates.fairness import (
    FairnessGate,
    attribute_groups,
    band_labels,
    banded,
    calibration_words,
    regrouped,
)
from riskops.validation.run import validate
from tests.conftest import DATA, SPEC, reference_split
from tests.unit.validation.toys import toy_input


def fixed_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2026)
    groups = rng.choice(np.array(["a", "b", "c"], dtype=object), size=600, p=[0.5, 0.3, 0.2])
    y = rng.integers(0, 2, size=600)
    shift = np.select([groups == "a", groups == "b"], [0.0, 0.1], 0.2)
    scores = np.clip(rng.uniform(0.0, 0.6, size=600) + 0.2 * y + shift, 0.0, 1.0)
    return groups, y, scores


def test_group_outcomes_match_fairlearns_metric_frame() -> None:
    groups, y, scores = fixed_data()
    outcomes = group_outcomes(groups, y, scores, approve_below=0.4, min_group_size=1)
    approved = (scores < 0.4).astype(int)
    good = 1 - y
    frame = MetricFrame(
        metrics={
            "approval_rate": selection_rate,
            "tpr": lambda t, p: true_positive_rate(t, p, pos_label=1),
        },
        y_true=good,
        y_pred=approved,
        sensitive_features=groups,
    ).by_group
    by_pandas = pd.DataFrame({"g": groups, "y": y, "s": scores}).groupby("g")
    assert [o.group for o in outcomes] == ["a", "b", "c"]
    for outcome in outcomes:
        assert outcome.count == int((groups == outcome.group).sum())
        assert outcome.approval_rate == pytest.approx(frame.loc[outcome.group, "approval_rate"])
        assert outcome.true_positive_rate == pytest.approx(frame.loc[outcome.group, "tpr"])
        assert outcome.mean_score == pytest.approx(by_pandas["s"].mean()[outcome.group])
        assert outcome.observed_rate == pytest.approx(by_pandas["y"].mean()[outcome.group])
    rates = frame["approval_rate"]
    assert approval_rate_ratio(outcomes) == pytest.approx(rates.min() / rates.max())
    assert equal_opportunity_difference(outcomes) == pytest.approx(
        frame["tpr"].max() - frame["tpr"].min()
    )


def test_statistics_by_hand() -> None:
    # a: scores 0.1 0.1 0.3 0.5 with labels 0 0 0 1 -> approves 2 of 4; good applicants 3, of
    #    whom 2 approved; mean score 0.25, observed 0.25.
    # b: scores 0.1 0.3 0.3 0.7 with labels 0 0 1 1 -> approves 1 of 4; good 2, approved 1;
    #    mean score 0.35, observed 0.5.
    groups = ["a"] * 4 + ["b"] * 4
    y = [0, 0, 0, 1, 0, 0, 1, 1]
    scores = [0.1, 0.1, 0.3, 0.5, 0.1, 0.3, 0.3, 0.7]
    a, b = group_outcomes(groups, y, scores, approve_below=0.2, min_group_size=1)
    assert (a.count, a.approval_rate, a.true_positive_rate) == (4, 0.5, pytest.approx(2 / 3))
    assert (b.count, b.approval_rate, b.true_positive_rate) == (4, 0.25, 0.5)
    assert (a.mean_score, a.observed_rate) == (pytest.approx(0.25), 0.25)
    assert (b.mean_score, b.observed_rate) == (pytest.approx(0.35), 0.5)
    outcomes = [a, b]
    assert approval_rate_ratio(outcomes) == pytest.approx(0.25 / 0.5)
    assert equal_opportunity_difference(outcomes) == pytest.approx(2 / 3 - 0.5)
    # calibration gaps: a 0.25 - 0.25 = 0; b 0.35 - 0.5 = -0.15 -> spread 0.15
    assert calibration_difference(outcomes) == pytest.approx(0.15)
    assert reference_group(outcomes) == "a"


def test_small_groups_are_reported_but_not_compared() -> None:
    groups = ["big"] * 6 + ["small"] * 2
    y = [0, 1, 0, 1, 0, 1, 0, 0]
    scores = [0.1, 0.9, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9]
    big, small = group_outcomes(groups, y, scores, approve_below=0.5, min_group_size=3)
    assert (big.excluded, small.excluded) == (False, True)
    assert small.approval_rate == 0.0
    # Only one group takes part, so there is nothing to compare.
    assert approval_rate_ratio([big, small]) is None
    assert equal_opportunity_difference([big, small]) is None
    assert reference_group([big, small]) == "big"


def test_a_group_without_good_applicants_has_no_true_positive_rate() -> None:
    outcomes = group_outcomes(
        ["a", "a", "b", "b"],
        [0, 1, 1, 1],
        [0.1, 0.1, 0.1, 0.9],
        approve_below=0.5,
        min_group_size=1,
    )
    assert outcomes[1].true_positive_rate is None
    assert equal_opportunity_difference(outcomes) is None
    assert approval_rate_ratio(outcomes) == pytest.approx(0.5)


def test_no_approvals_anywhere_is_no_disparity() -> None:
    outcomes = group_outcomes(["a", "b"], [0, 0], [0.9, 0.9], approve_below=0.5, min_group_size=1)
    assert approval_rate_ratio(outcomes) == 1.0


@settings(max_examples=50, deadline=None)  # each example builds six MetricFrames
@given(
    st.lists(
        st.tuples(st.sampled_from(["x", "y", "z"]), st.integers(0, 1), st.floats(0, 1)),
        min_size=2,
        max_size=80,
    ),
    st.floats(0.05, 0.95),
)
def test_ratio_and_differences_stay_in_range_and_ignore_row_order(
    rows: list[tuple[str, int, float]], cut: float
) -> None:
    groups = [r[0] for r in rows]
    y = [r[1] for r in rows]
    scores = [r[2] for r in rows]
    outcomes = group_outcomes(groups, y, scores, approve_below=cut, min_group_size=1)
    assert sum(o.count for o in outcomes) == len(rows)
    ratio = approval_rate_ratio(outcomes)
    difference = equal_opportunity_difference(outcomes)
    calibration = calibration_difference(outcomes)
    if ratio is not None:
        assert 0.0 <= ratio <= 1.0
    if difference is not None:
        assert 0.0 <= difference <= 1.0
    if calibration is not None:
        assert 0.0 <= calibration <= 2.0
    reversed_outcomes = group_outcomes(
        groups[::-1], y[::-1], scores[::-1], approve_below=cut, min_group_size=1
    )
    assert approval_rate_ratio(reversed_outcomes) == ratio
    assert equal_opportunity_difference(reversed_outcomes) == difference


def test_bands_cut_numbers_from_text_and_name_missing_values() -> None:
    assert band_labels([25]) == ["< 25", ">= 25"]
    assert band_labels([40, 25.5]) == ["< 25.5", "25.5 to < 40", ">= 40"]
    ages = pd.Series(["19", "24", "25", "67", None, "n/a"], dtype="string")
    assert banded(ages, [25]).tolist() == ["< 25", "< 25", ">= 25", ">= 25", "missing", "missing"]
    assert banded(ages, [25, 60]).tolist()[:4] == ["< 25", "< 25", "25 to < 60", ">= 60"]


def test_groups_gather_raw_values_and_unlisted_values_keep_their_name() -> None:
    values = pd.Series(["male : single", "female : x", "male : married", "other", None])
    named = regrouped(
        values, {"male": ["male : single", "male : married"], "female": ["female : x"]}
    )
    assert named.tolist() == ["male", "female", "male", "other", "missing"]
    config = load_spec(SPEC).spec.gates.fairness
    raw = pd.Series(
        ["male : single", "female : divorced/separated/married", "male : married/widowed"]
    )
    sexes, order = attribute_groups(raw, "personal_status_and_sex", config)
    assert sexes.tolist() == ["male", "female", "male"]
    assert order == ["male", "female"]
    foreign, order = attribute_groups(pd.Series(["yes", "no"]), "foreign_worker", config)
    assert (foreign.tolist(), order) == (["yes", "no"], None)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"bands": {"age": []}}, "needs at least one edge"),
        ({"bands": {"age": [40, 25]}}, "distinct edges in increasing order"),
        ({"bands": {"age": [25]}, "groups": {"age": {"young": ["1"]}}}, "both bands and groups"),
        ({"groups": {"sex": {"m": ["a"], "f": ["a"]}}}, "puts a value in two groups: a"),
    ],
)
def test_group_definitions_are_checked(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FairnessConfig.model_validate(config)


def test_a_fairness_group_must_name_a_protected_attribute(spec_copy: Callable[..., Path]) -> None:
    def unknown(raw: dict[str, Any]) -> None:
        raw["gates"]["fairness"]["bands"]["duration_in_month"] = [12]

    with pytest.raises(SpecError, match="not a valid model spec"):
        load_spec(spec_copy(unknown))


def test_the_reference_model_records_its_fairness_and_the_age_gap_is_advisory(
    ctx: Context,
) -> None:
    outcome = validate(ctx, train(ctx, SPEC, actor="alice").ref, actor="victor")
    assert outcome.passed
    results = {r.gate: r for r in outcome.results if r.gate.startswith("fairness.")}
    assert set(results) == {
        f"fairness.{attribute}.{metric}"
        for attribute in ("age_in_years", "personal_status_and_sex", "foreign_worker")
        for metric in (
            "approval_rate_ratio",
            "equal_opportunity_difference",
            "calibration_difference",
            "proxy_auc",
        )
    }
    assert all(
        r.kind == "riskops.gate/fairness@1" and r.severity == "advisory" for r in results.values()
    )
    age = results["fairness.age_in_years.approval_rate_ratio"]
    assert [g["group"] for g in age.evidence["groups"]] == ["< 25", ">= 25"]
    test_rows = pd.read_csv(DATA, dtype="string").iloc[reference_split().test]
    young = int((test_rows["age_in_years"].astype(int) < 25).sum())
    assert [g["count"] for g in age.evidence["groups"]] == [young, len(test_rows) - young]
    assert age.evidence["reference"] == ">= 25"
    assert age.value is not None
    assert age.value < 0.8  # the gap the spec's comment explains
    assert not age.passed
    assert not age.blocks
    sexes = results["fairness.personal_status_and_sex.approval_rate_ratio"]
    assert [g["group"] for g in sexes.evidence["groups"]] == ["male", "female"]
    assert sexes.passed
    foreign = results["fairness.foreign_worker.approval_rate_ratio"]
    assert foreign.value is None
    assert foreign.comparison == "n/a"
    assert foreign.evidence["exclusions"] == (
        "Groups with fewer than 30 rows are reported but not compared: "
        f"no ({int((test_rows['foreign_worker'] == 'no').sum())})."
    )
    assert "nothing to compare" in foreign.evidence["note"]
    # Every comparison carries its interval, and says whether the threshold lies inside it.
    assert {c["statistic"] for c in age.evidence["comparisons"]} == set(age.evidence["ci"])
    for comparison in age.evidence["comparisons"]:
        low, high = comparison["interval"]
        assert comparison["threshold_inside"] == (low <= comparison["threshold"] <= high)
    # Per outcome, each group's decisions add up to the group.
    for group in age.evidence["groups"]:
        mine = [d for d in age.evidence["decisions_by_group"] if d["group"] == group["group"]]
        assert [d["outcome"] for d in mine] == ["approve", "refer", "decline"]
        assert sum(d["count"] for d in mine) == group["count"]
        assert sum(d["rate"] for d in mine) == pytest.approx(1.0)
    # The detectable difference follows from the group sizes on record.
    rows = age.evidence["rows"]
    approval = sum(g["count"] * g["approval_rate"] for g in age.evidence["groups"]) / rows
    for group, power in zip(age.evidence["groups"], age.evidence["power"], strict=True):
        assert power["detectable_approval_rate_difference"] == pytest.approx(
            minimum_detectable_difference(group["count"], rows - group["count"], rate=approval)
        )
    proxies = results["fairness.age_in_years.proxy_auc"]
    assert proxies.status == "reported"
    assert proxies.evidence["attribute_is_feature"] is False
    assert len(proxies.evidence["features"]) == len(load_spec(SPEC).spec.features)
    assert 0.0 <= proxies.value <= 1.0


BIASED_TRAINER = '''

def fit_against_the_young(X, y, params):
    """Every applicant under 25 is treated as a bad risk in training."""
    young = (X["age_in_years"] < 25).to_numpy().astype(int)
    return fit_lightgbm(X, np.maximum(y, young), params)
'''


def test_a_model_biased_against_the_young_fails_a_blocking_fairness_gate(
    ctx: Context, spec_copy: Callable[..., Path]
) -> None:
    def biased(raw: dict[str, Any]) -> None:
        # A model that takes age as an input (the reference model does not) and uses it.
        raw["features"].append(
            {"name": "age_in_years", "type": "numeric", "min": 18, "max": 100, "reason": "Age"}
        )
        raw["trainer"]["entrypoint"] = "trainer.py:fit_against_the_young"
        raw["gates"]["fairness"]["severity"] = "blocking"
        # Age is no longer dropped, so the reason for dropping it no longer applies.
        raw["rationale"].pop("features.dropped.age_in_years")

    path = spec_copy(biased)
    with (path.parent / "trainer.py").open("a", encoding="utf-8") as f:
        f.write(BIASED_TRAINER)
    outcome = validate(ctx, train(ctx, path, actor="alice").ref, actor="victor")
    assert not outcome.passed
    assert outcome.state == "rejected"
    blocking = {r.gate: r for r in outcome.results if r.blocks}
    ratio = blocking["fairness.age_in_years.approval_rate_ratio"]
    assert ratio.value == 0.0
    assert ratio.threshold == 0.8
    young, older = ratio.evidence["groups"]
    assert (young["group"], young["approval_rate"], young["true_positive_rate"]) == ("< 25", 0, 0)
    assert older["approval_rate"] > 0.4
    opportunity = blocking["fairness.age_in_years.equal_opportunity_difference"]
    assert opportunity.value == pytest.approx(older["true_positive_rate"])
    assert opportunity.value > 0.5
    # Age is a feature here: the proxy analysis says so and ranks it first.
    proxies = next(r for r in outcome.results if r.gate == "fairness.age_in_years.proxy_auc")
    assert proxies.evidence["attribute_is_feature"] is True
    assert proxies.evidence["features"][0]["feature"] == "age_in_years"
    assert proxies.evidence["note"].startswith("age_in_years is itself a model feature")


def crafted(rows: int = 400, resamples: int = 300) -> GateInput:
    """Group a is scored riskier than its outcomes (0.35 against a 15% event rate), group b
    safer (0.30 against 50%)."""
    rng = np.random.default_rng(12)
    groups = np.array(["a"] * rows + ["b"] * rows, dtype=object)
    y = np.concatenate([rng.random(rows) < 0.15, rng.random(rows) < 0.5]).astype(int)
    scores = np.concatenate([rng.uniform(0.15, 0.55, size=rows), rng.uniform(0.1, 0.5, size=rows)])
    spec = ModelSpec.model_validate(
        {
            "name": "toy-model",
            "intended_use": "Checking the fairness gate.",
            "risk_tier": "low",
            "owner": "tests",
            "data": {
                "source": "toy.csv",
                "label": {"column": "y", "positive": 1, "negative": 0},
                "protected_attributes": ["grp"],
            },
            "features": [{"name": "x", "type": "numeric", "reason": "The only input"}],
            "trainer": {"entrypoint": "trainer.py:fit"},
            "policy": {"approve_below": 0.3, "decline_from": 0.45},
            "gates": {"fairness": {"bootstrap_resamples": resamples}},
        }
    )
    features = pd.DataFrame({"x": scores})
    sample = Sample(
        "validation", features.assign(grp=groups), features, scores[:, np.newaxis], y, scores
    )
    return toy_input(spec, sample)


def test_calibration_direction_is_named_per_group_and_decision_rates_add_up() -> None:
    data = crafted()
    results = {r.gate: r for r in FairnessGate().evaluate(data)}
    evidence = results["fairness.grp.approval_rate_ratio"].evidence
    words = {row["group"]: row for row in evidence["calibration_by_group"]}
    sample = data.validation
    for group, direction in (("a", "over"), ("b", "under")):
        mine = sample.raw["grp"].to_numpy() == group
        predicted, observed = sample.scores[mine].mean(), sample.y[mine].mean()
        assert words[group]["direction"] == f"{direction}-predicted"
        assert words[group]["words"].startswith(
            f"risk {direction}-predicted for {group} "
            f"(predicted {predicted:.3f}, observed {observed:.3f})"
        )
        assert "not conclusively" not in words[group]["words"]  # 400 rows settle it
    codes = DecisionPolicy.from_spec(data.spec).codes(sample.scores, sample.matrix)
    for row in evidence["decisions_by_group"]:
        mine = sample.raw["grp"].to_numpy() == row["group"]
        outcome = DecisionPolicy.from_spec(data.spec).outcomes.index(row["outcome"])
        assert row["count"] == int((codes[mine] == outcome).sum())
        low, high = row["rate_ci"]
        assert low <= row["rate"] <= high
    for group in ("a", "b"):
        rates = [d["rate"] for d in evidence["decisions_by_group"] if d["group"] == group]
        assert sum(rates) == pytest.approx(1.0)
    # The only feature is the score, which differs by group: a strong proxy, not the attribute.
    proxies = results["fairness.grp.proxy_auc"]
    assert proxies.evidence["attribute_is_feature"] is False
    assert proxies.value is not None
    assert proxies.value > 0.6


def test_a_slight_calibration_gap_on_few_rows_is_not_conclusive() -> None:
    evidence = FairnessGate().evaluate(crafted(rows=30))[0].evidence
    rows = {r["group"]: r for r in evidence["calibration_by_group"]}
    for row in rows.values():
        low, high = row["gap_ci"]
        assert ("not conclusively" in row["words"]) == (low <= 0.0 <= high)
    # On 30 rows a's large gap still shows; b's smaller one does not.
    assert "not conclusively" not in rows["a"]["words"]
    assert "not conclusively" in rows["b"]["words"]
    assert calibration_words("b", 0.3, 0.3, None) == (
        "matched",
        "risk matched for b (predicted 0.300, observed 0.300)",
    )


def test_the_proxy_analysis_reads_a_seeded_sample_of_large_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(proxies_gate, "PROXY_ROWS", 100)
    data = crafted()
    first = next(r for r in FairnessGate().evaluate(data) if r.metric == "proxy_auc")
    assert (first.evidence["rows"], first.evidence["rows_available"]) == (100, 800)
    again = next(r for r in FairnessGate().evaluate(data) if r.metric == "proxy_auc")
    assert again.value == first.value


def test_without_resamples_there_are_no_intervals_but_the_direction_is_still_named() -> None:
    evidence = FairnessGate().evaluate(crafted(resamples=0))[0].evidence
    assert (evidence["ci"], evidence["comparisons"]) == ({}, [])
    assert all(g["approval_rate_ci"] is None for g in evidence["group_intervals"])
    a = next(r for r in evidence["calibration_by_group"] if r["group"] == "a")
    assert a["gap_ci"] is None
    assert a["words"].startswith("risk over-predicted for a")
    assert all(d["rate_ci"] is not None for d in evidence["decisions_by_group"])  # Wilson
