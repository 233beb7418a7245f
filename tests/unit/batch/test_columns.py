"""The columnar encoder encodes as serving and training do, and rejects what serving refuses."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from riskops.batch.columns import ColumnEncoder
from riskops.datasets.encoding import encode_frame, typed_frame
from riskops.errors import DataSchemaError
from riskops.scoring.features import FeatureEncoder, RequestInvalid
from riskops.spec import ModelSpec, parse_spec
from tests.conftest import SPEC
from tests.unit.batch.conftest import as_text, request_of
from tests.unit.conftest import German


def _batch(table: pa.Table) -> pa.RecordBatch:
    return table.combine_chunks().to_batches()[0]


@pytest.mark.parametrize("text", [False, True], ids=["parquet-types", "csv-text"])
def test_the_encoding_is_the_serving_encoders_and_trainings(
    german: German, table: pa.Table, text: bool
) -> None:
    source = as_text(table) if text else table
    encoded = ColumnEncoder(german.spec).encode(_batch(source))
    assert encoded.valid.all()
    assert not encoded.rejects
    serving = FeatureEncoder(german.spec).encode_batch(german.requests)
    np.testing.assert_array_equal(encoded.matrix, serving)
    training = encode_frame(typed_frame(german.snapshot.frame, german.spec))
    np.testing.assert_array_equal(encoded.matrix, training)


def test_the_digest_is_of_the_values_not_of_how_the_file_spells_them(
    german: German, table: pa.Table
) -> None:
    encoder = ColumnEncoder(german.spec)
    typed = encoder.encode(_batch(table)).digest
    dictionary = table.set_column(0, table.column_names[0], table.column(0).dictionary_encode())
    assert encoder.encode(_batch(dictionary)).digest == typed
    changed = table.set_column(1, "duration_in_month", pa.array([7] + [6] * (len(table) - 1)))
    assert encoder.encode(_batch(changed)).digest != typed
    assert encoder.encode(_batch(table.slice(0, 999))).digest != typed


def _spoiled(table: pa.Table, spec: ModelSpec, *, text: bool) -> tuple[pa.Table, set[int]]:
    """The first 200 rows with problems of every kind planted in some of them; the rows
    planted (some plants are harmless, e.g. a NaN where missing values are allowed)."""
    rows: list[dict[str, Any]] = (as_text(table) if text else table).slice(0, 200).to_pylist()
    rng = np.random.default_rng(5)
    planted: set[int] = set()
    numeric = [f.name for f in spec.features if f.type == "numeric"]
    categorical = [f.name for f in spec.features if f.type == "categorical"]
    numbers: list[object] = [None, -3, 1e9, math.inf, math.nan, 0.5]
    texts: list[object] = [None, "car (nwe)", "", "CAR (NEW)"]
    if text:
        numbers = [None, "-3", "1e9", "inf", "twelve", " 4", "0.5", "1e-400"]
    for i in rng.choice(200, size=60, replace=False).tolist():
        planted.add(i)
        if rng.random() < 0.5:
            name = numeric[rng.integers(len(numeric))]
            rows[i][name] = numbers[rng.integers(len(numbers))]
        else:
            name = categorical[rng.integers(len(categorical))]
            rows[i][name] = texts[rng.integers(len(texts))]
    if not text:
        # A float column holding NaN as well as None, as pandas writes one.
        for row in rows:
            for name in numeric:
                if row[name] is not None:
                    row[name] = float(row[name])
    return pa.Table.from_pylist(rows), planted


@pytest.mark.parametrize("text", [False, True], ids=["parquet-types", "csv-text"])
@pytest.mark.parametrize("allow_missing", [False, True])
def test_the_rows_rejected_are_those_serving_refuses_with_its_messages(
    german: German, table: pa.Table, text: bool, allow_missing: bool
) -> None:
    spec = german.spec
    if allow_missing:
        raw = SPEC.read_text(encoding="utf-8").replace(
            "    monotone: increasing\n    reason: Duration",
            "    monotone: increasing\n    allow_missing: true\n    reason: Duration",
        )
        spec = parse_spec(raw).spec
        assert spec.feature("duration_in_month").allow_missing
    spoiled, planted = _spoiled(table, spec, text=text)
    encoded = ColumnEncoder(spec).encode(_batch(spoiled))
    serving = FeatureEncoder(spec)
    refused: dict[int, str] = {}
    for i, row in enumerate(spoiled.to_pylist()):
        try:
            expected = serving.encode(request_of(row, spec))
        except RequestInvalid as error:
            refused[i] = "; ".join(str(p) for p in error.problems)
            continue
        np.testing.assert_array_equal(encoded.matrix[i], expected[0])
    assert refused, "the sample must hold rows that serving refuses"
    assert set(refused) <= planted
    assert {r.position: r.reason for r in encoded.rejects} == refused
    assert set(np.flatnonzero(~encoded.valid).tolist()) == set(refused)


def test_text_that_is_not_a_number_names_the_row_and_the_value(
    german: German, table: pa.Table
) -> None:
    text = as_text(table.slice(0, 3))
    amounts = text.column("credit_amount").to_pylist()
    text = text.set_column(
        text.column_names.index("credit_amount"), "credit_amount", pa.array(["12,5", *amounts[1:]])
    )
    encoded = ColumnEncoder(german.spec).encode(_batch(text))
    assert [r.position for r in encoded.rejects] == [0]
    assert encoded.rejects[0].reason == ("credit_amount: expected a number, got a string ('12,5')")
    assert encoded.rejects[0].codes == ("wrong_type",)


def test_a_boolean_column_is_refused_row_by_row_as_serving_refuses_booleans(
    german: German, table: pa.Table
) -> None:
    small = table.slice(0, 4)
    flags = pa.array([True, None, False, True])
    index = small.column_names.index("present_residence_since")
    small = small.set_column(index, "present_residence_since", flags)
    encoded = ColumnEncoder(german.spec).encode(_batch(small))
    assert [r.position for r in encoded.rejects] == [0, 1, 2, 3]
    assert encoded.rejects[0].reason == (
        "present_residence_since: expected a number, got a boolean (True)"
    )
    assert encoded.rejects[1].codes == ("missing",)


def test_unknown_categories_can_be_scored_as_missing(german: German, table: pa.Table) -> None:
    small = table.slice(0, 2)
    index = small.column_names.index("purpose")
    small = small.set_column(index, "purpose", pa.array(["yacht", "car (new)"]))
    strict = ColumnEncoder(german.spec).encode(_batch(small))
    assert [r.codes for r in strict.rejects] == [("unknown_category",)]
    lenient = ColumnEncoder(german.spec, unknown_category="missing").encode(_batch(small))
    assert lenient.valid.all()
    assert math.isnan(lenient.matrix[0, index])


def test_integer_categories_are_matched_by_their_text(table: pa.Table) -> None:
    raw = SPEC.read_text(encoding="utf-8").replace(
        'categories: ["none", "co-applicant", "guarantor"]', 'categories: ["0", "1", "2"]'
    )
    spec = parse_spec(raw).spec
    small = table.slice(0, 3)
    index = small.column_names.index("other_debtors_or_guarantors")
    small = small.set_column(index, "other_debtors_or_guarantors", pa.array([2, 0, 7]))
    encoded = ColumnEncoder(spec).encode(_batch(small))
    assert encoded.matrix[:2, index].tolist() == [2.0, 0.0]
    assert [r.position for r in encoded.rejects] == [2]
    assert "'7' is not an allowed category" in encoded.rejects[0].reason


def test_missing_and_unusable_columns_are_refused_up_front_with_near_names(
    german: German, table: pa.Table
) -> None:
    renamed = table.rename_columns(
        ["duration_in_months" if n == "duration_in_month" else n for n in table.column_names]
    )
    index = renamed.column_names.index("purpose")
    broken = renamed.set_column(index, "purpose", pa.array([1.5] * len(table)))
    with pytest.raises(
        DataSchemaError, match="does not have the features of credit-scoring"
    ) as caught:
        ColumnEncoder(german.spec).check_schema(broken.schema, source="applicants.parquet")
    problems = {p.location: p for p in caught.value.problems}
    assert problems["duration_in_month"].message == (
        "column is missing; did you mean 'duration_in_months'?"
    )
    assert problems["purpose"].code == "wrong_type"
    assert "holds double" in problems["purpose"].message
