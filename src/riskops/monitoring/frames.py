"""Reading a Parquet or CSV file into the spec's feature columns, in record batches.

A monitoring comparison reads two files of up to millions of rows. pyarrow reads them in record
batches (``BATCH_ROWS`` rows at a time), keeps only the spec's features, and converts each batch
to numpy straight away, so the file's other columns and pyarrow's own buffers never accumulate:
1M rows × 35 features is about 280 MB of float64 and object arrays at the end.

What comes out, per feature (:class:`Frame`):

* numeric: ``float64``, missing as ``NaN`` (integers, decimals and booleans are cast);
* categorical: an ``object`` array of ``str``, missing as ``None`` (integer codes in the file
  are read as their decimal text, so ``1`` matches a spec category ``"1"``), and the same column
  dictionary-encoded (:attr:`Frame.codes`: ``int32`` codes, ``-1`` for missing, and the distinct
  texts), so that binning looks each distinct text up once instead of once per row.

Bad input is refused with what is wrong and what to do: a missing or unreadable file, a feature
missing from the file (with the names that come close), a numeric feature whose column holds
text. Example::

    frame = read_frame("current.parquet", spec)
    frame.rows, frame.columns["duration_in_month"][:3]
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from riskops.errors import DataSchemaError, InputError, Problem
from riskops.spec import ModelSpec

BATCH_ROWS = 131_072
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".tsv")


@dataclass(frozen=True)
class Frame:
    """The spec's features of one file as numpy columns (see the module docstring)."""

    path: Path
    format: str
    rows: int
    columns: dict[str, np.ndarray]
    codes: dict[str, tuple[np.ndarray, tuple[str, ...]]]


def file_format(path: Path) -> str:
    """``"parquet"`` or ``"csv"``, from the suffix, else from Parquet's magic bytes."""
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    with path.open("rb") as handle:
        return "parquet" if handle.read(4) == b"PAR1" else "csv"


def read_frame(path: Path | str, spec: ModelSpec, *, batch_rows: int = BATCH_ROWS) -> Frame:
    """Read the spec's features from a Parquet or CSV file (see the module docstring)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(
            f"No file at {file}.",
            hint="Pass the path of a Parquet or CSV file with the spec's feature columns.",
        )
    kind = file_format(file)
    try:
        schema, batches = (
            _parquet(file, spec, batch_rows) if kind == "parquet" else _csv(file, spec, batch_rows)
        )
        _check_schema(file, schema, spec)
        parts: dict[str, list[np.ndarray]] = {f.name: [] for f in spec.features}
        dictionaries = {f.name: _Dictionary() for f in spec.features if f.type == "categorical"}
        for batch in batches:
            for feature in spec.features:
                column = batch.column(batch.schema.get_field_index(feature.name))
                if feature.type == "numeric":
                    parts[feature.name].append(_numeric(column))
                else:
                    parts[feature.name].append(dictionaries[feature.name].add(column))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as error:
        raise InputError(
            f"Cannot read {file} as {kind.upper()}: {_first_line(error)}",
            hint=f"Check that it is a valid {kind.upper()} file "
            "(Parquet files end in .parquet, CSV files in .csv, with a header row).",
        ) from None
    columns: dict[str, np.ndarray] = {}
    codes: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {}
    for feature in spec.features:
        if feature.type == "numeric":
            columns[feature.name] = _concatenate(parts[feature.name], np.float64)
            continue
        indices = _concatenate(parts[feature.name], np.int32)
        values = tuple(dictionaries[feature.name].values)
        codes[feature.name] = (indices, values)
        # Code -1 (missing) picks the None appended at the end.
        columns[feature.name] = np.array([*values, None], dtype=object)[indices]
    rows = len(next(iter(columns.values())))
    return Frame(path=file, format=kind, rows=rows, columns=columns, codes=codes)


class _Dictionary:
    """The distinct texts of one categorical column across batches, each batch's values as
    codes into them (pyarrow's dictionary differs per batch; this keeps one)."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if not _is_text(column.type):
            column = pc.cast(column, pa.string())
        encoded = column.dictionary_encode()
        local = encoded.dictionary.to_pylist()
        lookup = np.empty(len(local) + 1, dtype=np.int32)
        for i, text in enumerate(local):
            if text not in self._index:
                self._index[text] = len(self.values)
                self.values.append(text)
            lookup[i] = self._index[text]
        lookup[-1] = -1
        indices = encoded.indices.fill_null(len(local)).to_numpy(zero_copy_only=False)
        return lookup[np.asarray(indices, dtype=np.int64)]


def _parquet(
    file: Path, spec: ModelSpec, batch_rows: int
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    reader = pq.ParquetFile(file)
    schema = reader.schema_arrow
    names = [f.name for f in spec.features if f.name in schema.names]
    return schema, reader.iter_batches(batch_size=batch_rows, columns=names)


def _csv(
    file: Path, spec: ModelSpec, batch_rows: int
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    # Categorical columns are read as text whatever they look like; numeric ones are left to
    # inference so that a column of text is reported as a wrong type, not a parse failure.
    types = {f.name: pa.string() for f in spec.features if f.type == "categorical"}
    reader = pacsv.open_csv(
        file,
        read_options=pacsv.ReadOptions(block_size=1 << 24),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            include_columns=None,
            strings_can_be_null=True,
            null_values=["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"],
        ),
    )
    schema = reader.schema
    names = {f.name for f in spec.features}

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield batch.select([n for n in batch.schema.names if n in names])

    return schema, batches()


def _check_schema(file: Path, schema: pa.Schema, spec: ModelSpec) -> None:
    problems: list[Problem] = []
    for feature in spec.features:
        if feature.name not in schema.names:
            close = difflib.get_close_matches(feature.name, schema.names, n=3, cutoff=0.6)
            near = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            problems.append(Problem(feature.name, f"column is missing{near}", code="missing"))
            continue
        kind = schema.field(feature.name).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if feature.type == "numeric" and not _is_number(kind) and not pa.types.is_null(kind):
            problems.append(
                Problem(
                    feature.name,
                    f"is numeric in the spec but the file's column is {kind}",
                    code="wrong_type",
                )
            )
        if feature.type == "categorical" and not (
            _is_text(kind) or pa.types.is_integer(kind) or pa.types.is_null(kind)
        ):
            problems.append(
                Problem(
                    feature.name,
                    f"is categorical in the spec but the file's column is {kind}",
                    code="wrong_type",
                )
            )
    if problems:
        raise DataSchemaError(
            f"{file} does not have the spec's features ({len(problems)} problem(s)):",
            problems=problems,
            hint="Rename or convert those columns, or check that --spec names the right model.",
        )


def _is_number(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_boolean(kind)
    )


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _numeric(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    values = pc.cast(column, pa.float64())
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


def _concatenate(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    if not parts:
        return np.empty(0, dtype=dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
