"""A worker process of the local engine: the model loaded once, then one partition per task.

The pool's initializer (:func:`start`) loads the verified model from its bundle (its digest
checked again here) with one LightGBM thread; each task (:func:`run`) reads nothing from the
store: it encodes its partition, skips it when the output folder already holds it from the same
input (:func:`riskops.batch.parts.reusable`), else scores it with the shared core
(:func:`riskops.batch.core.score_encoded`) and writes its files whole, and returns its manifest
entry to the parent.
"""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from riskops.batch.bundle import ModelBundle
from riskops.batch.columns import ColumnEncoder
from riskops.batch.core import score_encoded
from riskops.batch.parts import REJECT_PARTS, part_name, reusable, write_table
from riskops.scoring.features import UnknownCategory


@dataclass(frozen=True)
class WorkerOptions:
    """What a worker needs besides the model: how to score, and where to write."""

    folder: Path
    reasons: bool
    explain: bool
    unknown_category: UnknownCategory


@dataclass(frozen=True)
class Task:
    """One partition to score: its ``index``, the input row number of its ``first_row``, its
    rows, and the manifest entry a previous run recorded for it (``previous``), if any."""

    index: int
    first_row: int
    batch: pa.RecordBatch
    previous: dict[str, Any] | None


class Worker:
    """A worker's model and encoder, loaded once; scores one partition at a time."""

    def __init__(self, bundle: ModelBundle, settings: WorkerOptions) -> None:
        self.scorer = bundle.scorer(unknown_category=settings.unknown_category, num_threads=1)
        self.encoder = ColumnEncoder(self.scorer.spec, unknown_category=settings.unknown_category)
        self.settings = settings

    def run(self, task: Task) -> dict[str, Any]:
        """Score ``task``'s partition (or find it already written); its manifest entry, with
        ``skipped`` True when it was not written again."""
        folder = self.settings.folder
        encoded = self.encoder.encode(task.batch)
        if task.previous is not None and reusable(folder, task.previous, encoded.digest):
            return {**task.previous, "skipped": True}
        rows = np.arange(task.first_row, task.first_row + task.batch.num_rows, dtype=np.int64)
        scored = score_encoded(
            self.scorer,
            encoded,
            rows,
            reasons=self.settings.reasons,
            explain=self.settings.explain,
        )
        name = part_name(task.index)
        entry: dict[str, Any] = {
            "index": task.index,
            "first_row": task.first_row,
            "rows": task.batch.num_rows,
            "input_digest": encoded.digest,
            "output": name,
            "sha256": write_table(folder / name, pa.Table.from_batches([scored.decisions])),
            "decisions": scored.decisions.num_rows,
            "rejects": scored.rejects.num_rows,
            "rejects_file": None,
            "rejects_sha256": None,
            "outcomes": _counts(scored.decisions.column("outcome")),
            "fallbacks": int(pc.sum(scored.decisions.column("fallback")).as_py() or 0),
            "fallback_cause": scored.cause,
        }
        rejects_name = f"{REJECT_PARTS}/{name}"
        if scored.rejects.num_rows:
            entry["rejects_file"] = rejects_name
            entry["rejects_sha256"] = write_table(
                folder / rejects_name, pa.Table.from_batches([scored.rejects])
            )
        else:
            (folder / rejects_name).unlink(missing_ok=True)
        return entry


# The one Worker of a pool process, set by the pool's initializer: state a process pool can
# only hand its tasks through the worker process itself.
_WORKER: list[Worker] = []


def start(bundle: ModelBundle, settings: WorkerOptions) -> None:
    """The pool's initializer: load the model once in this process."""
    _WORKER.clear()
    _WORKER.append(Worker(bundle, settings))


def run(task: Task) -> dict[str, Any]:
    """A pool task: score one partition with this process's worker. The entry carries, under
    ``usage``, this process's id and its CPU seconds and peak memory so far: a pool's
    processes are not this job's children to ``getrusage`` (a fork server started them)."""
    entry = _WORKER[0].run(task)
    entry["usage"] = process_usage()
    return entry


def process_usage() -> dict[str, float]:
    """This process's id, CPU seconds (user + system) and peak resident set in MB."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return {
        "pid": os.getpid(),
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss * scale / 1e6,
    }


def _counts(column: pa.Array) -> dict[str, int]:
    counted = pc.value_counts(column).to_pylist()
    return {str(c["values"]): int(c["counts"]) for c in counted}
