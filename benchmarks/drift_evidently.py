"""Evidently's side of benchmarks/drift.py, run by that script with Evidently's own interpreter.

Evidently needs pandas < 3, which the project's environment does not have, so it lives in its
own virtualenv (see benchmarks/README.md) and this file imports nothing from riskops. It reads
the two Parquet files with pandas, runs ``Report([DataDriftPreset()])`` once, and prints one JSON
object: the seconds spent reading and in the report, and each column's drift method and value.

    /tmp/evidently-venv/bin/python benchmarks/drift_evidently.py REF CUR NUMERIC CATEGORICAL
"""

from __future__ import annotations

import json
import re
import sys
import time

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

VALUE_DRIFT = re.compile(r"^ValueDrift\(column=(?P<column>.+?),method=(?P<method>[^,]+),")


def main() -> None:
    reference, current, numeric, categorical = sys.argv[1:5]
    numeric_columns = numeric.split(",") if numeric else []
    categorical_columns = categorical.split(",") if categorical else []
    started = time.perf_counter()
    ref = pd.read_parquet(reference)
    cur = pd.read_parquet(current)
    read = time.perf_counter() - started

    definition = DataDefinition(
        numerical_columns=numeric_columns, categorical_columns=categorical_columns
    )
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    report = time.perf_counter() - started
    values: dict[str, dict[str, object]] = {}
    for metric in snapshot.dict()["metrics"]:
        found = VALUE_DRIFT.match(metric["metric_name"])
        if found:
            values[found["column"]] = {"method": found["method"], "value": metric["value"]}
    json.dump({"read_seconds": read, "report_seconds": report, "columns": values}, sys.stdout)


if __name__ == "__main__":
    main()
