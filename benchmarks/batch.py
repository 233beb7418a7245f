"""Batch scoring to Parquet, against the floor of the model's own calls on the same rows.

Builds a workspace in a temporary folder, trains the German credit LightGBM model
(models/credit_scoring), validates, approves and deploys it, and writes ``--rows`` rows (the
data's rows sampled with replacement, seeded) to Parquet. Then, in one run:

- **floor**: raw ``booster.predict`` on the encoded matrix of all rows, and raw
  ``booster.predict(pred_contrib=True)`` on the rows whose outcome is not approve (those
  that need reasons), one LightGBM thread each — what any batch scorer must spend;
- **local engine** end to end (``riskops batch score``: read → check and encode → score →
  outcome → reasons for non-favourable rows → Parquet partitions, manifest, audit record) on 1
  and on 2 workers, as a share of the floor's rows/s (times the workers);
- **scores only** (``--no-reasons``) on 1 worker, as a share of raw ``predict``;
- **Spark** ``local[2]`` on the same file (``--engine spark``), and its overhead against the
  local engine on 2 workers (skipped without pyspark or Java, or with ``--no-spark``).

Usage: python benchmarks/batch.py [--rows N] [--no-spark]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from time import perf_counter

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from riskops.batch.columns import ColumnEncoder
from riskops.batch.local import Options, score_file
from riskops.batch.model import fetch_bundle, resolve_version
from riskops.batch.runs import BatchRun
from riskops.context import Context, open_context
from riskops.governance.approvals import approve
from riskops.governance.deployments import deploy
from riskops.scoring.policy import FAVOURABLE
from riskops.training.pipeline import train
from riskops.validation.run import validate
from riskops.workspace import DEMO_PEOPLE, init_workspace

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "models" / "credit_scoring" / "model.yaml"
DATA = REPO / "data" / "german_credit" / "german_credit.csv"


def _workspace(folder: Path) -> Context:
    for name in ("RISKOPS_HOME", "RISKOPS_DATABASE_URL", "MLFLOW_TRACKING_URI"):
        os.environ.pop(name, None)
    ctx = open_context(init_workspace(folder / "ws", people=DEMO_PEOPLE))
    ref = train(ctx, SPEC, actor="alice").ref
    validate(ctx, ref, actor="victor")
    approve(ctx, ref, actor="victor")
    approve(ctx, ref, actor="rita")
    deploy(ctx, ref, environment="production", actor="oscar")
    return ctx


def _input(folder: Path, rows: int) -> Path:
    data = pacsv.read_csv(DATA)
    picked = np.random.default_rng(20261207).integers(0, data.num_rows, rows)
    path = folder / "applicants.parquet"
    pq.write_table(data.take(pa.array(picked)), path, row_group_size=131_072)
    return path


def _spark_session() -> object | None:
    try:
        from pyspark.sql import SparkSession
    except ModuleNotFoundError:
        return None
    if shutil.which("java") is None:
        return None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("riskops-batch-benchmark")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.files.maxPartitionBytes", "4m")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to score")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark engine")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="riskops-batch-bench-"))
    try:
        ctx = _workspace(folder)
        path = _input(folder, args.rows)
        resolved = resolve_version(ctx, "credit-scoring", environment="production")
        scorer = fetch_bundle(ctx, resolved).scorer()
        booster = scorer.model
        table = pq.read_table(path, columns=list(resolved.spec.feature_names))
        matrix = ColumnEncoder(resolved.spec).encode(table.combine_chunks().to_batches()[0]).matrix

        start = perf_counter()
        scores = booster.predict(matrix, num_threads=1)
        predict_s = perf_counter() - start
        adverse = matrix[scorer.policy.codes(scores, matrix) != FAVOURABLE]
        start = perf_counter()
        booster.predict(adverse, pred_contrib=True, num_threads=1)
        contrib_s = perf_counter() - start
        floor_s = predict_s + contrib_s
        n = args.rows

        def engine(name: str, workers: int, **more: object) -> BatchRun:
            options = Options(workers=workers, **more)  # type: ignore[arg-type]
            return score_file(
                ctx, "credit-scoring@1", path, folder / name, actor="oscar", options=options
            )

        one = engine("one", 1)
        two = engine("two", 2)
        bare = engine("bare", 1, reasons=False)
        spark_run: BatchRun | None = None
        if not args.no_spark and _spark_session() is not None:
            spark_run = score_file(
                ctx,
                "credit-scoring@1",
                path,
                folder / "spark",
                actor="oscar",
                engine="spark",
                options=Options(),
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print(
        f"German credit LightGBM ({booster.num_trees()} trees), {n:,} rows sampled from the data "
        f"({len(adverse):,} refer/decline rows get reasons), Parquet in → Parquet out; "
        f"{os.cpu_count()} cores."
    )
    header = (
        f"{'what':<58} {'seconds':>8} {'rows/s':>10} {'CPU s':>7} {'peak MB':>8} {'of floor':>9}"
    )
    print(header)
    print("-" * len(header))

    def line(
        what: str,
        seconds: float,
        floor: float | None,
        cpu: float | None = None,
        mb: float | None = None,
    ) -> None:
        share = f"{floor / seconds:>8.0%}" if floor else f"{'':>8}"
        print(
            f"{what:<58} {seconds:>8.2f} {n / seconds:>10,.0f} "
            f"{'' if cpu is None else f'{cpu:.1f}':>7} {'' if mb is None else f'{mb:,.0f}':>8} {share:>9}"
        )

    line("floor: raw predict, all rows, 1 thread", predict_s, None)
    line("floor: raw pred_contrib, refer/decline rows, 1 thread", contrib_s, None)
    line("floor: both (the batch floor per thread)", floor_s, None)
    line(
        "local engine, 1 worker, reasons",
        one.wall_seconds,
        floor_s,
        one.cpu_seconds,
        one.peak_rss_mb,
    )
    line(
        "local engine, 2 workers, reasons (floor / 2)",
        two.wall_seconds,
        floor_s / 2,
        two.cpu_seconds,
        two.peak_rss_mb,
    )
    line(
        "local engine, 1 worker, scores only vs raw predict",
        bare.wall_seconds,
        predict_s,
        bare.cpu_seconds,
        bare.peak_rss_mb,
    )
    if spark_run is not None:
        line(
            "Spark local[2], reasons (floor / 2)",
            spark_run.wall_seconds,
            floor_s / 2,
            spark_run.cpu_seconds,
            None,
        )
        print(
            f"Spark overhead against the local engine on 2 workers: "
            f"{spark_run.wall_seconds / two.wall_seconds:.2f}× its wall time "
            "(Spark's CPU seconds are the driver's only)."
        )
    else:
        print("Spark: skipped (--no-spark, or pyspark or Java missing)")
    assert one.output_sha256 == two.output_sha256, "the output must not depend on the workers"


if __name__ == "__main__":
    main()
