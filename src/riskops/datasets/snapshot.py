"""A data snapshot: the exact bytes a version was trained on, and their SHA-256 fingerprint."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from riskops.errors import DataSchemaError, Problem


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
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataSchemaError(
            f"The dataset {path} is not a readable CSV file.",
            problems=[Problem(str(path), str(exc).strip())],
            hint="Export it as UTF-8 CSV with a header row.",
        ) from None
    return Snapshot(path=path, fingerprint=fingerprint, frame=frame)
