"""The files of a batch job's output folder, each written whole or not at all.

A partition's decisions go to ``part-NNNNN.parquet`` and its rejects, when it has any, to
``rejects/part-NNNNN.parquet``; each is written under a temporary name in the same folder and
renamed into place (:func:`write_table`), so a job stopped at any point leaves only whole
files. A partition entry of the manifest names its files with their sha256; a resumed job
reuses the partition only if its input is unchanged and its files still have those digests
(:func:`reusable`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST = "manifest.json"
REJECTS = "rejects.parquet"
REJECT_PARTS = "rejects"


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def reusable(folder: Path, entry: dict[str, Any], input_digest: str) -> bool:
    """Whether a partition recorded as ``entry`` need not be scored again: its input digest
    is ``input_digest`` and its files in ``folder`` still have the recorded sha256."""
    if entry.get("input_digest") != input_digest:
        return False
    for name, digest in _files(entry):
        path = folder / name
        if not path.is_file() or file_digest(path) != digest:
            return False
    return True


def file_digest(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def write_atomic(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file in the same folder, renamed."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def temporary_path(path: Path) -> Path:
    """A temporary name beside ``path``, for a file that is renamed into place when whole."""
    return path.with_name(f".{path.name}.{os.getpid()}.incoming")


def write_table(path: Path, table: pa.Table) -> str:
    """Write ``table`` as Parquet to ``path`` whole or not at all; the file's sha256."""
    temporary = temporary_path(path)
    try:
        pq.write_table(table, temporary)
        digest = file_digest(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return digest


def _files(entry: dict[str, Any]) -> list[tuple[str, str]]:
    files = [(str(entry["output"]), str(entry["sha256"]))]
    if entry.get("rejects_file"):
        files.append((str(entry["rejects_file"]), str(entry["rejects_sha256"])))
    return files
