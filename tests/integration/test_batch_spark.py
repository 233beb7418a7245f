"""The Spark batch engine writes what the local engine writes, row for row (pyspark local
mode)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from riskops.batch.local import Options, score_file
from riskops.batch.manifest import Manifest
from tests.conftest import DATA, unavailable
from tests.unit.batch import conftest as batch
from tests.unit.batch.conftest import Workspace

pytestmark = pytest.mark.integration
ws = batch.ws  # a workspace with credit-scoring@1 approved and deployed


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    try:
        from pyspark.sql import SparkSession
    except ModuleNotFoundError:
        unavailable("pyspark is not installed: pip install 'riskops[spark]'")
    if shutil.which("java") is None:
        unavailable(
            "Spark needs Java 17 or later on PATH (apt-get install openjdk-17-jre-headless)"
        )
    patch = pytest.MonkeyPatch()
    patch.setenv("PYSPARK_PYTHON", sys.executable)  # the Python workers import riskops
    session = (
        SparkSession.builder.master("local[2]")
        .appName("riskops-batch-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "512m")
        # Small splits: the inputs are read in several partitions, which row numbers span.
        .config("spark.sql.files.maxPartitionBytes", "16k")
        .config("spark.sql.files.openCostInBytes", "1k")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    patch.undo()


def _spoiled_csv(folder: Path) -> Path:
    """The German credit rows with a few that serving refuses, and missing-value spellings."""
    lines = DATA.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    duration = header.index("duration_in_month")
    for line, value in ((5, "forty"), (17, "NA"), (400, ""), (401, "999")):
        cells = lines[line].split(",")
        cells[duration] = value
        lines[line] = ",".join(cells)
    lines[700] = lines[700].replace("radio/television", "radio/TV", 1)
    path = folder / "spoiled.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _decisions(folder: Path) -> pa.Table:
    parts = sorted(folder.glob("part-*.parquet"))
    return pa.concat_tables(pq.read_table(p) for p in parts).sort_by("row")


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_spark_output_equals_the_local_engines_row_for_row(
    spark: Any, ws: Workspace, tmp_path: Path, kind: str
) -> None:
    source = _spoiled_csv(tmp_path)
    if kind == "parquet":
        parquet = tmp_path / "spoiled.parquet"
        pq.write_table(pa.csv.read_csv(source), parquet, row_group_size=256)
        source = parquet
    options = Options(partition_rows=300, workers=1)
    local = score_file(
        ws.ctx, "credit-scoring@1", source, tmp_path / "local", actor="oscar", options=options
    )
    on_spark = score_file(
        ws.ctx,
        "credit-scoring@1",
        source,
        tmp_path / "spark",
        actor="oscar",
        options=options,
        engine="spark",
    )
    assert on_spark.engine == "spark"
    assert (on_spark.rows, on_spark.decisions, on_spark.rejects) == (
        local.rows,
        local.decisions,
        local.rejects,
    )
    assert local.rejects >= 3
    assert on_spark.outcomes == local.outcomes
    assert _decisions(tmp_path / "spark").to_pylist() == _decisions(tmp_path / "local").to_pylist()
    spark_rejects = pq.read_table(tmp_path / "spark" / "rejects.parquet").to_pylist()
    assert spark_rejects == pq.read_table(tmp_path / "local" / "rejects.parquet").to_pylist()
    shown = {r["row"]: r["reason"] for r in spark_rejects}  # docs/batch-scoring.md shows these
    missing = (
        "duration_in_month: is required: send a value (the spec does not allow it to be missing)"
    )
    if kind == "parquet":  # pyarrow wrote "NA" and "" as text: not numbers, not missing
        missing = "duration_in_month: expected a number, got a string ('NA')"
        assert shown[399] == "duration_in_month: expected a number, got a string ('')"
    else:
        assert shown[399] == missing
    assert shown[16] == missing
    assert shown[4] == "duration_in_month: expected a number, got a string ('forty')"
    assert shown[400] == "duration_in_month: 999.0 is above the allowed maximum 120"
    manifest = Manifest.load(tmp_path / "spark")
    assert manifest.verify() == []
    assert manifest.run is not None
    assert manifest.run["audit_seq"] == on_spark.audit_seq
    assert not (tmp_path / "spark" / "_spark").exists()
