from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskops.datasets.encoding import encode_frame, typed_frame
from riskops.errors import ConfigError, InputError
from riskops.scoring.features import FeatureEncoder, RequestInvalid
from riskops.spec import ModelSpec, load_spec
from tests.conftest import SPEC
from tests.unit.conftest import German

CREDIT = load_spec(SPEC).spec


def with_missing_allowed(spec: ModelSpec) -> ModelSpec:
    raw = spec.model_dump()
    raw["features"] = [{**f, "allow_missing": True} for f in raw["features"]]
    return ModelSpec.model_validate(raw)


def good_request() -> dict[str, object]:
    return {
        f.name: (f.categories[0] if f.categories else (f.min if f.min is not None else 0))
        for f in CREDIT.features
    }


def problems_of(error: RequestInvalid) -> dict[str, str]:
    return {p.location: p.message for p in error.problems}


def test_every_data_row_encodes_as_training_encodes_it(german: German) -> None:
    encoder = FeatureEncoder(german.spec)
    matrix = encoder.encode_batch(german.requests)
    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix, german.matrix)
    one = encoder.encode(german.requests[1])
    assert one.shape == (1, len(german.spec.features))
    np.testing.assert_array_equal(one[0], german.matrix[1])


def test_a_missing_feature_is_named() -> None:
    request = good_request()
    del request["duration_in_month"]
    request["purpose"] = None
    with pytest.raises(RequestInvalid, match=r"2 problem\(s\)") as caught:
        FeatureEncoder(CREDIT).encode(request)
    required = "is required: send a value (the spec does not allow it to be missing)"
    assert problems_of(caught.value) == {"duration_in_month": required, "purpose": required}


def test_an_unknown_field_is_named_with_a_suggestion() -> None:
    request = good_request() | {"duraton_in_month": 12, "favourite_colour": "blue"}
    with pytest.raises(RequestInvalid, match="credit-scoring") as caught:
        FeatureEncoder(CREDIT).encode(request)
    found = problems_of(caught.value)
    assert found["duraton_in_month"] == (
        "is not a feature of credit-scoring; did you mean 'duration_in_month'?"
    )
    assert found["favourite_colour"] == "is not a feature of credit-scoring"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "expected a number, got a boolean (True)"),
        ("24", "expected a number, got the string '24': send it without quotes"),
        ("two years", "expected a number, got a string ('two years')"),
        ([24], "expected a number, got a list ([24])"),
        ({"months": 24}, "expected a number, got an object ({'months': 24})"),
        (0, "0 is below the allowed minimum 1"),
        (121.5, "121.5 is above the allowed maximum 120"),
        (math.inf, "must be a finite number, got inf"),
        (10**400, "is above the allowed maximum 120"),
    ],
    ids=["bool", "numeric-string", "text", "list", "object", "low", "high", "inf", "huge"],
)
def test_a_bad_number_is_named(value: object, message: str) -> None:
    request = good_request() | {"duration_in_month": value}
    with pytest.raises(RequestInvalid, match=r"1 problem\(s\)") as caught:
        FeatureEncoder(CREDIT).encode(request)
    assert list(problems_of(caught.value)) == ["duration_in_month"]
    assert problems_of(caught.value)["duration_in_month"].endswith(message)


def test_a_bad_category_is_named() -> None:
    request = good_request() | {"purpose": "car (nwe)", "housing": 1, "telephone": ["none"]}
    with pytest.raises(RequestInvalid, match=r"3 problem\(s\)") as caught:
        FeatureEncoder(CREDIT).encode(request)
    found = problems_of(caught.value)
    assert found["purpose"].startswith("'car (nwe)' is not an allowed category ('car (new)', ")
    assert found["purpose"].endswith("did you mean 'car (new)'?")
    assert found["housing"] == "expected one of the categories as a string, got a number (1)"
    assert found["telephone"].startswith("expected one of the categories as a string, got a list")


def test_an_unknown_category_can_be_scored_as_missing() -> None:
    encoder = FeatureEncoder(CREDIT, unknown_category="missing")
    row = encoder.encode(good_request() | {"purpose": "yacht"})
    assert math.isnan(row[0, CREDIT.feature_names.index("purpose")])
    # A value of the wrong type is still refused.
    with pytest.raises(RequestInvalid, match=r"1 problem\(s\)") as caught:
        encoder.encode(good_request() | {"purpose": 3})
    assert list(problems_of(caught.value)) == ["purpose"]


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ConfigError, match="valid policies are: reject, missing"):
        FeatureEncoder(CREDIT, unknown_category="ignore")  # type: ignore[arg-type]


