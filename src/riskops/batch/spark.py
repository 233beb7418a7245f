"""The Spark batch engine: the local engine's per-batch core, run on Spark's executors.

The driver checks the version and fetches its artifact as the local engine does (digest-checked
against the approved one) and broadcasts it as bytes (a :class:`ModelBundle`); on each executor
the first batch loads it, checking the digest again, and keeps the scorer for the life of the
Python worker. Then::

    frame    = spark.read.parquet(input) | spark.read.csv(input, header=True)   # CSV as text
    frame    = frame + row                      # each row's 0-based position in the file
    scored   = frame.mapInArrow(score_batch)    # the shared core: decisions and rejects
    output/  = part-00000.parquet … (decisions), rejects.parquet, manifest.json

``mapInArrow`` is ``mapInPandas``'s Arrow form: the same vectorised Python UDF, handed Arrow
record batches instead of pandas frames, which is what :func:`riskops.batch.core.score_batch`
takes — so no pandas conversion in either direction, and the very function the local engine
runs. The decisions equal the local engine's row for row (the integration test compares them
sorted by row).

Row numbers: Spark keeps no row index, so each row gets ``monotonically_increasing_id()``
(the input partition in its upper bits, the position within it in the lower 33) and one small
job counts the rows of each input partition; a row's number is the rows of the partitions
before its own plus its position. A single file's partitions are its byte ranges in order, so
this is the row's position in the file; the input must be one file (a folder of parts has no
one order).

The run record is the local engine's, with ``engine = "spark"``; its CPU seconds and peak
memory are the driver's (executors are not its child processes). A Spark job is not resumable
partition by partition: a rerun scores everything again (Spark retries failed tasks itself).

Example::

    run = score_file(ctx, "credit-scoring@3", "applicants.parquet", "scored/", actor="oscar",
                     engine="spark")
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from riskops.batch.bundle import ModelBundle
from riskops.batch.columns import ColumnEncoder
from riskops.batch.core import DECISION_SCHEMA, REJECT_SCHEMA, score_batch
from riskops.batch.inputs import NULL_TEXTS, open_input
from riskops.batch.manifest import SPARK_STAGING, Manifest
from riskops.batch.model import Resolved, fetch_bundle
from riskops.batch.parts import REJECTS, file_digest, part_name, write_table
from riskops.batch.runs import BatchRun, Meter
from riskops.context import Context
from riskops.errors import MissingExtraError
from riskops.scoring.features import UnknownCategory
from riskops.scoring.scorer import Scorer

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from riskops.batch.local import Options

ROW = "__riskops_row"
REASON = "__riskops_reject_reason"
CODES = "__riskops_reject_codes"
_POSITION_BITS = 33  # monotonically_increasing_id: partition id above, position below


def score_with_spark(
    ctx: Context,
    resolved: Resolved,
    input: Path,
    output: Path,
    options: Options,
    encoder: ColumnEncoder,
    *,
    session: SparkSession | None = None,
) -> tuple[BatchRun, Manifest]:
    """Score ``input`` into ``output`` on Spark (see the module docstring): ``session``, or the
    active one, or a new one (``local[*]`` unless spark-submit says otherwise)."""
    try:
        from pyspark.sql import SparkSession
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] in {"pyspark", "py4j"}:
            raise MissingExtraError("The Spark batch engine", "pyspark", "spark") from None
        raise
    from riskops.batch.local import key_of

    source = open_input(input, encoder)  # the same up-front checks as the local engine
    bundle = fetch_bundle(ctx, resolved)
    ref = resolved.ref
    key = key_of(ref.name, ref.version, resolved.digest, "spark", options.key())
    manifest = Manifest.open(output, key, overwrite=options.overwrite)
    manifest.reset()
    spark = session or SparkSession.getActiveSession()
    if spark is None:
        # The Python workers need riskops: unless told otherwise they run this interpreter
        # (PySpark reads the variable when the context starts, and only then).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        spark = SparkSession.builder.appName("riskops-batch").getOrCreate()
    meter = Meter.start()
    input_sha256 = file_digest(source.path)
    frame = _read(spark, source.path, source.format, list(encoder.columns))
    numbered = _numbered(frame)
    parallelism = spark.sparkContext.defaultParallelism
    if numbered.rdd.getNumPartitions() < parallelism:
        numbered = numbered.repartition(parallelism)
    shipped = spark.sparkContext.broadcast(bundle)
    with warnings.catch_warnings():
        # PySpark warns on import of its pandas helpers under pandas 3; this engine hands
        # Spark Arrow batches and uses no pandas.
        warnings.filterwarnings(
            "ignore", "PySpark does not yet fully support pandas", FutureWarning
        )
        scored = numbered.mapInArrow(
            _scoring(
                shipped,
                options.reasons,
                options.explain,
                options.unknown_category,
                csv=source.format == "csv",
            ),
            _spark_schema(),
        ).persist()
    try:
        staging = manifest.folder / SPARK_STAGING
        decisions = scored.where(scored[REASON].isNull()).select(*DECISION_SCHEMA.names)
        decisions.sortWithinPartitions("row").write.mode("overwrite").parquet(
            str(staging / "decisions")
        )
        rejects = scored.where(scored[REASON].isNotNull()).select(
            scored["row"], scored[REASON].alias("reason"), scored[CODES].alias("codes")
        )
        rejects.write.mode("overwrite").parquet(str(staging / "rejects"))
        counts = {
            str(r["outcome"]): int(r["count"])
            for r in decisions.groupBy("outcome").count().collect()
        }
        fallbacks = decisions.where(decisions["fallback"]).count()
    finally:
        scored.unpersist()
        shipped.unpersist()
    entries = _collect_parts(manifest, staging / "decisions", counts)
    rejected = _collect_rejects(manifest, staging / "rejects")
    shutil.rmtree(staging, ignore_errors=True)
    usage = meter.stop()
    decided = sum(int(e["decisions"]) for e in entries)
    run = BatchRun(
        model=ref.name,
        version=ref.version,
        digest=resolved.digest,
        engine="spark",
        input=str(source.path),
        input_sha256=input_sha256,
        output=str(manifest.folder),
        output_sha256=manifest.content_sha256(),
        rows=decided + rejected,
        decisions=decided,
        rejects=rejected,
        outcomes=counts,
        fallbacks=fallbacks,
        partitions=len(entries),
        written=len(entries),
        skipped=0,
        workers=parallelism,
        wall_seconds=usage.wall_seconds,
        cpu_seconds=usage.cpu_seconds,
        peak_rss_mb=usage.peak_rss_mb,
        options=options.key(),
    )
    return run, manifest


def _read(spark: SparkSession, path: Path, kind: str, columns: list[str]) -> DataFrame:
    if kind == "parquet":
        frame = spark.read.parquet(str(path))
    else:
        # Every column as text, as the local engine reads CSV; the encoder converts.
        frame = spark.read.csv(
            str(path), header=True, inferSchema=False, nullValue="", emptyValue=None
        )
    return frame.select(*[frame[_quoted(c)] for c in columns])


def _numbered(frame: DataFrame) -> DataFrame:
    """``frame`` with each row's 0-based position in the input (see the module docstring)."""
    from pyspark.sql import functions as F

    with_id = frame.withColumn(ROW, F.monotonically_increasing_id())
    part = F.shiftright(F.col(ROW), _POSITION_BITS)
    sizes = {
        int(r["part"]): int(r["count"])
        for r in with_id.groupBy(part.alias("part")).count().collect()
    }
    offsets: dict[int, int] = {}
    total = 0
    for index in sorted(sizes):
        offsets[index] = total
        total += sizes[index]
    if not offsets:
        return with_id
    starts = F.create_map(*[x for i, o in offsets.items() for x in (F.lit(i), F.lit(o))])
    position = F.col(ROW).bitwiseAND(F.lit((1 << _POSITION_BITS) - 1))
    return with_id.withColumn(ROW, starts[part] + position)


