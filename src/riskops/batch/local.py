"""Batch scoring of a Parquet or CSV file to Parquet: the local engine on all cores, and the
entry point of every engine (:func:`score_file`, which a Prefect flow calls too).

A job::

    resolve the version      NAME@VERSION, or the champion of --env; refused unless it may
                             serve (approved, both sign-offs), as in serving
    fetch its artifact       digest-checked against the approved digest (IntegrityError)
    check the input          exists, Parquet or CSV, readable, not empty, every feature column
    score each partition     in worker processes: read → check and encode → decide → reasons
                             for every non-favourable row → part-NNNNN.parquet (+ its rejects)
    seal the run record      rows, rejects, wall time, rows/s, CPU seconds, peak memory, input
                             and output sha256: a batch.scored event in the audit chain

The input is cut into partitions of ``partition_rows`` rows (:mod:`riskops.batch.inputs`); the
parent process reads them and hands them to a pool of ``workers`` processes, each of which
loads the verified model once (its digest checked again there) and scores with one LightGBM
thread, so the cores work on different partitions; at most two partitions per worker are in
flight, which bounds memory. With one worker everything runs in this process.

Resumable (:mod:`riskops.batch.manifest`): each partition file is written under a temporary
name and renamed, the manifest is rewritten after each one, and a rerun with the same model and
options skips the partitions already written from the same input. An exception in the
``progress`` callback (or Ctrl-C) stops the job: partitions finished by then are kept and
recorded, the rest are written by the rerun.

Example::

    run = score_file(ctx, "credit-scoring@3", "applicants.parquet", "scored/", actor="oscar")
    run.rows_per_second, run.output_sha256, run.audit_seq
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal, get_args

import pyarrow as pa
import pyarrow.parquet as pq

from riskops.batch import worker
from riskops.batch.bundle import ModelBundle
from riskops.batch.columns import ColumnEncoder
from riskops.batch.core import REJECT_SCHEMA
from riskops.batch.inputs import Input, open_input, partitions
from riskops.batch.manifest import Manifest
from riskops.batch.model import Resolved, fetch_bundle, resolve_version
from riskops.batch.parts import REJECT_PARTS, REJECTS, file_digest, write_table
from riskops.batch.runs import BatchRun, Meter, seal_run
from riskops.config import Role
from riskops.context import Context
from riskops.errors import InputError
from riskops.governance.roles import require_actor, require_role
from riskops.registry.versions import ModelRef
from riskops.scoring.features import UNKNOWN_CATEGORY_POLICIES, UnknownCategory

Engine = Literal["local", "spark"]
ENGINES: tuple[str, ...] = get_args(Engine)
PARTITION_ROWS = 100_000


@dataclass(frozen=True)
class Options:
    """How a job scores: ``partition_rows`` per output file, ``workers`` processes (default:
    every core), ``reasons`` (False: scores and outcomes only), ``explain`` (reasons for
    every row, not only the non-favourable), what an unknown category does, and whether an
    output folder holding another job's output may be replaced (``overwrite``)."""

    partition_rows: int = PARTITION_ROWS
    workers: int | None = None
    reasons: bool = True
    explain: bool = False
    unknown_category: UnknownCategory = "reject"
    overwrite: bool = False

    def check(self) -> None:
        if self.partition_rows < 1:
            raise InputError(
                f"--partition-rows must be at least 1, not {self.partition_rows}.",
                hint="Use 100000 or so: one output file per that many input rows.",
            )
        if self.workers is not None and self.workers < 1:
            raise InputError(
                f"--workers must be at least 1, not {self.workers}.",
                hint=f"Use up to the number of cores ({os.cpu_count()}).",
            )
        if self.unknown_category not in UNKNOWN_CATEGORY_POLICIES:
            raise InputError(
                f"unknown_category is {self.unknown_category!r}; valid policies are: "
                f"{', '.join(UNKNOWN_CATEGORY_POLICIES)}.",
                hint="Use reject (such a row goes to the rejects) or missing (it is scored with "
                "the category as a missing value).",
            )
        if self.explain and not self.reasons:
            raise InputError(
                "--explain asks for reasons on every row, --no-reasons for none.",
                hint="Pass one of them.",
            )

    def key(self) -> dict[str, Any]:
        """What changes the output, for the manifest's key."""
        return {
            "partition_rows": self.partition_rows,
            "reasons": self.reasons,
            "explain": self.explain,
            "unknown_category": self.unknown_category,
        }


