"""Features sent by a hostile client: the cost of checking them, and the size of the answer,
stay bounded whatever the request holds (tens of thousands of unknown names, megabyte names and
values, deep nesting, huge integers). Each problem is still named; past a few, they are
counted instead."""

from __future__ import annotations

import difflib
import time
from typing import Any

import orjson
import pytest

from riskops.scoring import features as features_module
from riskops.scoring.features import (
    MAX_SHOWN,
    MAX_SUGGESTIONS,
    MAX_UNKNOWN_LISTED,
    FeatureEncoder,
    RequestInvalid,
)
from riskops.spec import load_spec
from tests.conftest import SPEC

CREDIT = load_spec(SPEC).spec
ENCODER = FeatureEncoder(CREDIT)


def good_request() -> dict[str, object]:
    return {
        f.name: (f.categories[0] if f.categories else (f.min if f.min is not None else 0))
        for f in CREDIT.features
    }


def refusal(features: Any) -> RequestInvalid:
    with pytest.raises(RequestInvalid) as caught:
        ENCODER.encode(features)
    return caught.value


@pytest.fixture
def suggestions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every word a "did you mean" was computed for."""
    asked: list[str] = []
    real = difflib.get_close_matches

    def counted(word: str, *args: Any, **kwargs: Any) -> list[str]:
        asked.append(word)
        return real(word, *args, **kwargs)

    monkeypatch.setattr(features_module.difflib, "get_close_matches", counted)
    return asked


def answer_size(error: RequestInvalid) -> int:
    return len(orjson.dumps([[p.location, p.message] for p in error.problems]))


def test_thousands_of_unknown_names_are_counted_not_each_listed(suggestions: list[str]) -> None:
    # The trial's body: about 35,000 names that look like a feature, 1 MB of JSON.
    hostile = {f"duration_in_mont{i:06d}": 1 for i in range(35_000)}
    started = time.perf_counter()
    error = refusal(hostile)
    took = time.perf_counter() - started
    unknown = [p for p in error.problems if p.message.startswith("is not a feature")]
    assert len(unknown) == MAX_UNKNOWN_LISTED
    summary = error.problems[-1]
    assert summary.location == "(features)"
    assert f"and {35_000 - MAX_UNKNOWN_LISTED:,} more" in summary.message
    # Every feature of the spec is missing, and is named as such.
    missing = {p.location for p in error.problems if p.message.startswith("is required")}
    assert missing == set(CREDIT.feature_names)
    assert len(error.problems) == len(CREDIT.features) + MAX_UNKNOWN_LISTED + 1
    assert len(suggestions) <= MAX_SUGGESTIONS
    assert answer_size(error) < 10_000
    assert took < 0.25, f"checking 35,000 unknown names took {took:.3f} s"


def test_a_suggestion_is_made_only_for_a_name_of_plausible_length(
    suggestions: list[str],
) -> None:
    error = refusal(good_request() | {"duraton_in_month": 1, "x" * 1_000_000: 1, "q" * 70: 1})
    found = {p.location: p.message for p in error.problems}
    assert found["duraton_in_month"].endswith("did you mean 'duration_in_month'?")
    assert suggestions == ["duraton_in_month"]
    long_name = next(p for p in error.problems if p.location.startswith("xxx"))
    assert len(long_name.location) <= MAX_SHOWN + 1
    assert long_name.location.endswith("…")
    assert answer_size(error) < 2_000


def test_a_megabyte_category_is_neither_matched_nor_echoed(suggestions: list[str]) -> None:
    error = refusal(good_request() | {"purpose": "car" * 400_000})
    (problem,) = error.problems
    assert problem.location == "purpose"
    assert "is not an allowed category" in problem.message
    assert len(problem.message) < 1_000
    assert suggestions == []


def test_a_megabyte_string_for_a_number_is_not_echoed() -> None:
    (problem,) = refusal(good_request() | {"credit_amount": "9" * 1_000_000}).problems
    assert problem.message.startswith("expected a number, got")
    assert len(problem.message) < 500


def nested(depth: int) -> object:
    value: object = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("feature", ["purpose", "duration_in_month"])
def test_deeply_nested_values_are_named_not_a_crash(feature: str) -> None:
    # orjson reads up to 1,024 levels; Python's repr stops at about 1,000.
    for value in (nested(1_020), {"a": nested(1_020)}):
        (problem,) = refusal(good_request() | {feature: value}).problems
        assert problem.location == feature
        assert len(problem.message) < 500


def test_a_huge_integer_is_out_of_range_not_a_crash() -> None:
    # Python refuses to print an integer of more than 4,300 digits.
    (problem,) = refusal(good_request() | {"duration_in_month": 10**5_000}).problems
    assert problem.location == "duration_in_month"
    assert "above the allowed maximum 120" in problem.message
    assert len(problem.message) < 500


def test_a_batch_shares_one_budget_of_listed_names_and_suggestions(
    suggestions: list[str],
) -> None:
    rows = [good_request() | {f"duration_in_mont{i}{j}": 1 for j in range(30)} for i in range(1000)]
    with pytest.raises(RequestInvalid) as caught:
        ENCODER.encode_batch(rows)
    problems = caught.value.problems
    listed = [p for p in problems if p.message.startswith("is not a feature")]
    assert len(listed) == MAX_UNKNOWN_LISTED
    counted = [p for p in problems if p.location.endswith("(features)")]
    assert counted[0].location == "[0].(features)"
    assert len(counted) == 1000
    assert "30 names that are not features" in counted[-1].message
    assert len(suggestions) <= MAX_SUGGESTIONS


def test_a_valid_request_is_still_accepted_after_a_hostile_one() -> None:
    refusal({f"k{i}": 1 for i in range(10_000)})
    assert ENCODER.encode(good_request()).shape == (1, len(CREDIT.features))
