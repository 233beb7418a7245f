"""Reading the spec's features from Parquet and CSV, and refusing bad files clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from riskops.errors import DataSchemaError, InputError
from riskops.monitoring.frames import read_frame
from riskops.spec import ModelSpec
from tests.unit.monitoring.synthetic import population, small_spec


@pytest.fixture
def spec() -> ModelSpec:
    return small_spec()


def _table(n: int = 1000, seed: int = 1) -> pa.Table:
    columns = population(n, seed)
    table = pa.table({name: list(values) for name, values in columns.items()})
    return table.append_column("extra", pa.array(np.arange(n)))


def test_parquet_in_small_batches_gives_the_same_columns(tmp_path: Path, spec: ModelSpec) -> None:
    table = _table()
    path = tmp_path / "ref.parquet"
    pq.write_table(table, path, row_group_size=100)
    frame = read_frame(path, spec, batch_rows=64)
    assert frame.rows == 1000
    assert frame.format == "parquet"
    assert set(frame.columns) == {"income", "age", "utilisation", "housing"}
    np.testing.assert_array_equal(frame.columns["income"], table["income"].to_numpy())
    assert frame.columns["housing"].dtype == object
    assert frame.columns["housing"].tolist() == table["housing"].to_pylist()


def test_csv_with_missing_values_and_integer_categories(tmp_path: Path, spec: ModelSpec) -> None:
    path = tmp_path / "cur.csv"
    path.write_text(
        "income,age,utilisation,housing,other\n10,,0.5,own,x\n,30,0.1,,y\n5,40,0.2,7,z\n"
    )
    frame = read_frame(path, spec)
    assert frame.rows == 3
    np.testing.assert_array_equal(frame.columns["income"], [10.0, np.nan, 5.0])
    np.testing.assert_array_equal(frame.columns["age"], [np.nan, 30.0, 40.0])
    assert frame.columns["housing"].tolist() == ["own", None, "7"]


def test_dictionary_and_integer_columns_are_converted(tmp_path: Path, spec: ModelSpec) -> None:
    table = pa.table(
        {
            "income": pa.array([1, 2, None], pa.int32()),
            "age": pa.array([True, False, True]),
            "utilisation": pa.array([0.1, 0.2, 0.3]),
            "housing": pa.array(["own", None, "rent"]).dictionary_encode(),
        }
    )
    path = tmp_path / "file.data"  # no suffix: Parquet is recognised by its magic bytes
    pq.write_table(table, path)
    frame = read_frame(path, spec)
    np.testing.assert_array_equal(frame.columns["income"], [1.0, 2.0, np.nan])
    np.testing.assert_array_equal(frame.columns["age"], [1.0, 0.0, 1.0])
    assert frame.columns["housing"].tolist() == ["own", None, "rent"]


def test_missing_file(tmp_path: Path, spec: ModelSpec) -> None:
    with pytest.raises(InputError, match=r"No file at .*nowhere\.parquet"):
        read_frame(tmp_path / "nowhere.parquet", spec)


def test_unreadable_file(tmp_path: Path, spec: ModelSpec) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet at all")
    with pytest.raises(InputError, match=r"Cannot read .*broken\.parquet as PARQUET") as caught:
        read_frame(path, spec)
    assert caught.value.hint is not None
    assert "valid PARQUET file" in caught.value.hint


def test_missing_column_lists_near_matches(tmp_path: Path, spec: ModelSpec) -> None:
    path = tmp_path / "renamed.parquet"
    pq.write_table(
        _table().rename_columns(["incme", "age", "utilisation", "housing", "extra"]), path
    )
    with pytest.raises(DataSchemaError, match="does not have the spec's features") as caught:
        read_frame(path, spec)
    assert [str(p) for p in caught.value.problems] == [
        "income: column is missing; did you mean 'incme'?"
    ]
    assert caught.value.problems[0].code == "missing"


def test_wrong_types_are_named(tmp_path: Path, spec: ModelSpec) -> None:
    path = tmp_path / "types.csv"
    path.write_text("income,age,utilisation,housing\nlots,30,0.1,own\nsome,31,0.2,rent\n")
    with pytest.raises(DataSchemaError, match="1 problem") as caught:
        read_frame(path, spec)
    assert str(caught.value.problems[0]) == (
        "income: is numeric in the spec but the file's column is string"
    )
    table = pa.table({"income": [1.0], "age": [2.0], "utilisation": [0.1], "housing": [0.5]})
    pq.write_table(table, tmp_path / "float-category.parquet")
    with pytest.raises(DataSchemaError, match="1 problem") as caught:
        read_frame(tmp_path / "float-category.parquet", spec)
    assert caught.value.problems[0].code == "wrong_type"
    assert "housing: is categorical in the spec" in str(caught.value.problems[0])


def test_categorical_codes_span_batches(tmp_path: Path, spec: ModelSpec) -> None:
    table = pa.table(
        {
            "income": [1.0] * 6,
            "age": [1.0] * 6,
            "utilisation": [1.0] * 6,
            "housing": ["rent", None, "own", "castle", "own", "rent"],
        }
    )
    path = tmp_path / "codes.parquet"
    pq.write_table(table, path, row_group_size=2)
    frame = read_frame(path, spec, batch_rows=2)
    codes, values = frame.codes["housing"]
    assert values == ("rent", "own", "castle")
    assert codes.tolist() == [0, -1, 1, 2, 1, 0]
    assert frame.columns["housing"].tolist() == table["housing"].to_pylist()