@dataclass(frozen=True)
class Progress:
    """How far a job is: partitions and rows done (written or skipped) of the totals, when
    known (a CSV file's row count is not known in advance)."""

    partitions: int
    rows: int
    total_partitions: int | None
    total_rows: int | None
    skipped: int


ProgressCallback = Callable[[Progress], None]


def score_file(
    ctx: Context,
    target: str | ModelRef,
    input: Path | str,
    output: Path | str,
    *,
    actor: str,
    environment: str | None = None,
    engine: Engine = "local",
    options: Options | None = None,
    progress: ProgressCallback | None = None,
) -> BatchRun:
    """Score the Parquet or CSV file ``input`` with ``target`` (``NAME@VERSION``, or ``NAME``
    with ``environment`` for its champion there) into the folder ``output`` (see the module
    docstring), with ``engine`` ``"local"`` or ``"spark"``; ``actor`` needs the operator
    role. Returns the run record, sealed in the audit chain."""
    options = options or Options()
    options.check()
    if engine not in ENGINES:
        raise InputError(
            f"Unknown engine {engine!r}. Valid engines are: {', '.join(ENGINES)}.",
            hint="Use --engine local (this machine's cores) or --engine spark.",
        )
    who = require_actor(actor)
    role = require_role(ctx.settings, who, Role.OPERATOR, doing="score a batch")
    resolved = resolve_version(ctx, target, environment=environment)
    encoder = ColumnEncoder(resolved.spec, unknown_category=options.unknown_category)
    if engine == "spark":
        from riskops.batch.spark import score_with_spark

        run, manifest = score_with_spark(ctx, resolved, Path(input), Path(output), options, encoder)
    else:
        source = open_input(Path(input), encoder)
        bundle = fetch_bundle(ctx, resolved)
        run, manifest = _score_locally(resolved, bundle, source, Path(output), options, progress)
    sealed = seal_run(ctx, run, actor=who, role=role.value)
    manifest.run = sealed.as_dict()
    manifest.save()
    return sealed


