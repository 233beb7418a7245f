"""Benchmark gate: a simple, transparent challenger fitted by the platform itself, compared with
the candidate side by side on the same held-out rows (SR 11-7's "comparison with alternative
theories and approaches").

The benchmark is a logistic regression in the scorecard's shape, fitted on the candidate's own
training rows (``GateInput.train``): every categorical feature one-hot encoded on the spec's
categories (a missing value is a column of its own), every numeric feature with missing values
filled by the training median and standardised, an L2 penalty with ``C = 1`` (scikit-learn's
``LogisticRegression``, lbfgs, deterministic). It needs no tuning, so it shows what the data
give without the candidate's flexibility. When the spec sets ``data.population_prevalence``
(rows sampled with more events than the population has), the benchmark's probabilities are
moved to it by the prior shift of ``riskops.statistics.prevalence``, as a reference trainer
does, so Brier scores compare like with like.

On the held-out rows both scores are measured with AUC, KS, Brier score and PR-AUC (formulas in
``riskops.statistics.discrimination``), with the case weights of ``data.population_prevalence``
where the spec sets it, as the performance gate does. The AUC difference ``d = AUC(candidate) −
AUC(benchmark)`` has DeLong's standard error for two correlated AUCs on the same rows
(``riskops.statistics.delong``) and its two-sided interval at ``confidence``; every other
difference a paired percentile bootstrap interval (rows resampled jointly for both scores,
``bootstrap_resamples`` times, fixed seed).

The result ``benchmark.auc_lift`` has ``d`` as its value. It is reported, unless
``gates.benchmark.min_auc_lift`` is set: then the candidate must beat the benchmark by that
much (advisory by default). A candidate no better than the benchmark is worth a finding: its
complexity buys nothing measurable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm

from riskops.spec import BenchmarkGate as BenchmarkConfig
from riskops.spec import ModelSpec
from riskops.statistics.bootstrap import bootstrap
from riskops.statistics.delong import compare_aucs
from riskops.statistics.discrimination import weighted_metrics
from riskops.statistics.prevalence import prior_shift
from riskops.validation.gate import (
    GateInput,
    GateResult,
    Sample,
    one_class_result,
    population_weights,
    threshold_check,
)

KIND = "riskops.gate/benchmark@1"
SEED = 20_261_129
METRICS = ("auc", "ks", "brier", "pr_auc")
_BETTER = {"auc": "higher", "ks": "higher", "brier": "lower", "pr_auc": "higher"}
DESCRIPTION = (
    "logistic regression fitted on the candidate's training rows: categories one-hot, numbers "
    "median-filled and standardised, L2 penalty C = 1"
)


def fit_benchmark(spec: ModelSpec, matrix: np.ndarray, y: np.ndarray) -> Any:
    """The benchmark pipeline fitted on an encoded ``matrix`` (spec order, categories as codes).

    Example: ``fit_benchmark(spec, data.train.matrix, data.train.y).predict_proba(m)[:, 1]``.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [i for i, f in enumerate(spec.features) if f.type == "categorical"]
    numeric = [i for i, f in enumerate(spec.features) if f.type != "categorical"]
    parts: list[tuple[str, Any, list[int]]] = []
    if categorical:
        codes = [
            [float(c) for c in range(len(spec.features[i].categories or ()))] for i in categorical
        ]
        # a category code absent from training, or a missing value, gets no column of its own:
        # handle_unknown="ignore" scores it at the reference (all zeros)
        parts.append(
            (
                "categories",
                Pipeline(
                    [
                        ("missing", SimpleImputer(strategy="constant", fill_value=-1.0)),
                        ("onehot", OneHotEncoder(categories=codes, handle_unknown="ignore")),
                    ]
                ),
                categorical,
            )
        )
    if numeric:
        parts.append(
            (
                "numbers",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                        ("scale", StandardScaler()),
                    ]
                ),
                numeric,
            )
        )
    model = Pipeline(
        [
            ("prepare", ColumnTransformer(parts)),
            ("logit", LogisticRegression(C=1.0, max_iter=2000, random_state=SEED)),
        ]
    )
    model.fit(matrix, y)
    return model


