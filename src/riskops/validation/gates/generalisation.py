"""Generalisation gap: how much better the candidate ranks its own training rows than rows it
never saw, and whether that gap is more than sampling noise.

With ``AUC_train`` on the training rows and ``AUC_held`` on the held-out rows (the validation
split, or the out-of-time sample when the spec has one), the gap is ``g = AUC_train − AUC_held``.
The two row sets are disjoint, so the two AUCs are independent and
``SE(g) = sqrt(SE_train² + SE_held²)``, each ``SE`` DeLong's (DeLong, DeLong & Clarke-Pearson
1988; ``riskops.statistics.delong``, exact and O(n log n), where a bootstrap of tens of
thousands of training rows would take seconds). The two-sided interval at
``gates.performance.confidence`` is ``g ± z·SE(g)``; the held-out AUC's own interval
``AUC_held ± z·SE_held`` is recorded beside it: a gap larger than its half-width is beyond what
the held-out rows' sampling noise explains.

The result ``performance.generalisation_gap`` is reported; with
``gates.performance.max_auc_gap`` set it is judged against it, always advisory (a flexible
model fits its training rows closely by construction; the held-out figures are what the other
checks judge). The evidence's ``reading`` says in words what the numbers show.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import norm

from riskops.statistics.delong import auc_covariance
from riskops.validation.gate import (
    GateInput,
    GateResult,
    one_class_result,
    threshold_check,
)

KIND = "riskops.gate/generalisation@1"
GATE = "performance.generalisation_gap"


def _auc_and_variance(y: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    aucs, covariance = auc_covariance(y, [scores])
    return float(aucs[0]), max(float(covariance[0, 0]), 0.0)


def gap_evidence(
    train_y: np.ndarray,
    train_scores: np.ndarray,
    held_y: np.ndarray,
    held_scores: np.ndarray,
    *,
    confidence: float,
    sample: str = "validation",
) -> dict[str, Any]:
    """Both AUCs, the gap, its interval and the held-out AUC's (module docstring)."""
    train_auc, train_var = _auc_and_variance(train_y, train_scores)
    held_auc, held_var = _auc_and_variance(held_y, held_scores)
    gap = train_auc - held_auc
    z = float(norm.ppf(0.5 + confidence / 2.0))
    se = math.sqrt(train_var + held_var)
    held_se = math.sqrt(held_var)
    evidence: dict[str, Any] = {
        "train_auc": train_auc,
        "held_out_auc": held_auc,
        "gap": gap,
        "se": se,
        "train_rows": len(train_y),
        "train_events": int(np.sum(train_y)),
        "sample": sample,
        "rows": len(held_y),
        "events": int(np.sum(held_y)),
        "confidence": confidence,
        "method": "DeLong standard errors of two independent AUCs",
        "ci": {
            "auc_gap": [gap - z * se, gap + z * se],
            "held_out_auc": [held_auc - z * held_se, held_auc + z * held_se],
        },
    }
    evidence["reading"] = reading(evidence)
    return evidence


def reading(evidence: dict[str, Any]) -> str:
    """What the gap means, in words built from the evidence's numbers."""
    gap, train_auc, held_auc = evidence["gap"], evidence["train_auc"], evidence["held_out_auc"]
    head = (
        f"AUC {train_auc:.4f} on the {evidence['train_rows']} training rows against "
        f"{held_auc:.4f} on the {evidence['rows']} {evidence['sample'].replace('_', '-')} rows: "
        f"a gap of {gap:+.4f}"
    )
    held_ci = evidence["ci"]["held_out_auc"]
    gap_ci = evidence["ci"]["auc_gap"]
    half_width = (held_ci[1] - held_ci[0]) / 2.0
    percent = f"{evidence['confidence']:.0%}"
    head += f" ({percent} interval {gap_ci[0]:+.4f} to {gap_ci[1]:+.4f})"
    if gap > half_width and gap_ci[0] > 0:
        return (
            f"{head}, beyond the ±{half_width:.4f} half-width of the held-out AUC's interval: "
            "the model fits its training rows more closely than new ones, as flexible models "
            "such as boosted trees do; the held-out figure is the one to rely on."
        )
    if gap_ci[0] > 0:
        return (
            f"{head}, within the ±{half_width:.4f} half-width of the held-out AUC's interval: "
            "some fit to the training rows, no more than the held-out rows' own sampling noise."
        )
    if gap_ci[1] < 0:
        return (
            f"{head}: the model ranks the held-out rows better than those it was fitted on, "
            "so the held-out rows are easier (another period or population); the held-out "
            "figure alone overstates what to expect."
        )
    return (
        f"{head}; the interval includes 0: the model ranks new rows about as well as the rows it "
        "was fitted on."
    )


class GeneralisationGate:
    name = "generalisation"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        config = data.spec.gates.performance
        for sample in (data.train, data.held_out):
            events = int(sample.y.sum())
            if min(events, len(sample.y) - events) < 2:
                return [
                    one_class_result(
                        gate=GATE,
                        kind=KIND,
                        metric="auc_gap",
                        threshold=config.max_auc_gap,
                        severity="advisory",
                        sample=sample,
                        why="the generalisation gap needs two rows of each outcome",
                    )
                ]
        held_out = data.held_out
        evidence = gap_evidence(
            data.train.y,
            data.train.scores,
            held_out.y,
            held_out.scores,
            confidence=config.confidence,
            sample=held_out.name,
        )
        if config.max_auc_gap is None:
            return [
                GateResult(
                    gate=GATE,
                    kind=KIND,
                    metric="auc_gap",
                    value=evidence["gap"],
                    threshold=None,
                    comparison="n/a",
                    severity="advisory",
                    passed=True,
                    evidence=evidence,
                )
            ]
        return [
            threshold_check(
                gate=GATE,
                kind=KIND,
                metric="auc_gap",
                value=evidence["gap"],
                threshold=config.max_auc_gap,
                comparison="<=",
                severity="advisory",
                evidence=evidence,
            )
        ]
