"""Drift on files: ``riskops monitor compare`` (exact) against Evidently's DataDriftPreset.

A seeded synthetic population of ``--rows`` rows × 35 features (30 numeric of several shapes,
some with missing values; 5 categorical) is written to two Parquet files, reference and
current, the current one with a mild shift in a few features. Then, in the same run:

* riskops: :func:`riskops.monitoring.compare.compare_files` end to end — reading both files,
  fitting the bins on the reference, PSI/JS/Hellinger/chi-square on them, exact KS and
  Wasserstein on the raw values, data quality, and the domain classifier on a seeded subsample;
* Evidently: ``Report([DataDriftPreset()])`` on the same files, in its own interpreter
  (``--evidently-python``; it needs pandas < 3), reading included and reported apart;
* one ``ReferenceProfile.count`` (and the binning before it) over the current file's rows.

Agreement, like with like: KS statistic and p-value against ``scipy.stats.ks_2samp`` on the
same finite values; on more than 1,000 reference rows Evidently measures numeric columns with
the Wasserstein distance normed by the reference's standard deviation (exact, on raw values:
comparable with riskops' ``wasserstein_normed``) and categorical ones with the Jensen–Shannon
distance in natural log over the categories seen (comparable with riskops' base-2 distance
× √ln 2 when a column has no missing or unseen values, as here). Evidently's binned statistics
of numeric columns use equal-width bins over reference ∪ current, which move with the window:
not comparable with frozen bins, so not compared.

Usage::

    python benchmarks/drift.py --rows 100000 --evidently-python /tmp/evidently-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import stats

from riskops.monitoring.compare import bin_frame, compare_files
from riskops.monitoring.frames import read_frame
from riskops.profiles.profile import fit_profile
from riskops.spec import parse_spec

NUMERIC = 30
CATEGORICAL = 5
SHIFTED = ("n00", "n07", "n14", "c0")
HERE = Path(__file__).resolve().parent


def population(rows: int, seed: int, *, shifted: bool) -> dict[str, np.ndarray]:
    """Seeded columns; ``shifted`` moves n00's mean by 0.05 sd, widens n07 by 5%, moves n14's
    rate, and shifts c0's category shares a little."""
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    for j in range(NUMERIC):
        kind = j % 5
        if kind == 0:
            values = rng.normal(50.0, 10.0, rows)
        elif kind == 1:
            values = rng.lognormal(3.0, 0.6, rows)
        elif kind == 2:
            values = rng.gamma(2.0, 300.0, rows)
        elif kind == 3:
            values = rng.uniform(0.0, 1.0, rows)
        else:
            values = rng.poisson(12.0, rows).astype(np.float64)
        name = f"n{j:02d}"
        if shifted and name == "n00":
            values = values + 0.5
        if shifted and name == "n07":
            values = values.mean() + (values - values.mean()) * 1.05
        if shifted and name == "n14":
            values = rng.poisson(12.4, rows).astype(np.float64)
        if j % 6 == 5:  # a few columns with 2% missing
            values[rng.random(rows) < 0.02] = np.nan
        columns[name] = values
    for j in range(CATEGORICAL):
        k = 3 + j
        shares = np.arange(k, 0, -1, dtype=np.float64)
        shares /= shares.sum()
        if shifted and j == 0:
            shares = np.array([0.47, 0.33, 0.20])
        labels = np.array([f"c{j}_v{i}" for i in range(k)], dtype=object)
        columns[f"c{j}"] = labels[rng.choice(k, rows, p=shares)]
    return columns


def spec_yaml() -> str:
    features = [
        f"  - {{name: n{j:02d}, type: numeric, reason: Feature {j}}}" for j in range(NUMERIC)
    ]
    for j in range(CATEGORICAL):
        categories = ", ".join(f"c{j}_v{i}" for i in range(3 + j))
        features.append(
            f"  - {{name: c{j}, type: categorical, categories: [{categories}], reason: Cat {j}}}"
        )
    return "\n".join(
        [
            "name: drift-benchmark",
            "intended_use: Synthetic population for the drift benchmark.",
            "risk_tier: low",
            "owner: benchmarks",
            "data:",
            "  source: ref.parquet",
            "  label: {column: bad, positive: 1, negative: 0}",
            "features:",
            *features,
            'trainer: {entrypoint: "trainer.py:fit"}',
            "policy: {approve_below: 0.2, decline_from: 0.5}",
            "",
        ]
    )


def write(path: Path, columns: dict[str, np.ndarray]) -> None:
    table = pa.table(
        {
            name: pa.array(values, type=pa.string() if values.dtype == object else pa.float64())
            for name, values in columns.items()
        }
    )
    pq.write_table(table, path, row_group_size=131_072)