def _score_locally(
    resolved: Resolved,
    bundle: ModelBundle,
    source: Input,
    output: Path,
    options: Options,
    progress: ProgressCallback | None,
) -> tuple[BatchRun, Manifest]:
    ref = resolved.ref
    key = key_of(ref.name, ref.version, resolved.digest, "local", options.key())
    manifest = Manifest.open(output, key, overwrite=options.overwrite)
    (manifest.folder / REJECT_PARTS).mkdir(exist_ok=True)
    meter = Meter.start()
    input_sha256 = file_digest(source.path)
    workers = options.workers or os.cpu_count() or 1
    total_rows = source.rows
    total_parts = -(-total_rows // options.partition_rows) if total_rows is not None else None
    done = rows = skipped = 0
    count = 0
    entries: dict[int, dict[str, Any]] = {}

    pool: dict[int, dict[str, float]] = {}  # the latest usage of each pool process

    def finished(entry: dict[str, Any]) -> None:
        nonlocal done, rows, skipped
        usage = entry.pop("usage", None)
        if usage is not None:
            pool[int(usage["pid"])] = usage
        entries[int(entry["index"])] = entry
        if entry.pop("skipped", False):
            skipped += 1
        else:
            manifest.record(entry)
        done += 1
        rows += int(entry["rows"])
        if progress is not None:
            progress(Progress(done, rows, total_parts, total_rows, skipped))

    tasks = (
        worker.Task(index, first, batch, manifest.partitions.get(index))
        for index, first, batch in partitions(source, options.partition_rows)
    )
    settings = worker.WorkerOptions(
        manifest.folder, options.reasons, options.explain, options.unknown_category
    )
    if workers == 1:
        here = worker.Worker(bundle, settings)
        for task in tasks:
            count = max(count, task.index + 1)
            finished(here.run(task))
    else:
        count = _run_pool(bundle, settings, workers, tasks, finished, manifest.record)
    # Partitions past the end of this input (a shorter file than last time) are not its output.
    for index in [i for i in manifest.partitions if i >= count]:
        for name in _names(manifest.partitions.pop(index)):
            (manifest.folder / name).unlink(missing_ok=True)
    manifest.rejects = _combine_rejects(manifest)
    manifest.save()
    usage = meter.stop()
    cpu_seconds = usage.cpu_seconds + sum(u["cpu_seconds"] for u in pool.values())
    peak_rss_mb = max([usage.peak_rss_mb, *(u["peak_rss_mb"] for u in pool.values())])
    listed = [entries[i] for i in sorted(entries)]
    outcomes: dict[str, int] = {}
    for entry in listed:
        for name, n in entry["outcomes"].items():
            outcomes[name] = outcomes.get(name, 0) + int(n)
    run = BatchRun(
        model=ref.name,
        version=ref.version,
        digest=resolved.digest,
        engine="local",
        input=str(source.path),
        input_sha256=input_sha256,
        output=str(manifest.folder),
        output_sha256=manifest.content_sha256(),
        rows=sum(int(e["rows"]) for e in listed),
        decisions=sum(int(e["decisions"]) for e in listed),
        rejects=sum(int(e["rejects"]) for e in listed),
        outcomes=outcomes,
        fallbacks=sum(int(e["fallbacks"]) for e in listed),
        partitions=len(listed),
        written=len(listed) - skipped,
        skipped=skipped,
        workers=workers,
        wall_seconds=usage.wall_seconds,
        cpu_seconds=cpu_seconds,
        peak_rss_mb=peak_rss_mb,
        options=options.key(),
    )
    return run, manifest


def _run_pool(
    bundle: ModelBundle,
    settings: worker.WorkerOptions,
    workers: int,
    tasks: Iterator[worker.Task],
    finished: Callable[[dict[str, Any]], None],
    keep: Callable[[dict[str, Any]], None],
) -> int:
    """Score ``tasks`` in ``workers`` processes, at most two partitions each in flight;
    returns the number of partitions. On an error (or an exception from ``finished``) the
    partitions already running are finished and passed to ``keep``, the rest not started."""
    # Not fork: this process may hold threads (the store's, MLflow's) that a fork would copy
    # mid-operation. A fork server imports the worker module once; each worker is forked from
    # it, so a pool starts in well under a second instead of a fresh interpreter per worker.
    context = get_context("forkserver")
    context.set_forkserver_preload([worker.__name__])
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=worker.start,
        initargs=(bundle, settings),
    )
    running: set[Future[dict[str, Any]]] = set()

    def collect() -> None:
        completed, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in completed:
            running.discard(future)
            finished(future.result())

    count = 0
    failed = True
    try:
        for task in tasks:
            count = max(count, task.index + 1)
            running.add(executor.submit(worker.run, task))
            while len(running) >= 2 * workers:
                collect()
        while running:
            collect()
        failed = False
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        if failed:
            # Keep what the workers finished: a rerun then need not write it again.
            for future in running:
                if future.done() and not future.cancelled() and future.exception() is None:
                    entry = future.result()
                    entry.pop("usage", None)
                    if not entry.get("skipped"):
                        keep(entry)
    return count


def _combine_rejects(manifest: Manifest) -> dict[str, Any]:
    """``rejects.parquet``: every partition's rejects, in row order."""
    tables = [
        pq.read_table(manifest.folder / str(entry["rejects_file"]))
        for _, entry in sorted(manifest.partitions.items())
        if entry.get("rejects_file")
    ]
    table = pa.concat_tables(tables) if tables else REJECT_SCHEMA.empty_table()
    sha256 = write_table(manifest.folder / REJECTS, table.cast(REJECT_SCHEMA))
    return {"file": REJECTS, "sha256": sha256, "rows": table.num_rows}


def _names(entry: dict[str, Any]) -> list[str]:
    return [str(entry["output"])] + (
        [str(entry["rejects_file"])] if entry.get("rejects_file") else []
    )


def key_of(
    model: str, version: int, digest: str, engine: str, options: dict[str, Any]
) -> dict[str, Any]:
    """A job's key in its manifest: what must be the same for a rerun to reuse partitions."""
    return {
        "model": model,
        "version": version,
        "digest": digest,
        "engine": engine,
        "options": options,
    }
