"""The record of a batch scoring job, sealed in the audit chain.

Whichever engine scored, a finished job is one :class:`BatchRun` (kind
``riskops.batch-run@1``): what was scored (the model version and its digest, the input file's
sha256), what came out (rows, decisions by outcome, rejects, the output's sha256 — the
manifest's, which lists every file's sha256), and what it cost (wall time, rows/s, CPU seconds
of the job and its workers, the peak memory of a process). :func:`seal_run` appends it to the
audit chain as a ``batch.scored`` event on ``model_version`` ``NAME@VERSION``, so an examiner
can tie any output file back to an approved model and an input.

Resources are measured with ``resource.getrusage``: CPU seconds are user + system time of this
process (and of its finished child processes) during the job, plus the whole life of each
worker process of the local engine's pool, which reports its own (a fork server starts them,
so they are not this process's children); the peak memory is the largest resident set of this
process or of any one worker. A Spark job's executors report nothing back: its CPU seconds and
peak memory are the driver's.

Example::

    meter = Meter.start()
    ...                                       # the job
    usage = meter.stop()
    run = seal_run(ctx, BatchRun(...), actor="oscar")
    run.audit_seq
"""

from __future__ import annotations

import dataclasses
import resource
import sys
from dataclasses import dataclass
from time import perf_counter
from typing import Any, ClassVar

from riskops.audit.trail import record
from riskops.context import Context

ACTION = "batch.scored"


@dataclass(frozen=True)
class Usage:
    """What a job cost: ``wall_seconds``, ``cpu_seconds`` (this process and its workers) and
    ``peak_rss_mb`` (the largest resident set of one process)."""

    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float


@dataclass(frozen=True)
class Meter:
    """Wall clock and CPU time from :meth:`start` to :meth:`stop`."""

    started: float
    cpu: float

    @classmethod
    def start(cls) -> Meter:
        return cls(perf_counter(), _cpu())

    def stop(self) -> Usage:
        return Usage(perf_counter() - self.started, _cpu() - self.cpu, _peak_rss_mb())


@dataclass(frozen=True)
class BatchRun:
    """A finished batch scoring job (see the module docstring). ``written`` and ``skipped``
    count partitions: a resumed job skips those already written with the same input and
    model; ``audit_seq`` is the sequence number of its ``batch.scored`` event."""

    kind: ClassVar[str] = "riskops.batch-run@1"

    model: str
    version: int
    digest: str
    engine: str
    input: str
    input_sha256: str
    output: str
    output_sha256: str
    rows: int
    decisions: int
    rejects: int
    outcomes: dict[str, int]
    fallbacks: int
    partitions: int
    written: int
    skipped: int
    workers: int
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    options: dict[str, Any]
    audit_seq: int | None = None

    @property
    def model_ref(self) -> str:
        return f"{self.model}@{self.version}"

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        body = {"kind": self.kind, **dataclasses.asdict(self)}
        body["rows_per_second"] = round(self.rows_per_second, 1)
        return body


def seal_run(ctx: Context, run: BatchRun, *, actor: str, role: str) -> BatchRun:
    """Append ``run`` to the audit chain (action ``batch.scored``) and return it with its
    ``audit_seq``."""
    payload = run.as_dict()
    payload.pop("audit_seq")
    for name in ("wall_seconds", "cpu_seconds", "peak_rss_mb"):
        payload[name] = round(float(payload[name]), 3)
    with ctx.store.transaction() as session:
        event = record(
            session,
            actor=actor,
            role=role,
            action=ACTION,
            object_type="model_version",
            object_id=run.model_ref,
            payload=payload,
            at=ctx.clock(),
        )
        seq = event.seq
    return dataclasses.replace(run, audit_seq=seq)


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return max(own, children) * scale / 1e6
