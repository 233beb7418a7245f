"""The decision bodies (single and batch): accepted exactly when well formed; otherwise one
RequestInvalid that names each wrong field, whatever the bytes, and the same refusal from both
endpoints for a body that is not JSON."""

from __future__ import annotations

import contextlib
import gc
import json
import threading
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskops.scoring.features import MAX_UNKNOWN_LISTED, RequestInvalid
from riskops.serving.envelope import (
    MAX_SUBJECT_ID,
    BatchRequest,
    collector_paused,
    parse_batch_request,
    parse_decision_request,
)


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


# -- the batch body, and what both bodies share ---------------------------------------------------

MAX_BATCH = 50


def parse_batch(body: bytes) -> BatchRequest:
    return parse_batch_request(body, max_batch=MAX_BATCH)


def test_a_well_formed_batch() -> None:
    body = {
        "subjects": [{"subject_id": "a", "features": {"x": 1}}, {"subject_id": "b", "features": {}}]
    }
    batch = parse_batch(orjson.dumps(body))
    assert [(s.subject_id, s.features) for s in batch.subjects] == [("a", {"x": 1}), ("b", {})]
    assert batch.explain is False
    assert parse_batch(b'{"subjects": [], "explain": true}') == BatchRequest((), True)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"{}", {"subjects"}),
        (b'{"subjects": {}}', {"subjects"}),
        (b'{"subjects": [], "explain": 0}', {"explain"}),
        (b'{"subjects": [], "explain": 1}', {"explain"}),
        (b'{"subjects": [], "explain": "yes"}', {"explain"}),
        (b'{"subjects": [], "explain": null}', {"explain"}),
        (b'{"subjects": [], "extra": 1}', {"extra"}),
        (b'{"subjects": [7]}', {"subjects[0]"}),
        (
            b'{"subjects": [{"subject_id": "a", "features": {}}, {"subject_id": "", "features": []}]}',
            {"subjects[1].subject_id", "subjects[1].features"},
        ),
        (
            b'{"subjects": [{"subject_id": "a", "features": {}, "explain": true}]}',
            {"subjects[0].explain"},
        ),
    ],
)
def test_every_wrong_field_of_a_batch_is_named(body: bytes, named: set[str]) -> None:
    with pytest.raises(RequestInvalid) as refused:
        parse_batch(body)
    assert fields(refused.value) == named


def test_explain_is_strictly_boolean_in_both_bodies() -> None:
    for explain in (b"0", b"1", b'"yes"', b'"true"', b"null", b"[]"):
        single = b'{"subject_id": "s", "features": {}, "explain": ' + explain + b"}"
        batch = b'{"subjects": [], "explain": ' + explain + b"}"
        for parse, body in ((parse_decision_request, single), (parse_batch, batch)):
            with pytest.raises(RequestInvalid) as refused:
                parse(body)  # type: ignore[operator]
            assert fields(refused.value) == {"explain"}, body


def test_too_many_subjects_are_refused_before_any_is_looked_at() -> None:
    body = b'{"subjects": [' + b",".join([b"7"] * 100_000) + b"]}"
    with pytest.raises(RequestInvalid) as refused:
        parse_batch(body)
    assert [(p.location, p.message) for p in refused.value.problems] == [
        ("subjects", f"has 100,000 items, more than {MAX_BATCH}")
    ]


# Bodies that are not JSON as orjson reads it, each a `(body)` problem of either endpoint.
NOT_JSON = {
    "empty": b"",
    "truncated": b'{"subject_id": "s", "features": {',
    "invalid UTF-8": b'{"subject_id": "\xff\xfe", "features": {}}',
    "lone surrogate escape": b'{"subjects": [{"subject_id": "a", "features": {"\\ud83d": 1}}]}',
    "encoded surrogate": b'{"subject_id": "\xed\xa0\xbd", "features": {}}',
    "1,100-deep nesting": b'{"features": ' + b"[" * 1_100 + b"]" * 1_100 + b"}",
    "5,000-digit integer": b'{"subject_id": "s", "features": {"x": ' + b"9" * 5_000 + b"}}",
    "NaN": b'{"subject_id": "s", "features": {"x": NaN}}',
    "byte order mark": b'\xef\xbb\xbf{"subject_id": "s", "features": {}}',
}


