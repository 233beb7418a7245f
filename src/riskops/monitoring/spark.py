"""The Spark engine: a reference profile's fine-bin counts from a Spark DataFrame.

Returns exactly what the local engine returns, ``profile.count(profile.bin_columns(...))``:
an int64 ``(F + 1, width)`` array, features in spec order, the score last. Everything runs in
the JVM (no Python workers), in one pass and one small shuffle:

* numeric (features and score): ``pyspark.ml.feature.Bucketizer`` with splits
  ``[−∞, e₀, …, e_last, +∞]`` puts a finite ``x`` in bucket ``#{e ≤ x}``, the same binary
  search as the profile's ``searchsorted(edges, x, side="right")``; the profile's bin is that
  bucket + 1. Null, NaN and ±∞ go to bin 0 (missing), as locally.
* categorical: the column's text (integers cast to their decimal text, as ``str()`` writes
  them) matched against the spec's categories in order: bin ``i + 1`` for category ``i``, 0 for
  null, ``k + 1`` for anything else (unseen; its text never leaves the executors).
* counting: each row explodes into its ``F + 1`` flat indices ``row · width + bin``; one
  ``groupBy().count()`` gives the non-zero cells, collected into the array.

A numeric feature stored as text, or a categorical one stored as floating point (whose text
differs between the JVM and Python, ``1.0E20`` against ``1e+20``), is refused rather than
binned differently from the local engine.

Example::

    counts = spark_counts(profile, spark.read.parquet("window.parquet"), score="score")
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

import numpy as np

from riskops.errors import DataSchemaError, InputError, MissingExtraError, Problem
from riskops.profiles.profile import CategoricalBins, NumericBins, ReferenceProfile

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


def spark_counts(
    profile: ReferenceProfile, frame: DataFrame, *, score: str | None = None
) -> np.ndarray:
    """int64 ``(F + 1, width)`` counts of ``frame`` over ``profile``'s bins.

    ``score`` names the score column; without one every score counts as missing (as for the
    local engine given NaN scores).
    """
    try:
        from pyspark.ml.feature import Bucketizer
        from pyspark.sql import functions as F
    except ModuleNotFoundError as error:
        if error.name is not None and error.name.split(".")[0] in {"pyspark", "py4j"}:
            raise MissingExtraError("The Spark monitoring engine", "pyspark", "spark") from None
        raise

    _check_columns(profile, frame, score)
    width = profile.width
    numeric: list[tuple[int, NumericBins, str]] = []
    bin_columns: list[Column] = []
    prepared = frame
    rows = list(profile.rows)
    for r, bins in enumerate(rows):
        source = score if bins is profile.score else bins.name
        if isinstance(bins, CategoricalBins):
            bin_columns.append(_categorical_bin(F, bins, F.col(_quoted(bins.name))))
            continue
        if source is None:
            bin_columns.append(F.lit(0))
            continue
        value = f"__riskops_value_{r}"
        prepared = prepared.withColumn(value, F.col(_quoted(source)).cast("double"))
        numeric.append((r, bins, value))
    if numeric:
        bucketizer = Bucketizer(
            splitsArray=[[-float("inf"), *b.fine_edges, float("inf")] for _, b, _ in numeric],
            inputCols=[value for _, _, value in numeric],
            outputCols=[f"__riskops_bucket_{r}" for r, _, _ in numeric],
            handleInvalid="keep",
        )
        prepared = bucketizer.transform(prepared)
        finished: dict[int, Column] = {}
        for r, _, value in numeric:
            number = F.col(value)
            invalid = number.isNull() | F.isnan(number) | (F.abs(number) == float("inf"))
            bucket = F.col(f"__riskops_bucket_{r}").cast("int") + F.lit(1)
            finished[r] = F.when(invalid, F.lit(0)).otherwise(bucket)
        # Rebuild the list in row order: numeric rows were left out above.
        ordered: list[Column] = []
        categorical = iter(bin_columns)
        for r in range(len(rows)):
            if r in finished:
                ordered.append(finished[r])
            else:
                ordered.append(next(categorical))
        bin_columns = ordered
    flat = [
        (F.lit(r * width) + column.cast("long")).alias(f"c{r}")
        for r, column in enumerate(bin_columns)
    ]
    cells = (
        prepared.select(F.explode(F.array(*flat)).alias("cell")).groupBy("cell").count().collect()
    )
    counts = np.zeros(len(rows) * width, dtype=np.int64)
    for row in cells:
        counts[int(row["cell"])] = int(row["count"])
    return counts.reshape(len(rows), width)


def _categorical_bin(functions: Any, bins: CategoricalBins, column: Column) -> Column:
    text = column.cast("string")
    expression = functions.when(column.isNull(), functions.lit(0))
    for i, category in enumerate(bins.categories):
        expression = expression.when(text == functions.lit(category), functions.lit(i + 1))
    result: Column = expression.otherwise(functions.lit(len(bins.categories) + 1))
    return result


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _check_columns(profile: ReferenceProfile, frame: DataFrame, score: str | None) -> None:
    types = {field.name: field.dataType.typeName() for field in frame.schema.fields}
    wanted: list[tuple[str, bool]] = [
        (b.name, isinstance(b, NumericBins)) for b in profile.features
    ]
    if score is not None:
        wanted.append((score, True))
    problems: list[Problem] = []
    numbers = {"byte", "short", "integer", "long", "float", "double", "decimal", "boolean"}
    for name, is_numeric in wanted:
        if name not in types:
            close = difflib.get_close_matches(name, list(types), n=3, cutoff=0.6)
            near = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            problems.append(Problem(name, f"column is missing{near}", code="missing"))
        elif is_numeric and types[name] not in numbers | {"void"}:
            problems.append(
                Problem(name, f"is numeric but the column is {types[name]}", code="wrong_type")
            )
        elif not is_numeric and types[name] not in {
            "string",
            "byte",
            "short",
            "integer",
            "long",
            "void",
        }:
            problems.append(
                Problem(
                    name,
                    f"is categorical but the column is {types[name]}; use text or integers",
                    code="wrong_type",
                )
            )
    if problems:
        raise DataSchemaError(
            f"The DataFrame does not have the columns {profile.model}@{profile.version} "
            f"bins ({len(problems)} problem(s)):",
            problems=problems,
            hint="Select or cast the spec's features (and the score) by their spec names.",
        )
    if score is not None and score in {b.name for b in profile.features}:
        raise InputError(
            f"The score column {score!r} is also a feature.", hint="Name the score's own column."
        )
