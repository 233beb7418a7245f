"""Robustness gate: a small relative change of the numeric inputs must move the score only a
little (EU AI Act Art. 15: resilience to errors in the input).

For relative perturbation ``r`` and each held-out row ``x`` with score ``s(x)``, every numeric
feature is multiplied by ``1 + r`` (``x⁺``) and, separately, by ``1 - r`` (``x⁻``); a missing
value stays missing and category codes are never touched. The row's change is the larger of
the two directions::

    d(x) = max(|s(x⁺) - s(x)|, |s(x⁻) - s(x)|)

``robustness.mean_abs_score_change`` is the mean of ``d`` over the rows (<= the spec's
``max_mean_abs_score_change``); ``robustness.max_abs_score_change`` its maximum (checked only
when ``max_abs_score_change`` is set). The evidence gives the same two numbers for each
numeric feature perturbed alone, largest first.

A relative change leaves an integer input (a count, a duration in months) where it was once
rounding happens upstream, so 1% of a small integer tests nothing. ``feature_steps`` in the
evidence therefore moves each numeric feature alone by a step that means something for it:
one unit when its training values are all whole numbers, else the width of its middle decile
(training 45th to 55th percentile), both ways, and reports the mean and largest score change
per feature (recorded, not judged).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from riskops.validation.gate import GateInput, GateResult, threshold_check

KIND = "riskops.gate/robustness@1"


def score_change(
    score: Callable[[np.ndarray], np.ndarray],
    matrix: np.ndarray,
    columns: Sequence[int],
    relative: float,
) -> np.ndarray:
    """Per row, the larger absolute score change of scaling ``columns`` by ``1 ± relative``."""
    base = score(matrix)
    change = np.zeros(len(matrix), dtype=np.float64)
    for factor in (1.0 + relative, 1.0 - relative):
        moved = np.array(matrix, dtype=np.float64, copy=True)
        moved[:, list(columns)] *= factor  # NaN * factor stays NaN: missing values stay missing
        change = np.maximum(change, np.abs(score(moved) - base))
    return change


def feature_step(values: np.ndarray) -> tuple[float, str]:
    """The step that moves a feature meaningfully, and what it is: one unit for whole-number
    values, else the width of the middle decile of ``values`` (missing values ignored)."""
    present = values[~np.isnan(values)]
    if present.size == 0:
        return 0.0, "no value to step from"
    if np.all(present == np.round(present)):
        return 1.0, "one unit (whole-number values)"
    low, high = np.quantile(present, [0.45, 0.55])
    return float(high - low), "middle-decile width (training 45th to 55th percentile)"


def step_change(
    score: Callable[[np.ndarray], np.ndarray], matrix: np.ndarray, column: int, step: float
) -> np.ndarray:
    """Per row, the larger absolute score change of adding and subtracting ``step`` to
    ``column`` (a missing value stays missing)."""
    base = score(matrix)
    change = np.zeros(len(matrix), dtype=np.float64)
    for sign in (1.0, -1.0):
        moved = np.array(matrix, dtype=np.float64, copy=True)
        moved[:, column] += sign * step
        change = np.maximum(change, np.abs(score(moved) - base))
    return change


def feature_steps(
    data: GateInput, matrix: np.ndarray, numeric: Sequence[int]
) -> list[dict[str, Any]]:
    """Each numeric feature moved alone by :func:`feature_step`, largest mean change first."""
    rows: list[dict[str, Any]] = []
    for column in numeric:
        step, kind = feature_step(np.asarray(data.train.matrix[:, column], dtype=np.float64))
        change = step_change(data.score, matrix, column, step)
        rows.append(
            {
                "feature": data.spec.features[column].name,
                "step": step,
                "step_kind": kind,
                "mean_abs_score_change": float(change.mean()),
                "max_abs_score_change": float(change.max()),
            }
        )
    rows.sort(key=lambda row: (-float(row["mean_abs_score_change"]), str(row["feature"])))
    return rows


class RobustnessGate:
    name = "robustness"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        config = data.spec.gates.robustness
        sample = data.held_out
        numeric = [i for i, f in enumerate(data.spec.features) if f.type == "numeric"]
        if not numeric or len(sample.matrix) == 0:
            return [
                GateResult(
                    gate="robustness.mean_abs_score_change",
                    kind=KIND,
                    metric="mean_abs_score_change",
                    value=None,
                    threshold=config.max_mean_abs_score_change,
                    comparison="n/a",
                    severity=config.severity,
                    passed=True,
                    evidence={"note": "no numeric feature or no held-out row to perturb"},
                )
            ]
        relative = config.relative_perturbation
        joint = score_change(data.score, sample.matrix, numeric, relative)
        changes: list[tuple[str, float, float]] = []
        for column in numeric:
            alone = score_change(data.score, sample.matrix, [column], relative)
            changes.append(
                (data.spec.features[column].name, float(alone.mean()), float(alone.max()))
            )
        changes.sort(key=lambda row: (-row[1], row[0]))
        per_feature = [
            {"feature": name, "mean_abs_score_change": mean, "max_abs_score_change": largest}
            for name, mean, largest in changes
        ]
        mean_change = float(joint.mean())
        max_change = float(joint.max())
        evidence: dict[str, Any] = {
            "relative_perturbation": relative,
            "mean_abs_score_change": mean_change,
            "max_abs_score_change": max_change,
            "features": per_feature,
            "feature_steps": feature_steps(data, sample.matrix, numeric),
            "rows": len(joint),
            "data": f"{sample.name} rows",
            "method": (
                f"every numeric feature scaled by 1 + {relative:g} and by 1 - {relative:g}; "
                "per row the larger absolute score change; missing values and category codes "
                "unchanged"
            ),
        }
        results = [
            threshold_check(
                gate="robustness.mean_abs_score_change",
                kind=KIND,
                metric="mean_abs_score_change",
                value=mean_change,
                threshold=config.max_mean_abs_score_change,
                comparison="<=",
                severity=config.severity,
                evidence=evidence,
            )
        ]
        if config.max_abs_score_change is not None:
            results.append(
                threshold_check(
                    gate="robustness.max_abs_score_change",
                    kind=KIND,
                    metric="max_abs_score_change",
                    value=max_change,
                    threshold=config.max_abs_score_change,
                    comparison="<=",
                    severity=config.severity,
                    evidence=evidence,
                )
            )
        return results