@pytest.mark.parametrize("body", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_a_body_that_is_not_json_is_the_same_body_problem_for_both(body: bytes) -> None:
    answers = []
    for parse in (parse_decision_request, parse_batch):
        with pytest.raises(RequestInvalid) as refused:
            parse(body)  # type: ignore[operator]
        assert fields(refused.value) == {"(body)"}
        answers.append((refused.value.message, refused.value.problems))
    assert answers[0] == answers[1]


def test_deep_nesting_and_huge_numbers_are_named_for_what_they_are() -> None:
    with pytest.raises(RequestInvalid) as deep:
        parse_decision_request(NOT_JSON["1,100-deep nesting"])
    assert "deeper than 1,024 levels" in deep.value.problems[0].message
    with pytest.raises(RequestInvalid) as huge:
        parse_decision_request(NOT_JSON["5,000-digit integer"])
    assert "too large for a double" in huge.value.problems[0].message
    with pytest.raises(RequestInvalid) as text:
        parse_decision_request(NOT_JSON["invalid UTF-8"])
    assert "not UTF-8" in text.value.problems[0].message


def test_a_million_unknown_fields_are_counted_not_listed() -> None:
    body = orjson.dumps({f"f{i}": 1 for i in range(100_000)} | {"subject_id": "s", "features": {}})
    with pytest.raises(RequestInvalid) as refused:
        parse_decision_request(body)
    problems = refused.value.problems
    assert len(problems) == MAX_UNKNOWN_LISTED + 1
    assert problems[-1].location == "(fields)"
    assert problems[-1].message.startswith(f"and {100_000 - MAX_UNKNOWN_LISTED:,} more fields")
    items = [{"subject_id": "a", "features": {}} | {f"f{j}": 1 for j in range(30)}] * MAX_BATCH
    with pytest.raises(RequestInvalid) as refused_batch:
        parse_batch(orjson.dumps({"subjects": items}))
    listed = [p for p in refused_batch.value.problems if "is not a field" in p.message]
    assert len(listed) == MAX_UNKNOWN_LISTED  # over the whole batch
    assert len(refused_batch.value.problems) == MAX_UNKNOWN_LISTED + MAX_BATCH


def test_a_megabyte_field_name_is_echoed_short() -> None:
    body = orjson.dumps({"subject_id": "s", "features": {}, "x" * 1_000_000: 1})
    with pytest.raises(RequestInvalid) as refused:
        parse_decision_request(body)
    (problem,) = refused.value.problems
    assert len(problem.location) <= 81


@given(st.binary(max_size=300))
def test_any_bytes_are_a_batch_or_a_named_refusal(body: bytes) -> None:
    outcome: BatchRequest | RequestInvalid
    try:
        outcome = parse_batch(body)
    except RequestInvalid as exc:
        outcome = exc
    assert isinstance(outcome, BatchRequest) or outcome.problems


json_texts = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
).map(lambda value: json.dumps(value).encode())


@given(
    st.one_of(
        json_texts,
        st.binary(max_size=300),
        st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )
)
def test_any_body_is_parsed_or_refused_by_both_parsers_and_never_crashes(body: bytes) -> None:
    for parse in (parse_decision_request, parse_batch):
        refused: RequestInvalid | None = None
        try:
            parse(body)  # type: ignore[operator]
        except RequestInvalid as exc:
            refused = exc
        if refused is not None:
            assert refused.problems
            assert all(isinstance(p.location, str) and p.message for p in refused.problems)


def test_the_collector_is_paused_only_while_a_body_is_parsed() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # another thread parsing at the same time
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    for body in (b'{"subject_id": "s", "features": {}}', b"{not json", b"[" * 2_000):
        with contextlib.suppress(RequestInvalid):
            parse_decision_request(body)
        assert gc.isenabled()

    def parse_many() -> None:
        for _ in range(200):
            with contextlib.suppress(RequestInvalid):
                parse_batch(b'{"subjects": [' + b"[]," * 2_000 + b"[]]}")

    threads = [threading.Thread(target=parse_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert gc.isenabled()
