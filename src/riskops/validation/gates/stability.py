"""Stability gate: is the population the model will score the one it was trained on?

It compares the training rows (expected) with the held-out rows (actual: the out-of-time
sample when the spec has one, else the validation split), with the population stability
index (formula, binning and the empty-bin floor in ``riskops.statistics.stability``):

* ``stability.score_psi`` — PSI of the candidate's score, binned at the deciles (``bins``
  quantiles) of the training scores; ``<= max_score_psi`` (``n/a`` when unset).
* ``stability.max_csi`` — the largest characteristic stability index over the spec's
  features (numeric: quantile bins of the training values, missing as its own bin;
  categorical: one bin per category plus missing); ``<= max_feature_csi``. One result rather
  than one per feature keeps gate names short and the result list readable; the evidence
  holds every feature's CSI and bins, largest first, under ``"features"``.

The training scores are in-sample: a model that overfits spreads them wider than it will
spread new rows, which shows as score PSI even without any population shift. The evidence
says so, so a reader weighs the score PSI against the features' CSI.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from riskops.spec import StabilityGate as StabilityConfig
from riskops.statistics.stability import (
    EPSILON,
    StabilityIndex,
    categorical_stability,
    numeric_stability,
)
from riskops.validation.gate import GateInput, GateResult, threshold_check

KIND = "riskops.gate/stability@1"
IN_SAMPLE_NOTE = (
    "training scores are in-sample; overfitting alone widens them against held-out rows, so "
    "read the score PSI with the features' CSI"
)


def feature_stability(expected: pd.Series, actual: pd.Series, *, bins: int) -> StabilityIndex:
    """CSI of one typed feature column (``category`` dtype or float) between two samples."""
    if isinstance(expected.dtype, pd.CategoricalDtype):
        categories = [str(c) for c in expected.cat.categories]
        actual_typed = pd.Categorical(actual, categories=expected.cat.categories)
        return categorical_stability(
            expected.cat.codes.to_numpy(), np.asarray(actual_typed.codes), categories
        )
    return numeric_stability(
        expected.to_numpy(dtype=np.float64, na_value=np.nan),
        actual.to_numpy(dtype=np.float64, na_value=np.nan),
        bins=bins,
    )


def _bins(index: StabilityIndex) -> list[dict[str, Any]]:
    return [
        {
            "bin": b.label,
            "lower": b.lower,
            "upper": b.upper,
            "expected_count": b.expected_count,
            "actual_count": b.actual_count,
            "expected_share": b.expected_share,
            "actual_share": b.actual_share,
            "contribution": b.contribution,
        }
        for b in index.bins
    ]


class StabilityGate:
    name = "stability"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        config = data.spec.gates.stability
        expected, actual = data.train, data.held_out
        common = {
            "expected_sample": expected.name,
            "actual_sample": actual.name,
            "expected_rows": len(expected.y),
            "actual_rows": len(actual.y),
            "bins": config.bins,
            "epsilon": EPSILON,
        }
        score = numeric_stability(expected.scores, actual.scores, bins=config.bins)
        score_evidence = {
            **common,
            "psi": score.value,
            "table": _bins(score),
            "note": IN_SAMPLE_NOTE,
        }

        features: list[dict[str, Any]] = []
        for feature in data.spec.features:
            index = feature_stability(
                expected.features[feature.name], actual.features[feature.name], bins=config.bins
            )
            features.append(
                {
                    "feature": feature.name,
                    "type": feature.type,
                    "csi": index.value,
                    "bins": _bins(index),
                }
            )
        features.sort(key=lambda row: -float(row["csi"]))
        largest = features[0] if features else None
        feature_evidence = {
            **common,
            "max_feature": largest["feature"] if largest else None,
            "features": features,
        }
        max_csi = float(largest["csi"]) if largest else 0.0
        return [
            self._result(
                "score_psi", "psi", score.value, config.max_score_psi, config, score_evidence
            ),
            self._result(
                "max_csi", "csi", max_csi, config.max_feature_csi, config, feature_evidence
            ),
        ]

    @staticmethod
    def _result(
        name: str,
        metric: str,
        value: float,
        threshold: float | None,
        config: StabilityConfig,
        evidence: dict[str, Any],
    ) -> GateResult:
        if threshold is None:
            return GateResult(
                gate=f"stability.{name}",
                kind=KIND,
                metric=metric,
                value=value,
                threshold=None,
                comparison="n/a",
                severity=config.severity,
                passed=True,
                evidence=evidence,
            )
        return threshold_check(
            gate=f"stability.{name}",
            kind=KIND,
            metric=metric,
            value=value,
            threshold=threshold,
            comparison="<=",
            severity=config.severity,
            evidence=evidence,
        )
