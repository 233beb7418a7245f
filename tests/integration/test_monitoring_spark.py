"""The Spark engine counts exactly what the local engine counts (pyspark local mode)."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from riskops.errors import DataSchemaError
from riskops.profiles.profile import NumericBins, ReferenceProfile, fit_profile
from riskops.spec import ModelSpec, parse_spec
from tests.conftest import unavailable
from tests.unit.monitoring.synthetic import SPEC_YAML, population

pytestmark = pytest.mark.integration


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
    session = (
        SparkSession.builder.master("local[1]")
        .appName("riskops-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "512m")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return parse_spec(SPEC_YAML).spec


@pytest.fixture(scope="module")
def profile(spec: ModelSpec) -> ReferenceProfile:
    columns = population(2000, 11)
    scores = np.random.default_rng(12).beta(2, 5, 2000)
    return fit_profile("drift-check", 1, spec, columns, scores, fine_bins=256)


def _window(profile: ReferenceProfile) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Rows with every awkward case: None, NaN, ±inf, values on edges, below and above the
    range, unseen and missing categories, integer-like text."""
    rng = np.random.default_rng(13)
    base = population(300, 14, income_shift=25.0)
    income = profile.features[0]
    assert isinstance(income, NumericBins)
    edges = list(income.fine_edges)
    specials = [None, math.nan, math.inf, -math.inf, edges[0], edges[-1], edges[5], -1e9, 1e9]
    base["income"][: len(specials)] = [math.nan if v is None else v for v in specials]
    housing = base["housing"]
    housing[:4] = [None, "castle", "OWN", "rent"]
    scores = rng.beta(2, 4, 300)
    scores[:3] = [math.nan, 2.0, -1.0]
    rows = []
    for i in range(300):
        row = {name: base[name][i] for name in base}
        row["income"] = None if i == 0 else float(row["income"])
        row["age"] = float(row["age"])
        row["utilisation"] = float(row["utilisation"])
        row["score"] = float(scores[i])
        rows.append(row)
    columns = {name: base[name] for name in base}
    columns["income"] = np.array([None, *base["income"][1:].tolist()], dtype=object)
    return rows, {**columns, "score": scores}


def test_counts_are_bit_identical_to_the_local_engine(
    spark: Any, profile: ReferenceProfile
) -> None:
    from riskops.monitoring.spark import spark_counts

    rows, columns = _window(profile)
    schema = "income double, age double, utilisation double, housing string, score double"
    frame = spark.createDataFrame(
        [tuple(r[k] for k in ("income", "age", "utilisation", "housing", "score")) for r in rows],
        schema,
    )
    local = profile.count(profile.bin_columns(columns, columns["score"]))
    remote = spark_counts(profile, frame, score="score")
    assert remote.dtype == np.int64
    np.testing.assert_array_equal(remote, local)
    assert local[0, 0] == 4  # None, NaN, +inf, -inf
    assert local[3, 0] == 1  # missing
    assert local[3, 4] == 2  # unseen: "castle" and "OWN"

    from riskops.statistics import drift

    ref = profile.coarse(profile.reference)
    for statistic in (drift.psi, drift.jensen_shannon, drift.hellinger, drift.linf):
        np.testing.assert_allclose(
            statistic(ref, profile.coarse(remote)),
            statistic(ref, profile.coarse(local)),
            rtol=0,
            atol=1e-12,
        )
    for remote_part, local_part in zip(
        drift.chi_square(ref, profile.coarse(remote)),
        drift.chi_square(ref, profile.coarse(local)),
        strict=True,
    ):
        np.testing.assert_allclose(remote_part, local_part, rtol=0, atol=1e-12)


def test_without_a_score_column_scores_count_as_missing(
    spark: Any, profile: ReferenceProfile
) -> None:
    from riskops.monitoring.spark import spark_counts

    frame = spark.createDataFrame(
        [(1.0, 40.0, 0.2, 3), (None, None, None, None)],
        "income double, age double, utilisation double, housing long",
    )
    columns = {
        "income": np.array([1.0, np.nan]),
        "age": np.array([40.0, np.nan]),
        "utilisation": np.array([0.2, np.nan]),
        "housing": np.array([3, None], dtype=object),
    }
    local = profile.count(profile.bin_columns(columns, np.full(2, np.nan)))
    np.testing.assert_array_equal(spark_counts(profile, frame), local)


def test_bad_columns_are_named(spark: Any, profile: ReferenceProfile) -> None:
    from riskops.monitoring.spark import spark_counts

    frame = spark.createDataFrame(
        [("a", 1.0, 0.1, 1.5)], "incme string, age double, utilisation double, housing double"
    )
    with pytest.raises(DataSchemaError, match="2 problem") as caught:
        spark_counts(profile, frame)
    assert [str(p) for p in caught.value.problems] == [
        "income: column is missing; did you mean 'incme'?",
        "housing: is categorical but the column is double; use text or integers",
    ]
