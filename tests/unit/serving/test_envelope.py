"""The single-decision body: accepted exactly when it is well formed; otherwise one
RequestInvalid that names each wrong field, whatever the bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskops.scoring.features import RequestInvalid
from riskops.serving.envelope import MAX_SUBJECT_ID, parse_decision_request


def fields(error: RequestInvalid) -> set[str]:
    return {p.location for p in error.problems}


def test_a_well_formed_body() -> None:
    body = json.dumps({"subject_id": "a-1", "features": {"x": 1}, "explain": True}).encode()
    request = parse_decision_request(body)
    assert (request.subject_id, request.features, request.explain) == ("a-1", {"x": 1}, True)
    assert parse_decision_request(b'{"subject_id":"b","features":{}}').explain is False


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"", {"(body)"}),
        (b"{not json", {"(body)"}),
        (b"[1, 2]", {"(body)"}),
        (b'"text"', {"(body)"}),
        (b"{}", {"subject_id", "features"}),
        (b'{"subject_id": 7, "features": {}}', {"subject_id"}),
        (b'{"subject_id": "", "features": {}}', {"subject_id"}),
        (b'{"subject_id": "s", "features": [1]}', {"features"}),
        (b'{"subject_id": "s", "features": {}, "explain": "yes"}', {"explain"}),
        (b'{"subject_id": "s", "features": {}, "explain": null}', {"explain"}),
        (b'{"subject_id": "s", "features": {}, "surprise": 1}', {"surprise"}),
        (
            b'{"subject_id": null, "features": null, "a": 1, "b": 2}',
            {"subject_id", "features", "a", "b"},
        ),
    ],
)
def test_every_wrong_field_is_named(body: bytes, named: set[str]) -> None:
    with pytest.raises(RequestInvalid) as refused:
        parse_decision_request(body)
    assert fields(refused.value) == named
    assert refused.value.hint
    assert all(p.message for p in refused.value.problems)


def test_a_subject_id_over_the_limit() -> None:
    body = json.dumps({"subject_id": "s" * (MAX_SUBJECT_ID + 1), "features": {}}).encode()
    with pytest.raises(RequestInvalid) as refused:
        parse_decision_request(body)
    assert "must have 1 to 200 characters" in refused.value.problems[0].message


# Integers within 64 bits: a larger one is read as the nearest float, so it would not compare
# equal to itself after the round trip (it is still a number to the feature checks).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.binary(max_size=200))
def test_any_bytes_are_a_request_or_a_named_refusal(body: bytes) -> None:
    refused: RequestInvalid | None = None
    try:
        parse_decision_request(body)
    except RequestInvalid as exc:
        refused = exc
    assert refused is None or refused.problems


@given(st.dictionaries(st.sampled_from(["subject_id", "features", "explain", "x"]), json_values))
def test_any_json_object_is_accepted_exactly_when_well_formed(data: dict[str, Any]) -> None:
    well_formed = (
        isinstance(data.get("subject_id"), str)
        and 0 < len(data["subject_id"]) <= MAX_SUBJECT_ID
        and isinstance(data.get("features"), dict)
        and isinstance(data.get("explain", False), bool)
        and "x" not in data
    )
    body = json.dumps(data).encode()
    if well_formed:
        request = parse_decision_request(body)
        assert request.subject_id == data["subject_id"]
        assert request.features == data["features"]
    else:
        with pytest.raises(RequestInvalid) as refused:
            parse_decision_request(body)
        assert refused.value.problems