def test_every_problem_is_collected_and_the_error_is_an_input_error() -> None:
    request = good_request()
    request.update(duration_in_month="12", age_in_years=12, purpose="space", extra=1)
    del request["housing"]
    with pytest.raises(InputError, match=r"5 problem\(s\)") as caught:
        FeatureEncoder(CREDIT).encode(request)
    assert isinstance(caught.value, RequestInvalid)
    assert set(problems_of(caught.value)) == {
        "duration_in_month",
        "age_in_years",
        "purpose",
        "housing",
        "extra",
    }
    assert caught.value.hint is not None
    assert "  - duration_in_month: expected a number" in str(caught.value)


def test_each_problem_carries_a_code_saying_what_kind_it_is() -> None:
    request = good_request()
    request.update(duration_in_month="12", credit_amount=0, purpose="space", extra=1)
    del request["housing"]
    with pytest.raises(RequestInvalid, match=r"5 problem\(s\)") as caught:
        FeatureEncoder(CREDIT).encode(request)
    assert caught.value.code == "request_invalid"
    assert {p.location: p.code for p in caught.value.problems} == {
        "duration_in_month": "wrong_type",
        "credit_amount": "out_of_range",
        "purpose": "unknown_category",
        "housing": "missing",
        "extra": "unknown_field",
    }


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(RequestInvalid, match=r"1 problem\(s\)") as caught:
        FeatureEncoder(CREDIT).encode([1, 2, 3])  # type: ignore[arg-type]
    assert problems_of(caught.value) == {
        "(body)": "expected an object of feature name → value, got a list"
    }


def test_missing_values_are_nan_where_the_spec_allows_them() -> None:
    encoder = FeatureEncoder(with_missing_allowed(CREDIT))
    request = good_request()
    del request["duration_in_month"]
    request.update(purpose=None, credit_amount=math.nan)
    row = encoder.encode(request)[0]
    names = CREDIT.feature_names
    for name in ("duration_in_month", "purpose", "credit_amount"):
        assert math.isnan(row[names.index(name)])
    assert np.isfinite(
        np.delete(row, [names.index(n) for n in ("duration_in_month", "purpose", "credit_amount")])
    ).all()


def test_any_mapping_is_accepted() -> None:
    encoder = FeatureEncoder(CREDIT)
    expected = encoder.encode(good_request())
    np.testing.assert_array_equal(encoder.encode(MappingProxyType(good_request())), expected)


def test_a_batch_names_the_row_of_each_problem() -> None:
    encoder = FeatureEncoder(CREDIT)
    rows = [good_request(), good_request() | {"duration_in_month": -1}, "row", good_request()]
    with pytest.raises(RequestInvalid, match=r"2 problem\(s\)") as caught:
        encoder.encode_batch(rows)  # type: ignore[arg-type]
    found = problems_of(caught.value)
    assert found["[1].duration_in_month"] == "-1 is below the allowed minimum 1"
    assert found["[2]"] == "expected an object of feature name → value, got a string"
    assert encoder.encode_batch([]).shape == (0, len(CREDIT.features))
    with pytest.raises(RequestInvalid, match=r"1 problem\(s\)"):
        encoder.encode_batch(good_request())  # type: ignore[arg-type]


# One dialect: for any values, the request path and the training path give the same row.
ANY_MISSING = with_missing_allowed(CREDIT)


@st.composite
def raw_rows(draw: st.DrawFn) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for f in ANY_MISSING.features:
        if f.type == "categorical":
            assert f.categories is not None
            row[f.name] = draw(st.none() | st.sampled_from(f.categories) | st.just("unlisted"))
        else:
            low, high = f.min if f.min is not None else -1e9, f.max if f.max is not None else 1e9
            row[f.name] = draw(
                st.none()
                | st.integers(math.ceil(low), math.floor(high))
                | st.floats(low, high, allow_nan=False)
            )
    return row


@settings(max_examples=100, deadline=None)
@given(st.lists(raw_rows(), min_size=1, max_size=5))
def test_encoding_a_request_equals_encoding_the_frame(rows: list[dict[str, Any]]) -> None:
    encoder = FeatureEncoder(ANY_MISSING, unknown_category="missing")
    as_text = pd.DataFrame(
        [{k: (None if v is None else str(v)) for k, v in row.items()} for row in rows],
        dtype="string",
    )
    expected = encode_frame(typed_frame(as_text, ANY_MISSING))
    np.testing.assert_array_equal(encoder.encode_batch(rows), expected)
    np.testing.assert_array_equal(encoder.encode(rows[0])[0], expected[0])