def comparison_evidence(
    sample: Sample,
    benchmark_scores: np.ndarray,
    config: BenchmarkConfig,
    weights: np.ndarray | None,
) -> dict[str, Any]:
    """Both scores' metrics on ``sample``, their differences and intervals (module docstring)."""
    case = np.ones(len(sample.y)) if weights is None else weights

    def both(counts: np.ndarray) -> dict[str, np.ndarray]:
        candidate = weighted_metrics(sample.y, sample.scores, counts * case)
        benchmark = weighted_metrics(sample.y, benchmark_scores, counts * case)
        return {m: candidate[m] - benchmark[m] for m in METRICS}

    candidate = weighted_metrics(sample.y, sample.scores, case[np.newaxis, :])
    benchmark = weighted_metrics(sample.y, benchmark_scores, case[np.newaxis, :])
    intervals = bootstrap(
        both,
        rows=len(sample.y),
        resamples=config.bootstrap_resamples,
        confidence=config.confidence,
        seed=SEED,
    )
    delong = compare_aucs(sample.y, sample.scores, benchmark_scores)
    z = float(norm.ppf(0.5 + config.confidence / 2.0))
    rows = []
    for m in METRICS:
        interval: list[float | None]
        if m == "auc":
            interval = [delong.difference - z * delong.se, delong.difference + z * delong.se]
            method = "DeLong"
        else:
            found = intervals.get(m)
            interval = found.as_list() if found is not None else [None, None]
            method = "paired bootstrap" if found is not None else "none"
        rows.append(
            {
                "metric": m,
                "candidate": float(candidate[m][0]),
                "benchmark": float(benchmark[m][0]),
                "difference": float(candidate[m][0] - benchmark[m][0]),
                "ci_low": interval[0],
                "ci_high": interval[1],
                "interval": method,
                "better": _BETTER[m],
            }
        )
    return {
        "comparison": rows,
        "difference": delong.difference,
        "se": delong.se,
        "ci": {"auc_lift": [rows[0]["ci_low"], rows[0]["ci_high"]]},
        "confidence": config.confidence,
        "bootstrap": {"resamples": config.bootstrap_resamples, "seed": SEED},
    }


def reading(rows: list[dict[str, Any]], confidence: float) -> str:
    """One sentence on the AUC difference, built from its numbers."""
    auc = rows[0]
    low, high, d = auc["ci_low"], auc["ci_high"], auc["difference"]
    span = f"{confidence:.0%} interval {low:+.4f} to {high:+.4f}"
    if low > 0:
        verdict = "the candidate ranks cases better than the benchmark, beyond sampling noise"
    elif high < 0:
        verdict = (
            "the benchmark ranks cases better than the candidate: the candidate's added "
            "complexity costs discrimination"
        )
    else:
        verdict = (
            "the interval includes 0, so these rows cannot tell the two apart: the candidate's "
            "added complexity buys no measurable discrimination"
        )
    return f"AUC {auc['candidate']:.4f} against {auc['benchmark']:.4f}, a difference of {d:+.4f} ({span}): {verdict}."


class BenchmarkGate:
    name = "benchmark"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        config = data.spec.gates.benchmark
        sample = data.held_out
        for checked, why in (
            (data.train, "the benchmark cannot be fitted"),
            (sample, "the two scores cannot be compared"),
        ):
            events = int(checked.y.sum())
            if min(events, len(checked.y) - events) < 2:
                return [
                    one_class_result(
                        gate="benchmark.auc_lift",
                        kind=KIND,
                        metric="auc_lift",
                        threshold=config.min_auc_lift,
                        severity=config.severity,
                        sample=checked,
                        why=why,
                    )
                ]
        model = fit_benchmark(data.spec, data.train.matrix, data.train.y)
        benchmark_scores = np.asarray(model.predict_proba(sample.matrix)[:, 1], dtype=np.float64)
        prevalence = data.spec.data.population_prevalence
        if prevalence is not None:
            benchmark_scores = prior_shift(
                benchmark_scores,
                sample_rate=float(data.train.y.mean()),
                population_rate=prevalence,
            )
        weights, weighting = population_weights(data.spec, sample)
        evidence = comparison_evidence(sample, benchmark_scores, config, weights)
        evidence.update(
            {
                "benchmark": DESCRIPTION,
                "fitted_on": f"{len(data.train.y)} {data.train.name} rows "
                f"({int(data.train.y.sum())} events)",
                "sample": sample.name,
                "rows": len(sample.y),
                "events": int(sample.y.sum()),
                "weights": weighting,
                "prior_shift": (
                    f"benchmark probabilities moved to data.population_prevalence {prevalence}"
                    if prevalence is not None
                    else None
                ),
                "reading": reading(evidence["comparison"], config.confidence),
            }
        )
        lift = float(evidence["difference"])
        if config.min_auc_lift is None:
            return [
                GateResult(
                    gate="benchmark.auc_lift",
                    kind=KIND,
                    metric="auc_lift",
                    value=lift,
                    threshold=None,
                    comparison="n/a",
                    severity=config.severity,
                    passed=True,
                    evidence=evidence,
                )
            ]
        return [
            threshold_check(
                gate="benchmark.auc_lift",
                kind=KIND,
                metric="auc_lift",
                value=lift,
                threshold=config.min_auc_lift,
                comparison=">=",
                severity=config.severity,
                evidence=evidence,
            )
        ]
