from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskops.errors import ConfigError
from riskops.scoring.policy import MODEL_UNAVAILABLE, DecisionPolicy
from riskops.spec import load_spec
from tests.conftest import SPEC

CREDIT = load_spec(SPEC).spec


@pytest.mark.parametrize(
    ("score", "outcome"),
    [
        (0.0, "approve"),
        (0.2499, "approve"),
        (0.25, "refer"),
        (0.4, "refer"),
        (0.5999, "refer"),
        (0.60, "decline"),
        (1.0, "decline"),
    ],
)
def test_the_spec_cut_offs_make_three_bands(score: float, outcome: str) -> None:
    policy = DecisionPolicy.from_spec(CREDIT)
    assert (policy.approve_below, policy.decline_from) == (0.25, 0.60)
    assert policy.decide(score) == outcome


@given(st.lists(st.floats(0.0, 1.0), max_size=50))
def test_deciding_many_equals_deciding_each(scores: list[float]) -> None:
    policy = DecisionPolicy.from_spec(CREDIT)
    assert policy.decide_many(np.asarray(scores, dtype=np.float64)) == [
        policy.decide(s) for s in scores
    ]


def test_equal_cut_offs_leave_no_refer_band() -> None:
    policy = DecisionPolicy(0.5, 0.5)
    assert [policy.decide(s) for s in (0.49, 0.5, 0.51)] == ["approve", "decline", "decline"]


def test_the_fallback_refers_to_a_person_unless_configured() -> None:
    assert DecisionPolicy.from_spec(CREDIT).safe_outcome == "refer"
    declining = DecisionPolicy.from_spec(CREDIT, safe_outcome="decline")
    assert declining.safe_outcome == "decline"
    assert declining.fallback_reason is MODEL_UNAVAILABLE
    assert MODEL_UNAVAILABLE.as_dict() == {
        "code": "model_unavailable",
        "text": "model unavailable",
        "contribution": None,
        "value": None,
    }


def test_a_bad_policy_is_refused() -> None:
    with pytest.raises(ConfigError, match="valid outcomes are: approve, refer, decline"):
        DecisionPolicy(0.2, 0.5, safe_outcome="shrug")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"must satisfy 0 ≤ approve_below ≤ decline_from ≤ 1"):
        DecisionPolicy(0.6, 0.5)


def test_only_an_approval_goes_without_reasons() -> None:
    policy = DecisionPolicy.from_spec(CREDIT)
    assert not policy.is_adverse("approve")
    assert policy.is_adverse("refer")
    assert policy.is_adverse("decline")
