"""Policies beyond two cut-offs: outcome names by kind, expected cost, ordered rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskops.errors import SpecError
from riskops.scoring.features import FeatureEncoder
from riskops.scoring.policy import ADVERSE, FAVOURABLE, REVIEW, DecisionPolicy
from riskops.spec import Costs, ModelSpec, dump_spec, expected_cost_cutoffs, parse_spec
from tests.conftest import SPEC

CREDIT_TEXT = SPEC.read_text(encoding="utf-8")


def _with(policy: str, *, kind: str | None = None) -> ModelSpec:
    """The credit spec with another policy block (and kind)."""
    head, rest = CREDIT_TEXT.split("\npolicy:", 1)
    lines = rest.split("\n")[1:]  # drop the old block's indented lines
    while lines and (lines[0].startswith("  ") or lines[0].strip().startswith("#")):
        lines.pop(0)
    text = head + "\npolicy:\n" + policy + "\n" + "\n".join(lines)
    if kind is not None:
        text = text.replace("risk_tier:", f"kind: {kind}\nrisk_tier:", 1)
    return parse_spec(text).spec


def test_a_fraud_kind_names_its_outcomes_allow_review_block() -> None:
    spec = _with("  approve_below: 0.2\n  decline_from: 0.8", kind="fraud")
    policy = DecisionPolicy.from_spec(spec)
    assert policy.outcomes == ("allow", "review", "block")
    assert [policy.decide(s) for s in (0.1, 0.5, 0.9)] == ["allow", "review", "block"]
    assert policy.safe_outcome == "review"
    assert policy.is_adverse("review")
    assert not policy.is_adverse("allow")


def test_outcome_names_can_be_the_specs_own() -> None:
    spec = _with(
        "  approve_below: 0.2\n  decline_from: 0.8\n"
        "  outcomes: {favourable: pass, review: hold, adverse: stop}"
    )
    assert DecisionPolicy.from_spec(spec).decide(0.5) == "hold"
    with pytest.raises(SpecError, match="different names"):
        _with(
            "  approve_below: 0.2\n  decline_from: 0.8\n"
            "  outcomes: {favourable: a1, review: a1, adverse: b1}"
        )


@given(
    st.floats(1.0, 10_000.0),
    st.floats(1.0, 10_000.0),
    st.one_of(st.none(), st.floats(0.0, 500.0)),
    st.floats(0.0, 1.0),
)
def test_expected_cost_picks_the_cheapest_outcome(
    missed: float, false_alarm: float, review: float | None, p: float
) -> None:
    low, high = expected_cost_cutoffs(
        Costs(missed_event=missed, false_alarm=false_alarm, review=review)
    )
    code = FAVOURABLE if p < low else ADVERSE if p >= high else REVIEW
    cost = {FAVOURABLE: p * missed, ADVERSE: (1 - p) * false_alarm}
    if review is not None:
        cost[REVIEW] = review
    assert code in cost
    assert cost[code] <= min(cost.values()) + 1e-9 * max(missed, false_alarm)


def test_an_expected_cost_policy_compiles_to_cut_offs_and_round_trips() -> None:
    spec = _with(
        "  type: expected_cost\n  costs: {missed_event: 200, false_alarm: 10, review: 4}",
        kind="fraud",
    )
    # review is cheapest between 4/200 = 0.02 and 1 − 4/10 = 0.6
    assert spec.policy.score_cutoffs() == pytest.approx((0.02, 0.6))
    policy = DecisionPolicy.from_spec(spec)
    assert [policy.decide(s) for s in (0.01, 0.3, 0.7)] == ["allow", "review", "block"]
    assert parse_spec(dump_spec(spec)).spec == spec
    no_review = _with("  type: expected_cost\n  costs: {missed_event: 90, false_alarm: 10}")
    assert no_review.policy.score_cutoffs() == pytest.approx((0.1, 0.1))


def test_rules_decide_in_order_on_score_and_features() -> None:
    spec = _with(
        "  type: rules\n"
        "  rules:\n"
        "    - {if: {score: {gte: 0.9}}, then: decline}\n"
        "    - {if: {credit_amount: {gt: 15000}}, then: refer, reason: Amount above the desk limit}\n"
        "    - {if: {purpose: {in: [business]}, score: {gte: 0.3}}, then: refer}\n"
        "  otherwise: approve"
    )
    policy = DecisionPolicy.from_spec(spec)
    assert policy.reads_features
    names = spec.feature_names
    row = np.full((4, len(names)), 1.0)
    amount, purpose = names.index("credit_amount"), names.index("purpose")
    business = float(spec.feature("purpose").categories.index("business"))  # type: ignore[union-attr]
    row[:, amount] = [1000, 20000, 1000, math.nan]
    row[:, purpose] = [0, 0, business, business]
    scores = np.array([0.95, 0.1, 0.5, 0.1])
    codes, fired = policy.codes_and_rules(scores, row)
    assert codes.tolist() == [ADVERSE, REVIEW, REVIEW, FAVOURABLE]
    assert fired.tolist() == [0, 1, 2, -1]  # a missing amount fails its test
    assert policy.rule_reasons(fired)[1].text == "Amount above the desk limit"  # type: ignore[union-attr]
    assert policy.decide(0.1, row[1:2]) == "refer"
    assert parse_spec(dump_spec(spec)).spec == spec


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("  type: expected_cost", "needs costs"),
        ("  type: rules\n  otherwise: approve", "needs rules"),
        (
            "  type: rules\n  rules: [{if: {score: {gte: 0.5}}, then: block}]\n  otherwise: approve",
            "'block', which is not one of",
        ),
        (
            "  type: rules\n  rules: [{if: {salary: {gte: 5}}, then: refer}]\n  otherwise: approve",
            "neither 'score' nor a feature",
        ),
        (
            "  type: rules\n  rules: [{if: {purpose: {gte: 5}}, then: refer}]\n  otherwise: approve",
            "categorical: test it with in",
        ),
        (
            "  type: rules\n  rules: [{if: {purpose: {in: [yacht]}}, then: refer}]\n  otherwise: approve",
            "not among its categories",
        ),
        (
            "  type: rules\n  rules: [{if: {score: {}}, then: refer}]\n  otherwise: approve",
            "at least one of gt",
        ),
        (
            "  approve_below: 0.2\n  decline_from: 0.6\n  costs: {missed_event: 1, false_alarm: 1}",
            "does not take costs",
        ),
        ("  approve_below: 0.2", "needs approve_below and decline_from"),
    ],
)
def test_a_bad_policy_says_what_to_fix(policy: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        _with(policy)
    assert message in str(caught.value) + " ".join(str(p) for p in caught.value.problems)


def test_encoded_categories_are_what_rules_compare() -> None:
    spec = _with(
        "  type: rules\n  rules: [{if: {purpose: {in: [business, education]}}, then: refer}]\n"
        "  otherwise: approve"
    )
    encoder = FeatureEncoder(spec)
    policy = DecisionPolicy.from_spec(spec)
    rows = []
    for purpose in ("business", "education", "car (new)"):
        features = {
            f.name: (f.categories[0] if f.categories else (f.min or 1)) for f in spec.features
        }
        features["purpose"] = purpose
        rows.append(features)
    matrix = encoder.encode_batch(rows)
    assert policy.decide_many(np.zeros(3), matrix) == ["refer", "refer", "approve"]
