"""Columnar copies of the German credit rows, the request a batch row stands for, and a
workspace with an approved, deployed version to score with."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from riskops.context import Context, open_context
from riskops.spec import ModelSpec
from riskops.training.pipeline import train
from riskops.workspace import init_workspace
from tests.conftest import _WORKSPACE_VARS, DATA, PEOPLE, SPEC, approve_and_deploy
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


@dataclass(frozen=True)
class Workspace:
    ctx: Context
    folder: Path
    parquet: Path
    csv: Path


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """credit-scoring@1 approved and deployed in production; @2 trained, not approved."""
    folder = tmp_path_factory.mktemp("batch")
    with pytest.MonkeyPatch.context() as patch:
        for name in _WORKSPACE_VARS:
            patch.delenv(name, raising=False)
        ctx = open_context(init_workspace(folder / "ws", people=PEOPLE))
        approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
        train(ctx, SPEC, actor="alice")
        parquet = folder / "applicants.parquet"
        pq.write_table(pacsv.read_csv(DATA), parquet)
        yield Workspace(ctx, folder, parquet, DATA)
        ctx.close()
