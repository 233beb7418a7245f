"""Generalisation gap: how much better the candidate ranks its own training rows than rows it
never saw, and whether that gap is more than sampling noise.

With ``AUC_train`` on the training rows and ``AUC_held`` on the held-out rows (the validation
split, or the out-of-time sample when the spec has one), the gap is ``g = AUC_train − AUC_held``.
Its interval is a percentile bootstrap: each replicate resamples the two row sets
independently (they are disjoint) and takes the difference of the two AUCs
(``gates.performance.bootstrap_resamples`` replicates at ``confidence``, fixed seed;
``riskops.statistics.bootstrap``). The held-out AUC's own interval is recorded beside it (the
held-out resamples are the performance gate's, so it is the interval that gate reports): a gap
larger than that interval's half-width is beyond what resampling the held-out rows explains.

The result ``performance.generalisation_gap`` is reported; with
``gates.performance.max_auc_gap`` set it is judged against it, always advisory (a flexible
model fits its training rows closely by construction; the held-out figures are what the other
checks judge). The evidence's ``reading`` says in words what the numbers show.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from riskops.statistics.bootstrap import percentile_interval, resample_counts
from riskops.statistics.discrimination import weighted_metrics
from riskops.validation.gate import (
    GateInput,
    GateResult,
    Sample,
    one_class_result,
    threshold_check,
)

KIND = "riskops.gate/generalisation@1"
SEED = 20_261_129  # the performance gate's, so the held-out AUC interval is the same one
GATE = "performance.generalisation_gap"


def _auc_replicates(sample: Sample, resamples: int, seed: int) -> np.ndarray:
    counts = resample_counts(rows=len(sample.y), resamples=resamples, seed=seed)
    return np.asarray(weighted_metrics(sample.y, sample.scores, counts)["auc"], dtype=np.float64)


def gap_evidence(
    train: Sample, held_out: Sample, *, resamples: int, confidence: float
) -> dict[str, Any]:
    """Both AUCs, the gap, its bootstrap interval and the held-out AUC's (module docstring)."""
    train_auc = float(weighted_metrics(train.y, train.scores)["auc"][0])
    held_auc = float(weighted_metrics(held_out.y, held_out.scores)["auc"][0])
    gap = train_auc - held_auc
    evidence: dict[str, Any] = {
        "train_auc": train_auc,
        "held_out_auc": held_auc,
        "gap": gap,
        "train_rows": len(train.y),
        "train_events": int(train.y.sum()),
        "sample": held_out.name,
        "rows": len(held_out.y),
        "events": int(held_out.y.sum()),
        "confidence": confidence,
        "bootstrap": {"method": "percentile", "resamples": resamples, "seed": SEED},
    }
    if resamples < 1:
        evidence["ci"] = {"auc_gap": None, "held_out_auc": None}
        evidence["reading"] = reading(evidence)
        return evidence
    held = _auc_replicates(held_out, resamples, SEED)
    trained = _auc_replicates(train, resamples, SEED + 1)
    gap_interval = percentile_interval(trained - held, confidence)
    held_interval = percentile_interval(held, confidence)
    evidence["ci"] = {
        "auc_gap": [gap_interval.low, gap_interval.high],
        "held_out_auc": [held_interval.low, held_interval.high],
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
    intervals = evidence.get("ci") or {}
    held_ci = intervals.get("held_out_auc")
    gap_ci = intervals.get("auc_gap")
    if not held_ci or held_ci[0] is None or not gap_ci or gap_ci[0] is None:
        return f"{head}; no bootstrap interval was computed (bootstrap_resamples is 0)."
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
            if events == 0 or events == len(sample.y):
                return [
                    one_class_result(
                        gate=GATE,
                        kind=KIND,
                        metric="auc_gap",
                        threshold=config.max_auc_gap,
                        severity="advisory",
                        sample=sample,
                        why="the generalisation gap cannot be measured",
                    )
                ]
        evidence = gap_evidence(
            data.train,
            data.held_out,
            resamples=config.bootstrap_resamples,
            confidence=config.confidence,
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
