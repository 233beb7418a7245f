"""Partial dependence of the score on the candidate's most important features, for the
validation report's dependence plots: does the score move with each feature in a direction a
credit or fraud analyst can defend?

For feature ``j`` and a grid value ``v`` the partial dependence is the mean score when every
held-out row has ``x_j`` set to ``v`` and its other features kept (Friedman, "Greedy Function
Approximation: A Gradient Boosting Machine", *Annals of Statistics* 29(5), 2001, §8.2)::

    PD_j(v) = Σ_i w_i · f(v, x_i,−j) / Σ_i w_i

with ``w_i`` the case weights of ``data.population_prevalence`` (1 without it). The 10th and
90th percentiles of the individual curves ``f(v, x_i,−j)`` (ICE, Goldstein et al. 2015) are
kept beside it, so a flat mean hiding opposite effects shows as a wide band.

The features are the ``gates.explainability.dependence_features`` most important ones, by the
explainability gate's importance (:func:`riskops.validation.gates.explainability.
global_importance`). A numeric feature's grid is the distinct training values at the 5th to
95th percentiles in ``GRID_POINTS`` steps (observed values, so an integer stays an integer); a
categorical feature's grid is each of its spec categories. At most ``MAX_ROWS`` held-out rows
are used (a seeded draw when there are more). A feature's declared ``monotone`` direction is
recorded with whether the mean curve follows it.

The result ``explainability.partial_dependence`` is reported; its value is the number of
features plotted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from riskops.spec import Feature
from riskops.validation.gate import GateInput, GateResult, population_weights
from riskops.validation.gates.explainability import global_importance

KIND = "riskops.gate/dependence@1"
GRID_POINTS = 20
MAX_ROWS = 500
SEED = 20_261_129
LOW, HIGH = 0.10, 0.90  # the ICE band's percentiles


def grid_for(feature: Feature, column: np.ndarray, points: int = GRID_POINTS) -> np.ndarray:
    """The values a feature is set to: its categories' codes, or observed training values at
    evenly spaced quantiles from 5% to 95% (distinct, ascending)."""
    if feature.type == "categorical":
        return np.arange(len(feature.categories or ()), dtype=np.float64)
    values = column[~np.isnan(column)]
    if values.size == 0:
        return np.empty(0)
    levels = np.linspace(0.05, 0.95, points)
    return np.unique(np.quantile(values, levels, method="inverted_cdf"))


def partial_dependence(
    score: Any,
    matrix: np.ndarray,
    column: int,
    grid: np.ndarray,
    weights: np.ndarray | None = None,
) -> dict[str, list[float]]:
    """Mean score and ICE band (10th, 90th percentiles) with ``column`` set to each grid value.

    Example: for ``score = lambda m: m[:, 0] / 10`` and a grid ``[1, 2]``, the mean is
    ``[0.1, 0.2]`` whatever the rows.
    """
    rows = matrix.shape[0]
    stacked = np.repeat(matrix[np.newaxis, :, :], len(grid), axis=0)
    stacked[:, :, column] = grid[:, np.newaxis]
    scores = np.asarray(score(stacked.reshape(-1, matrix.shape[1])), dtype=np.float64)
    curves = scores.reshape(len(grid), rows)
    case = np.ones(rows) if weights is None else weights
    return {
        "mean_score": [float(v) for v in curves @ case / case.sum()],
        "ice_p10": [float(v) for v in np.quantile(curves, LOW, axis=1)],
        "ice_p90": [float(v) for v in np.quantile(curves, HIGH, axis=1)],
    }


def follows(direction: str | None, values: list[float], tolerance: float = 1e-9) -> bool | None:
    """Whether a curve never moves against a declared direction; None when none is declared."""
    if direction is None or len(values) < 2:
        return None
    steps = np.diff(values)
    if direction == "increasing":
        return bool((steps >= -tolerance).all())
    return bool((steps <= tolerance).all())


class DependenceGate:
    name = "dependence"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        config = data.spec.gates.explainability
        sample = data.held_out
        names = list(data.spec.feature_names)
        importance = global_importance(data)
        ranking = sorted(importance.values.items(), key=lambda item: (-abs(item[1]), item[0]))
        top = [name for name, value in ranking if value != 0.0][: config.dependence_features]
        picked = np.arange(len(sample.y))
        if len(picked) > MAX_ROWS:
            rng = np.random.default_rng(SEED)
            picked = np.sort(rng.choice(len(picked), size=MAX_ROWS, replace=False))
        matrix = np.asarray(sample.matrix[picked], dtype=np.float64)
        weights, weighting = population_weights(data.spec, sample)
        if weights is not None:
            weights = weights[picked]
        curves = []
        for name in top:
            feature = data.spec.feature(name)
            column = names.index(name)
            grid = grid_for(feature, np.asarray(data.train.matrix[:, column], dtype=np.float64))
            if grid.size == 0:
                continue
            found = partial_dependence(data.score, matrix, column, grid, weights)
            curve: dict[str, Any] = {
                "feature": name,
                "type": feature.type,
                "importance": importance.values[name],
                "grid": [float(v) for v in grid],
                "labels": list(feature.categories) if feature.categories is not None else None,
                **found,
                "monotone": feature.monotone,
                "follows_monotone": follows(feature.monotone, found["mean_score"]),
            }
            curves.append(curve)
        evidence: dict[str, Any] = {
            "method": "partial dependence (Friedman 2001) with the 10th-90th percentile band "
            "of the individual curves",
            "ranked_by": importance.method,
            "curves": curves,
            "sample": sample.name,
            "rows": len(picked),
            "of_rows": len(sample.y),
            "weights": weighting,
            "score": "mean predicted probability of the event",
        }
        return [
            GateResult(
                gate="explainability.partial_dependence",
                kind=KIND,
                metric="features_plotted",
                value=float(len(curves)),
                threshold=None,
                comparison="n/a",
                severity=config.severity,
                passed=True,
                evidence=evidence,
            )
        ]
