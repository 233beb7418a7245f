"""Performance gate: discrimination and accuracy of the score on rows the model never saw.

On the test partition (``data.split.holdout_size``; the validation split when the spec keeps
none), and on the out-of-time sample when the spec has one, it measures AUC,
Gini, KS, PR-AUC (average precision), Brier score and log-loss (formulas in
``riskops.statistics.discrimination``), each with a percentile bootstrap interval
(``bootstrap_resamples`` resamples of the rows at ``confidence``, fixed seed, so a rerun gives
the same interval; ``riskops.statistics.bootstrap``).

Each threshold set in ``gates.performance`` (``min_auc``, ``min_ks``, ``min_gini``,
``min_pr_auc``, ``max_brier``, ``max_log_loss``) gives one result per sample, named
``performance.<metric>`` on the test partition (or validation split) and ``performance.out_of_time.<metric>`` on
the out-of-time sample; the point estimate is compared with the threshold. The AUC is always
reported (as ``n/a`` when ``min_auc`` is unset) so the documents have the sample's evidence:
every value and interval, the ROC and precision–recall curves (101 points each, see
``riskops.statistics.curves``) and the score histogram by class (20 bins on [0, 1]).

When the spec sets ``data.population_prevalence`` every metric is computed with the case
weights that restore it (:func:`riskops.validation.gate.population_weights`): AUC, Gini and KS
do not change, PR-AUC, Brier, log-loss and the precision–recall curve are the population's. The
evidence's ``weights`` says which; the score histogram still counts the sample's rows.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from riskops.spec import PerformanceGate as PerformanceConfig
from riskops.statistics.bootstrap import bootstrap
from riskops.statistics.curves import pr_points, roc_points, score_histogram
from riskops.statistics.discrimination import weighted_metrics
from riskops.validation.gate import (
    GateInput,
    GateResult,
    Sample,
    one_class_result,
    population_weights,
    threshold_check,
)

KIND = "riskops.gate/performance@1"
SEED = 20_261_129
CURVE_POINTS = 101
HISTOGRAM_BINS = 20

# (metric, the spec field holding its threshold, how the value must compare with it)
CHECKS: tuple[tuple[str, str, Literal[">=", "<="]], ...] = (
    ("auc", "min_auc", ">="),
    ("ks", "min_ks", ">="),
    ("gini", "min_gini", ">="),
    ("pr_auc", "min_pr_auc", ">="),
    ("brier", "max_brier", "<="),
    ("log_loss", "max_log_loss", "<="),
)

_DESCRIPTION = {
    "validation": "validation split (rows held out from training)",
    "test": "test partition (rows held out from training and tuning, scored once)",
    "out_of_time": "out-of-time sample (later applications)",
}


def sample_evidence(
    sample: Sample, config: PerformanceConfig, weights: np.ndarray | None = None
) -> dict[str, Any]:
    """Every metric, its bootstrap interval and the curves of one scored sample; ``weights``
    are case weights (see the module docstring)."""
    case = np.ones(len(sample.y)) if weights is None else weights
    values = {
        name: float(v[0])
        for name, v in weighted_metrics(sample.y, sample.scores, case[np.newaxis, :]).items()
    }
    intervals = bootstrap(
        lambda counts: weighted_metrics(sample.y, sample.scores, counts * case),
        rows=len(sample.y),
        resamples=config.bootstrap_resamples,
        confidence=config.confidence,
        seed=SEED,
    )
    replicates = min((i.replicates for i in intervals.values()), default=0)
    return {
        "sample": sample.name,
        "data": _DESCRIPTION.get(sample.name, sample.name),
        "rows": len(sample.y),
        "events": int(sample.y.sum()),
        "values": values,
        "ci": {name: interval.as_list() for name, interval in intervals.items()},
        "confidence": config.confidence,
        "bootstrap": {
            "method": "percentile",
            "resamples": config.bootstrap_resamples,
            "replicates_used": replicates,
            "seed": SEED,
        },
        "roc": roc_points(sample.y, sample.scores, points=CURVE_POINTS),
        "pr": pr_points(sample.y, sample.scores, points=CURVE_POINTS, weights=weights),
        "score_histogram": score_histogram(sample.y, sample.scores, bins=HISTOGRAM_BINS),
    }


class PerformanceGate:
    name = "performance"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        config = data.spec.gates.performance
        samples = [("performance", data.test if data.test is not None else data.validation)]
        if data.out_of_time is not None:
            samples.append(("performance.out_of_time", data.out_of_time))
        results: list[GateResult] = []
        for prefix, sample in samples:
            events = int(sample.y.sum())
            if events == 0 or events == len(sample.y):
                results.append(_unmeasurable(prefix, sample, config))
                continue
            weights, weighting = population_weights(data.spec, sample)
            evidence = sample_evidence(sample, config, weights)
            evidence["weights"] = weighting
            if weights is not None:
                evidence["curves_note"] = (
                    "the precision-recall curve is reweighted; the score histogram counts the "
                    "sample's rows"
                )
            for metric, field, comparison in CHECKS:
                threshold = getattr(config, field)
                if threshold is None:
                    if metric == "auc":
                        results.append(_reported(f"{prefix}.auc", "auc", evidence, config))
                    continue
                results.append(
                    threshold_check(
                        gate=f"{prefix}.{metric}",
                        kind=KIND,
                        metric=metric,
                        value=evidence["values"][metric],
                        threshold=threshold,
                        comparison=comparison,
                        severity=config.severity,
                        evidence=evidence,
                    )
                )
        return results


def _reported(
    gate: str, metric: str, evidence: dict[str, Any], config: PerformanceConfig
) -> GateResult:
    """A value reported for the record, with no threshold to meet."""
    return GateResult(
        gate=gate,
        kind=KIND,
        metric=metric,
        value=evidence["values"][metric],
        threshold=None,
        comparison="n/a",
        severity=config.severity,
        passed=True,
        evidence=evidence,
    )


def _unmeasurable(prefix: str, sample: Sample, config: PerformanceConfig) -> GateResult:
    return one_class_result(
        gate=f"{prefix}.auc",
        kind=KIND,
        metric="auc",
        threshold=config.min_auc,
        severity=config.severity,
        sample=sample,
        why="discrimination cannot be measured; supply rows with both outcomes",
    )
