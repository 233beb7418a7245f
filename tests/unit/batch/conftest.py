"""Columnar copies of the German credit rows, and the request a batch row stands for."""

from __future__ import annotations

import contextlib
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from riskops.spec import ModelSpec
from tests.unit.conftest import German


@pytest.fixture(scope="module")
def table(german: German) -> pa.Table:
    """The data's feature columns as a Parquet file written from pandas holds them: integers
    for numbers, text for categories."""
    return pa.Table.from_pandas(
        german.snapshot.frame[list(german.spec.feature_names)], preserve_index=False
    )


def as_text(table: pa.Table) -> pa.Table:
    """Every column as text, as a CSV file is read."""
    return pa.table({name: pc.cast(table[name], pa.string()) for name in table.column_names})


def request_of(row: dict[str, Any], spec: ModelSpec) -> dict[str, object]:
    """What a request for this batch row carries (riskops.batch.columns' docstring): a number
    spelled as text is that number, other text stays text; a category is its text."""
    request: dict[str, object] = {}
    for feature in spec.features:
        value = row[feature.name]
        if feature.type == "numeric" and isinstance(value, str):
            with contextlib.suppress(pa.ArrowInvalid):
                value = float(pa.array([value]).cast(pa.float64())[0].as_py())
        if feature.type == "categorical" and isinstance(value, int):
            value = str(value)
        request[feature.name] = value
    return request
