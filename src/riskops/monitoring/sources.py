"""Files that monitoring reads — label files and offline feature sources — as data frames, with
the errors a person can act on: no such file, a format that is not CSV or Parquet, a column
that is missing (and the near matches that are there).

CSV is read as text (``"1"`` stays ``"1"``, an empty cell is ``""``), so values are compared
as written; Parquet keeps its types (it needs pyarrow: ``pip install 'riskops[parquet]'``).

Example::

    frame = read_frame(Path("labels.csv"))
    require_columns(frame, [("decision_id", "name it with --id-column")], path=Path("l.csv"))
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from riskops.errors import InputError, MissingExtraError, Problem, ProblemsError

FORMATS = (".csv", ".parquet", ".pq")


def read_frame(path: Path) -> pd.DataFrame:
    """The rows of a CSV (as text) or Parquet file; InputError if it is missing or neither."""
    if not path.is_file():
        raise InputError(
            f"No file at {path}.",
            hint="Give the path of a CSV or Parquet file (relative to the current folder).",
        )
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(
                f"{path} is not a readable CSV file: {exc}",
                hint="Save it as UTF-8 CSV with a header row, or as Parquet.",
            ) from None
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow  # noqa: F401  (pandas reads Parquet through it)
        except ModuleNotFoundError as exc:
            if exc.name != "pyarrow":
                raise
            raise MissingExtraError("Reading Parquet", "pyarrow", "parquet") from exc
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise InputError(
                f"{path} is not a readable Parquet file: {exc}",
                hint="Check that the file was written completely, or export it as CSV.",
            ) from None
    raise InputError(
        f"{path} has the extension {suffix or '(none)'!r}, which riskops does not read.",
        hint=f"Give a CSV or Parquet file (one of {', '.join(FORMATS)}).",
    )


def require_columns(frame: pd.DataFrame, wanted: Iterable[tuple[str, str]], *, path: Path) -> None:
    """ProblemsError naming every column of ``wanted`` (``(column, how to point at another
    name)`` pairs, e.g. ``("decision_id", "--id-column")``) that ``frame`` lacks, with the
    columns it has that look alike."""
    present = [str(c) for c in frame.columns]
    problems = []
    for column, option in wanted:
        if column in present:
            continue
        near = difflib.get_close_matches(column, present, n=3, cutoff=0.6)
        near += [c for c in present if c.lower() == column.lower() and c not in near]
        suggestion = (
            f"did you mean {' or '.join(repr(c) for c in near)}? {option}" if near else option
        )
        problems.append(
            Problem(f"column {column!r}", f"not in the file; {suggestion}", code="missing")
        )
    if problems:
        raise ProblemsError(
            f"{path} lacks {len(problems)} column(s) riskops needs.",
            problems=problems,
            hint=f"The file's columns are: {', '.join(present) or '(none)'}.",
        )
