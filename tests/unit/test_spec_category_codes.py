"""Integer and boolean category codes: one text form (``str()`` of the code, as
``data.label.positive`` is read) through every path — spec, CSV data, training's encoding,
the serving encoder, the batch encoder, the OpenAPI schema and policy rules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from riskops.batch.columns import ColumnEncoder
from riskops.datasets.encoding import encode_frame, typed_frame
from riskops.datasets.schema import check_schema
from riskops.errors import DataSchemaError, SpecError
from riskops.scoring.features import FeatureEncoder, RequestInvalid
from riskops.scoring.policy import DecisionPolicy
from riskops.serving.openapi import features_schema
from riskops.spec import ModelSpec, dump_spec, parse_spec


def _spec(education: list[Any], **policy: Any) -> ModelSpec:
    raw: dict[str, Any] = {
        "name": "coded-model",
        "intended_use": "Checking integer and boolean category codes.",
        "risk_tier": "low",
        "owner": "tests",
        "data": {"source": "x.csv", "label": {"column": "y", "positive": 1, "negative": 0}},
        "features": [
            {"name": "income", "type": "numeric", "reason": "Income"},
            {
                "name": "EDUCATION",
                "type": "categorical",
                "categories": education,
                "reason": "Education level",
            },
            {
                "name": "owns_home",
                "type": "categorical",
                "categories": [True, False],
                "reason": "Home ownership",
            },
        ],
        "trainer": {"entrypoint": "trainer.py:fit"},
        "policy": policy or {"approve_below": 0.3, "decline_from": 0.6},
    }
    return ModelSpec.model_validate(raw)


SPEC = _spec([1, 2, 3, 4])


def test_codes_are_held_as_their_text_and_written_back_as_codes() -> None:
    education = SPEC.feature("EDUCATION")
    assert education.categories == ("1", "2", "3", "4")
    assert education.category_kind == "integer"
    assert education.category_codes == (1, 2, 3, 4)
    home = SPEC.feature("owns_home")
    assert (home.categories, home.category_kind) == (("True", "False"), "boolean")
    again = parse_spec(dump_spec(SPEC)).spec
    assert again == SPEC
    assert again.feature("EDUCATION").category_kind == "integer"
    assert "- 1\n" in dump_spec(SPEC)  # not '1'


@pytest.mark.parametrize(
    ("categories", "said"),
    [
        ([1, "b"], "mixes integer and text values.*yes/no/on/off as booleans"),
        ([1, True], "mixes boolean and integer values"),
        ([1, 1], "lists a value twice"),
    ],
)
def test_mixed_or_repeated_codes_are_one_clear_error(categories: list[Any], said: str) -> None:
    with pytest.raises(ValueError, match=said):
        _spec(categories)


def test_a_spec_file_with_codes_fails_once_not_once_per_value() -> None:
    text = dump_spec(_spec([1, 2])).replace("- 2\n", "- two\n", 1)
    with pytest.raises(SpecError) as caught:
        parse_spec(text)
    assert len(caught.value.problems) == 1
    assert "mixes integer and text" in caught.value.problems[0].message


def _csv_frame() -> pd.DataFrame:
    # Training reads CSV as text: the codes arrive as '2' and 'True'.
    return pd.DataFrame(
        {
            "income": ["10", "20", "30", "40"],
            "EDUCATION": ["1", "2", "4", "2"],
            "owns_home": ["True", "False", "True", "False"],
            "y": ["1", "0", "0", "1"],
        },
        dtype="string",
    )


def test_csv_text_matches_the_codes_and_trains_on_their_positions() -> None:
    frame = _csv_frame()
    check_schema(frame, SPEC, source="x.csv")
    matrix = encode_frame(typed_frame(frame, SPEC))
    assert matrix[:, 1].tolist() == [0.0, 1.0, 3.0, 1.0]
    assert matrix[:, 2].tolist() == [0.0, 1.0, 0.0, 1.0]


def test_csv_text_not_spelling_a_code_says_how_codes_are_spelled() -> None:
    frame = _csv_frame()
    frame.loc[0, "EDUCATION"] = "2.0"
    frame.loc[1, "owns_home"] = "true"
    with pytest.raises(DataSchemaError) as caught:
        check_schema(frame, SPEC, source="x.csv")
    found = {p.location: p.message for p in caught.value.problems}
    assert "'2.0' ×1" in found["EDUCATION"]
    assert "spell the integer codes as '1', '2', '3'" in found["EDUCATION"]
    assert "spell the boolean codes as 'True', 'False'" in found["owns_home"]


def test_a_request_may_send_the_code_or_its_text_and_gets_trainings_encoding() -> None:
    encoder = FeatureEncoder(SPEC)
    expected = encode_frame(typed_frame(_csv_frame(), SPEC))[1]
    for sent in (
        {"income": 20, "EDUCATION": 2, "owns_home": False},  # the fast path
        {"income": 20, "EDUCATION": "2", "owns_home": "False"},  # the checked path
    ):
        assert encoder.encode(sent)[0].tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("value", "kind", "said"),
    [
        (True, "wrong_type", "expected one of the integer codes (or its text), got a boolean"),
        (2.0, "wrong_type", "expected one of the integer codes (or its text)"),
        (7, "unknown_category", "7 is not an allowed category (1, 2, 3, 4)"),
        ("7", "unknown_category", "'7' is not an allowed category (1, 2, 3, 4)"),
    ],
)
def test_a_wrong_code_is_refused_by_name(value: object, kind: str, said: str) -> None:
    with pytest.raises(RequestInvalid) as caught:
        FeatureEncoder(SPEC).encode({"income": 1, "EDUCATION": value, "owns_home": True})
    [problem] = caught.value.problems
    assert (problem.location, problem.code) == ("EDUCATION", kind)
    assert said in problem.message


def test_a_boolean_feature_refuses_the_integer_one() -> None:
    with pytest.raises(RequestInvalid, match="expected one of the boolean codes"):
        FeatureEncoder(SPEC).encode({"income": 1, "EDUCATION": 1, "owns_home": 1})


def test_batch_columns_of_integers_booleans_or_text_encode_as_training_does() -> None:
    encoder = ColumnEncoder(SPEC)
    expected = encode_frame(typed_frame(_csv_frame(), SPEC))
    typed = pa.table(
        {
            "income": pa.array([10, 20, 30, 40]),
            "EDUCATION": pa.array([1, 2, 4, 2]),
            "owns_home": pa.array([True, False, True, False]),
        }
    )
    texts = pa.table({name: _csv_frame()[name].tolist() for name in typed.column_names})
    for table in (typed, texts):
        encoder.check_schema(table.schema, source="t")
        encoded = encoder.encode(table.to_batches()[0])
        assert np.array_equal(encoded.matrix, expected)
        assert encoded.valid.all()


def test_the_openapi_schema_lists_the_codes_with_their_json_type() -> None:
    properties = features_schema(SPEC, "reject")["properties"]
    assert properties["EDUCATION"]["type"] == "integer"
    assert properties["EDUCATION"]["enum"] == [1, 2, 3, 4]
    assert properties["owns_home"]["enum"] == [True, False]
    assert properties["owns_home"]["type"] == "boolean"
    lenient = features_schema(SPEC, "missing")["properties"]["EDUCATION"]
    assert lenient["examples"] == [1, 2, 3, 4]
    assert "enum" not in lenient


def test_policy_rules_test_codes_as_written() -> None:
    spec = _spec(
        [1, 2, 3, 4],
        type="rules",
        rules=[
            {"if": {"EDUCATION": {"in": [3, 4]}, "owns_home": {"in": [False]}}, "then": "decline"}
        ],
        otherwise="approve",
    )
    policy = DecisionPolicy.from_spec(spec)
    row = FeatureEncoder(spec).encode({"income": 1, "EDUCATION": 4, "owns_home": False})
    assert math.isfinite(row[0, 1])
    assert policy.decide(0.1, row) == "decline"
    other = FeatureEncoder(spec).encode({"income": 1, "EDUCATION": 2, "owns_home": False})
    assert policy.decide(0.1, other) == "approve"
