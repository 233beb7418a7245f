"""A data snapshot: the exact bytes a version was trained on, and their SHA-256 fingerprint."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from riskops.errors import DataSchemaError, Problem

_LISTED = 5  # ragged rows named one by one; the rest are counted


@dataclass(frozen=True)
class Snapshot:
    """A loaded dataset: its file, its fingerprint (``sha256:<hex>`` of the file's bytes) and
    its rows as read with every column as text, so nothing is guessed before the schema check."""

    path: Path
    fingerprint: str
    frame: pd.DataFrame

    @property
    def rows(self) -> int:
        return len(self.frame)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def load_snapshot(path: Path) -> Snapshot:
    """Read a CSV snapshot; a missing or unreadable file is a DataSchemaError with a hint."""
    if not path.is_file():
        raise DataSchemaError(
            f"The dataset {path} does not exist.",
            hint="Check data.source in the spec (a path relative to the spec file).",
        )
    fingerprint = file_sha256(path)
    try:
        frame = pd.read_csv(path, dtype="string", keep_default_na=True)
    except pd.errors.ParserError as exc:
        _refuse_ragged(path)  # names the rows; falls through if it cannot find them
        raise _unreadable(path, exc) from None
    except (pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise _unreadable(path, exc) from None
    # pandas fills a short row with missing values, and takes a first row with one field too
    # many as an index, without a word: look at the field counts when either could have
    # happened (an index that is not 0..n-1, or a missing value in the last column).
    if len(frame.columns) and (
        not isinstance(frame.index, pd.RangeIndex) or bool(frame.iloc[:, -1].isna().any())
    ):
        _refuse_ragged(path)
    return Snapshot(path=path, fingerprint=fingerprint, frame=frame)


def _unreadable(path: Path, exc: Exception) -> DataSchemaError:
    return DataSchemaError(
        f"The dataset {path} is not a readable CSV file.",
        problems=[Problem(str(path), str(exc).strip())],
        hint="Export it as UTF-8 CSV with a header row.",
    )


def ragged_rows(path: Path) -> tuple[int, list[tuple[int, int]]]:
    """The header's field count and each data row (1-based, blank lines skipped as pandas
    skips them) whose field count differs from it, as ``(row, fields)``."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = (fields for fields in csv.reader(handle) if fields)
        header = next(rows, [])
        width = len(header)
        return width, [(n, len(f)) for n, f in enumerate(rows, start=1) if len(f) != width]


def _refuse_ragged(path: Path) -> None:
    """Raise one problem per data row with too few or too many fields, if there are any."""
    try:
        width, ragged = ragged_rows(path)
    except (csv.Error, UnicodeDecodeError):
        return
    if not ragged:
        return
    problems = [
        Problem(
            f"row {row}",
            f"{fields} field(s) where the header has {width}"
            + (
                "; the row is cut short"
                if fields < width
                else "; a value holding a comma is probably not quoted"
            ),
        )
        for row, fields in ragged[:_LISTED]
    ]
    if len(ragged) > _LISTED:
        problems.append(Problem("more rows", f"{len(ragged) - _LISTED} more row(s) like these"))
    raise DataSchemaError(
        f"The dataset {path} has {len(ragged)} row(s) whose number of fields differs from the "
        f"header's {width} (rows are counted from 1 below the header):",
        problems=problems,
        hint="Complete cut-short rows (an empty field is written as nothing between two "
        'commas); quote a value that holds a comma ("Smith, J"); or remove the row.',
    )
