"""Reading a batch job's input file, Parquet or CSV, in partitions of a fixed number of rows.

pyarrow streams the file in record batches; :func:`partitions` regroups them into partitions
of exactly ``partition_rows`` rows (the last one shorter), so that partition ``k`` always holds
rows ``k · partition_rows`` onwards whatever the file's row groups or CSV blocks — which is
what lets a resumed job recognise the partitions it already wrote.

Only the spec's feature columns are kept. A CSV file's feature columns are read as text and
converted by :class:`~riskops.batch.columns.ColumnEncoder` (so that one bad cell rejects its row,
not the file); empty cells and ``NA``, ``N/A``, ``NaN``, ``nan``, ``null``, ``NULL``, ``None``
are missing values.

Bad input is refused up front, saying what to do: no such file, a file that is neither Parquet
nor CSV, one that cannot be read, an empty one, a missing feature column.

Example::

    source = open_input(Path("applicants.parquet"), encoder)
    for index, first_row, batch in partitions(source, 100_000):
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from riskops.batch.columns import ColumnEncoder
from riskops.errors import InputError

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2")
NULL_TEXTS = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]
READ_ROWS = 65_536


@dataclass(frozen=True)
class Input:
    """An input file, checked: its ``format`` (``parquet`` or ``csv``), its row count when
    the format records it (Parquet), and the feature columns to read."""

    path: Path
    format: str
    rows: int | None
    columns: tuple[str, ...]


def input_format(path: Path) -> str:
    """``"parquet"`` or ``"csv"``, from the name, else from Parquet's magic bytes;
    InputError for anything else."""
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    with path.open("rb") as handle:
        if handle.read(4) == b"PAR1":
            return "parquet"
    raise InputError(
        f"{path} is neither a Parquet nor a CSV file.",
        hint="Pass a Parquet file (.parquet) or a CSV file with a header row (.csv, .csv.gz).",
    )


def open_input(path: Path, encoder: ColumnEncoder) -> Input:
    """The checked input at ``path``: it exists, is Parquet or CSV, is readable, has rows, and
    has every feature column of the encoder's spec (DataSchemaError naming the missing ones
    and the names that come close)."""
    file = Path(path).expanduser()
    if not file.exists():
        raise InputError(
            f"No input file at {file}.",
            hint="Pass the path of a Parquet or CSV file with a column per feature of the spec.",
        )
    if not file.is_file():
        raise InputError(
            f"{file} is not a file.",
            hint="Pass one Parquet or CSV file (a folder of parts: concatenate them first).",
        )
    kind = input_format(file)
    if file.stat().st_size == 0:
        raise InputError(f"{file} is empty.", hint="Pass a file with a header and rows.")
    rows: int | None = None
    try:
        if kind == "parquet":
            reader = pq.ParquetFile(file)
            schema = reader.schema_arrow
            rows = reader.metadata.num_rows
        else:
            schema = _csv_reader(file, encoder).schema
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as error:
        raise _unreadable(file, kind, error) from None
    encoder.check_schema(schema, source=str(file))
    if rows == 0:
        raise InputError(f"{file} has no rows.", hint="Pass a file with at least one row.")
    return Input(file, kind, rows, encoder.columns)


def partitions(source: Input, partition_rows: int) -> Iterator[tuple[int, int, pa.RecordBatch]]:
    """``(index, first_row, batch)`` for each partition of ``partition_rows`` rows (the last
    one shorter); InputError if the file turns out unreadable, or has no rows (a CSV file)."""
    if partition_rows < 1:
        raise InputError(
            f"A partition needs at least one row, not {partition_rows}.",
            hint="Use --partition-rows 100000 or so.",
        )
    pending: list[pa.RecordBatch] = []
    held = 0
    index = first = 0
    try:
        for batch in _batches(source):
            pending.append(batch)
            held += batch.num_rows
            while held >= partition_rows:
                table = pa.Table.from_batches(pending)
                part = _one_batch(table.slice(0, partition_rows))
                rest = table.slice(partition_rows)
                pending = rest.to_batches() if rest.num_rows else []
                held = rest.num_rows
                yield index, first, part
                index += 1
                first += partition_rows
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as error:
        raise _unreadable(source.path, source.format, error) from None
    if held:
        yield index, first, _one_batch(pa.Table.from_batches(pending))
    elif index == 0:
        raise InputError(f"{source.path} has no rows.", hint="Pass a file with at least one row.")


def _batches(source: Input) -> Iterator[pa.RecordBatch]:
    columns = list(source.columns)
    if source.format == "parquet":
        reader = pq.ParquetFile(source.path)
        yield from reader.iter_batches(batch_size=READ_ROWS, columns=columns)
        return
    csv = _csv_reader(source.path, None, columns)
    for batch in csv:
        yield batch.select(columns)


def _csv_reader(
    file: Path, encoder: ColumnEncoder | None, columns: list[str] | None = None
) -> pacsv.CSVStreamingReader:
    names = columns if columns is not None else list(encoder.columns if encoder else ())
    return pacsv.open_csv(
        file,
        read_options=pacsv.ReadOptions(block_size=1 << 22),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            include_columns=columns,
            strings_can_be_null=True,
            null_values=NULL_TEXTS,
        ),
    )


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    """The rows of ``table`` (never empty) as one record batch: its chunks combined, and the
    dictionaries of dictionary columns unified."""
    (batch,) = table.combine_chunks().to_batches()
    return batch


def _unreadable(file: Path, kind: str, error: Exception) -> InputError:
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    if "Empty CSV file" in first:
        return InputError(f"{file} is empty.", hint="Pass a file with a header and rows.")
    return InputError(
        f"Cannot read {file} as {kind.upper()}: {first}",
        hint=f"Check that it is a valid {kind.upper()} file (Parquet files end in .parquet, "
        "CSV files in .csv, with a header row).",
    )
