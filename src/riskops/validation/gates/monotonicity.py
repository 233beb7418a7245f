"""Monotonicity gate: each feature the spec declares ``monotone`` must move the score in that
direction over the whole range the model was trained on (individual conditional expectation
curves, Goldstein et al., "Peeking Inside the Black Box", 2015, checked row by row).

For a declared feature ``j``, the grid ``g_1 < … < g_m`` is the distinct values among
``grid_points`` evenly spaced quantiles (0 to 1) of ``j`` in the training rows. Up to
``sample_rows`` held-out rows (drawn without replacement with a fixed seed) each give a curve
``c_k = s(x with x_j = g_k)``. A row's violation is its largest step against the declared
direction::

    increasing: v = max(0, max_k (c_k - c_{k+1}))
    decreasing: v = max(0, max_k (c_{k+1} - c_k))

``monotonicity.<feature>`` has the largest violation over the rows as its value and passes
when it is at most ``tolerance``. With no feature declared, one result passes and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from riskops.validation.gate import GateInput, GateResult, threshold_check

KIND = "riskops.gate/monotonicity@1"
SEED = 20260101  # fixed: the same candidate and data always check the same rows


def grid(values: np.ndarray, points: int) -> np.ndarray:
    """Distinct values at ``points`` evenly spaced quantiles of the non-missing ``values``."""
    finite = values[~np.isnan(values)]
    if len(finite) == 0:
        return np.empty(0, dtype=np.float64)
    return np.unique(np.quantile(finite, np.linspace(0.0, 1.0, points)))


def curves(
    score: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, column: int, values: np.ndarray
) -> np.ndarray:
    """Scores of each row with ``column`` set to each of ``values``: shape (rows, values)."""
    batch = np.repeat(np.asarray(rows, dtype=np.float64), len(values), axis=0)
    batch[:, column] = np.tile(values, len(rows))
    return np.asarray(score(batch), dtype=np.float64).reshape(len(rows), len(values))


def violations(curve_rows: np.ndarray, direction: str) -> np.ndarray:
    """Per row, the largest step against ``direction`` (0 when the curve keeps to it)."""
    if curve_rows.shape[1] < 2:
        return np.zeros(curve_rows.shape[0], dtype=np.float64)
    steps = np.diff(curve_rows, axis=1)
    against = -steps if direction == "increasing" else steps
    return np.asarray(np.clip(against.max(axis=1), 0.0, None), dtype=np.float64)


class MonotonicityGate:
    name = "monotonicity"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        config = data.spec.gates.monotonicity
        declared = [(i, f.name, f.monotone) for i, f in enumerate(data.spec.features) if f.monotone]
        if not declared:
            return [
                GateResult(
                    gate="monotonicity",
                    kind=KIND,
                    metric="declared_relations",
                    value=None,
                    threshold=None,
                    comparison="n/a",
                    severity=config.severity,
                    passed=True,
                    evidence={"note": "no feature declares a monotone relation in the spec"},
                )
            ]
        sample = data.held_out
        count = min(config.sample_rows, len(sample.matrix))
        picked = np.sort(
            np.random.default_rng(SEED).choice(len(sample.matrix), size=count, replace=False)
        )
        rows = sample.matrix[picked]
        results = []
        for column, feature, direction in declared:
            assert direction is not None
            values = grid(data.train.matrix[:, column], config.grid_points)
            scored = curves(data.score, rows, column, values)
            per_row = violations(scored, direction)
            worst = int(np.argmax(per_row)) if len(per_row) else 0
            evidence: dict[str, Any] = {
                "feature": feature,
                "direction": direction,
                "grid": [float(v) for v in values],
                "grid_source": f"{config.grid_points} quantiles of the training rows",
                "rows_checked": int(count),
                "rows_violating": int((per_row > config.tolerance).sum()),
                "worst_row": (
                    {
                        "row": int(picked[worst]),
                        "violation": float(per_row[worst]),
                        "scores": [float(s) for s in scored[worst]],
                    }
                    if len(per_row)
                    else None
                ),
                "data": f"{sample.name} rows",
            }
            results.append(
                threshold_check(
                    gate=f"monotonicity.{feature}",
                    kind=KIND,
                    metric="max_violation",
                    value=float(per_row.max()) if len(per_row) else 0.0,
                    threshold=config.tolerance,
                    comparison="<=",
                    severity=config.severity,
                    evidence=evidence,
                )
            )
        return results