def run_evidently(
    python: str, ref: Path, cur: Path, numeric: list[str], categorical: list[str]
) -> dict:
    done = subprocess.run(
        [
            python,
            str(HERE / "drift_evidently.py"),
            str(ref),
            str(cur),
            ",".join(numeric),
            ",".join(categorical),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"Evidently's run failed (exit {done.returncode}); see above.")
    result: dict = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument(
        "--evidently-python",
        help="Interpreter of a virtualenv with evidently==0.7.23 (pandas < 3); without it, "
        "only riskops is measured.",
    )
    parser.add_argument("--workdir", type=Path, help="Keep the files here (default: a temp dir).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.workdir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        ref_path, cur_path = folder / "ref.parquet", folder / "cur.parquet"
        started = time.perf_counter()
        ref_columns = population(args.rows, args.seed, shifted=False)
        cur_columns = population(args.rows, args.seed + 1, shifted=True)
        write(ref_path, ref_columns)
        write(cur_path, cur_columns)
        spec = parse_spec(spec_yaml()).spec
        print(
            f"wrote 2 × {args.rows:,} rows × {len(spec.features)} features in {time.perf_counter() - started:.1f} s"
        )

        result = compare_files(ref_path, cur_path, spec)
        seconds = result.seconds
        print("riskops compare: " + ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items()))

        # One count over the current file's rows, from a profile (binning timed apart).
        frame = read_frame(cur_path, spec)
        profile = fit_profile(spec.name, 1, spec, ref_columns, np.zeros(args.rows))
        mark = time.perf_counter()
        bins = bin_frame(profile, frame)
        binned = time.perf_counter() - mark
        mark = time.perf_counter()
        counts = profile.count(bins)
        counted = time.perf_counter() - mark
        assert int(counts[0].sum()) == args.rows
        print(
            f"profile: bin {args.rows:,} rows × {len(spec.features)} features {binned:.3f} s, "
            f"one count {counted:.3f} s"
        )

        # KS against scipy on the same finite values.
        by_name = {f.feature: f for f in result.features}
        numeric = [f.name for f in spec.features if f.type == "numeric"]
        categorical = [f.name for f in spec.features if f.type == "categorical"]
        ks_stat, ks_p = 0.0, 0.0
        for name in numeric:
            a, b = ref_columns[name], cur_columns[name]
            expected = stats.ks_2samp(a[np.isfinite(a)], b[np.isfinite(b)])
            ks_stat = max(ks_stat, abs(by_name[name].ks - expected.statistic))  # type: ignore[operator]
            ks_p = max(ks_p, abs(by_name[name].ks_p - expected.pvalue))  # type: ignore[operator]
        print(
            f"KS against scipy.stats.ks_2samp: max |Δ statistic| {ks_stat:.1e}, max |Δ p| {ks_p:.1e}"
        )

        if args.evidently_python is None:
            print("Evidently not run (no --evidently-python).")
            return
        evidently = run_evidently(args.evidently_python, ref_path, cur_path, numeric, categorical)
        columns = evidently["columns"]
        w_diff, js_diff, compared_w, compared_js = 0.0, 0.0, 0, 0
        for name in numeric:
            if columns[name]["method"] == "Wasserstein distance (normed)":
                w_diff = max(w_diff, abs(by_name[name].wasserstein_normed - columns[name]["value"]))  # type: ignore[operator]
                compared_w += 1
        for name in categorical:
            if columns[name]["method"] == "Jensen-Shannon distance":
                natural = by_name[name].jensen_shannon * math.sqrt(math.log(2.0))
                js_diff = max(js_diff, abs(natural - columns[name]["value"]))
                compared_js += 1
        methods = sorted({c["method"] for c in columns.values()})
        print(f"Evidently's tests: {', '.join(methods)}")
        print(
            f"Wasserstein (normed) against Evidently's, {compared_w} numeric columns: max |Δ| {w_diff:.1e}"
        )
        print(
            f"Jensen-Shannon (natural log) against Evidently's, {compared_js} categorical columns: "
            f"max |Δ| {js_diff:.1e}"
        )
        ours = seconds["total"]
        theirs = evidently["read_seconds"] + evidently["report_seconds"]
        without = ours - seconds.get("multivariate", 0.0)
        print()
        print(
            f"| {args.rows:,} rows × 35 features, reference vs current | seconds | Evidently ÷ riskops |"
        )
        print("|---|---|---|")
        print(
            f"| Evidently 0.7.23 DataDriftPreset (read {evidently['read_seconds']:.1f} s + report {evidently['report_seconds']:.1f} s) | {theirs:.1f} | 1.0× |"
        )
        print(
            f"| riskops monitor compare, exact, with the domain classifier | {ours:.1f} | {theirs / ours:.1f}× |"
        )
        print(
            f"| riskops monitor compare, exact, without the domain classifier | {without:.1f} | {theirs / without:.1f}× |"
        )
        print(
            f"| one ReferenceProfile.count over {args.rows:,} rows (binning {binned:.2f} s apart) | {counted:.3f} | — |"
        )


if __name__ == "__main__":
    main()