def _scoring(
    shipped: Any,
    reasons: bool,
    explain: bool,
    unknown_category: UnknownCategory,
    *,
    csv: bool,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function each executor maps over its Arrow batches. ``csv``: the texts the local
    engine reads as missing (``NA``, ``null``, …) are made missing here too."""

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        scorer, encoder = _loaded(shipped.value, unknown_category)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            rows = np.asarray(batch.column(ROW).to_numpy(zero_copy_only=False), dtype=np.int64)
            features = batch.drop_columns([ROW])
            if csv:
                features = _missing_texts(features)
            scored = score_batch(
                scorer, encoder, features, first_row=0, rows=rows, reasons=reasons, explain=explain
            )
            yield _combined(scored.decisions, scored.rejects)

    return score


def _missing_texts(batch: pa.RecordBatch) -> pa.RecordBatch:
    missing = pa.array(NULL_TEXTS, pa.string())
    columns = []
    for column in batch.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            hit = pc.is_in(column, value_set=missing.cast(column.type))
            column = pc.if_else(hit, pa.nulls(len(column), column.type), column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


# A Python worker keeps the scorer of each bundle it loaded (keyed by digest and policy), so
# that the model is loaded and its digest checked once per worker, not once per batch.
_LOADED: dict[tuple[str, str], tuple[Scorer, ColumnEncoder]] = {}


def _loaded(bundle: ModelBundle, unknown_category: UnknownCategory) -> tuple[Scorer, ColumnEncoder]:
    key = (bundle.digest, unknown_category)
    if key not in _LOADED:
        scorer = bundle.scorer(unknown_category=unknown_category, num_threads=1)
        _LOADED[key] = (scorer, ColumnEncoder(scorer.spec, unknown_category=unknown_category))
    return _LOADED[key]


def _arrow_schema() -> pa.Schema:
    fields = [f.with_nullable(True) for f in DECISION_SCHEMA]
    return pa.schema(
        [*fields, pa.field(REASON, pa.string()), pa.field(CODES, pa.list_(pa.string()))]
    )


def _combined(decisions: pa.RecordBatch, rejects: pa.RecordBatch) -> pa.RecordBatch:
    """One batch of the decisions, then the rejects (their other columns null)."""
    schema = _arrow_schema()
    columns = []
    for field in schema:
        if field.name == "row":
            columns.append(pa.concat_arrays([decisions.column("row"), rejects.column("row")]))
        elif field.name == REASON:
            columns.append(
                pa.concat_arrays(
                    [pa.nulls(decisions.num_rows, pa.string()), rejects.column("reason")]
                )
            )
        elif field.name == CODES:
            columns.append(
                pa.concat_arrays(
                    [pa.nulls(decisions.num_rows, field.type), rejects.column("codes")]
                )
            )
        else:
            columns.append(
                pa.concat_arrays(
                    [decisions.column(field.name), pa.nulls(rejects.num_rows, field.type)]
                )
            )
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _spark_schema() -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(_arrow_schema())


def _collect_parts(
    manifest: Manifest, folder: Path, counts: dict[str, int]
) -> list[dict[str, Any]]:
    """Move Spark's part files into the output as part-NNNNN.parquet, in row order, with
    their manifest entries."""
    parts = []
    for path in sorted(folder.glob("part-*.parquet")):
        table = pq.read_table(path)
        if table.num_rows == 0:
            continue
        first = pq.read_table(path, columns=["row"]).column("row")
        parts.append((int(pc.min(first).as_py()), path, table.num_rows))
    entries = []
    for index, (first_row, path, rows) in enumerate(sorted(parts)):
        name = part_name(index)
        table = pq.read_table(path).cast(DECISION_SCHEMA)
        entry = {
            "index": index,
            "first_row": first_row,
            "rows": rows,
            "input_digest": None,
            "output": name,
            "sha256": write_table(manifest.folder / name, table),
            "decisions": rows,
            "rejects": 0,
            "rejects_file": None,
            "rejects_sha256": None,
        }
        manifest.partitions[index] = entry
        entries.append(entry)
    return entries


def _collect_rejects(manifest: Manifest, folder: Path) -> int:
    files = sorted(folder.glob("part-*.parquet"))
    tables = [pq.read_table(p) for p in files]
    table = (
        pa.concat_tables(tables).sort_by("row").cast(REJECT_SCHEMA)
        if tables
        else REJECT_SCHEMA.empty_table()
    )
    sha256 = write_table(manifest.folder / REJECTS, table)
    manifest.rejects = {"file": REJECTS, "sha256": sha256, "rows": table.num_rows}
    manifest.save()
    return int(table.num_rows)


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
