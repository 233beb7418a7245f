"""Detection gate: what an alerting model (fraud, transaction risk) does on the held-out rows —
how many events it catches, how many cases it alerts, and what its decisions cost.

An *alert* is any outcome of the spec's policy but the favourable one (review or block), taken
from :meth:`riskops.scoring.policy.DecisionPolicy.codes`, so the gate judges exactly what would
be served. With ``data.population_prevalence`` every rate is computed with the case weights
that restore it (``w⁺ = π/π_s``, ``w⁻ = (1 − π)/(1 − π_s)``;
:mod:`riskops.statistics.prevalence`), and the evidence says "reweighted to 0.172%".

Statistics, for case weights ``w``, events ``y``, scores ``p`` and outcome codes ``c``:

* recall at a false-positive rate α (``fpr_for_recall``): over thresholds ``t`` at each
  distinct score, the largest ``TPR(t) = Σ w·y·[p ≥ t] / Σ w·y`` whose
  ``FPR(t) = Σ w·(1 − y)·[p ≥ t] / Σ w·(1 − y)`` is at most α (0 when none is). Weights that
  are constant within a class leave it unchanged. With n non-events the FPR moves in steps of
  1/n, so at α = 1% it needs a few hundred non-events to mean anything: the evidence gives n.
* alert rate: ``Σ w·[c ≠ favourable] / Σ w``.
* expected cost per case under ``policy.costs`` (m missed event, f false alarm, r review)::

      cost_i = m·y_i [c_i = favourable] + r [c_i = review] + f·(1 − y_i) [c_i = adverse]
      E[cost] = Σ w·cost / Σ w

  reported per 1,000 cases, beside the three trivial policies: allow all (``m·π``), review
  all (``r``) and block all (``f·(1 − π)``), π the (weighted) event rate.

Results: ``detection.recall_at_fpr`` (``>= min_recall_at_fpr``), ``detection.alert_rate``
(``<= max_alert_rate``), ``detection.expected_cost_per_1k`` (``<= max_expected_cost_per_1k``)
and ``detection.expected_cost_vs_trivial`` (``<=`` the cheapest trivial policy's cost, with
``beat_trivial_policies``). Expected-cost results need the policy's costs; without them they
pass with no value and a note. Each value has a percentile bootstrap interval
(``bootstrap_resamples`` resamples at ``confidence``, fixed seed); all results share one
evidence mapping with the weighted outcome table.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from riskops.scoring.policy import ADVERSE, FAVOURABLE, REVIEW, DecisionPolicy
from riskops.spec import Costs
from riskops.spec import DetectionGate as DetectionConfig
from riskops.statistics.bootstrap import bootstrap
from riskops.validation.gate import (
    GateInput,
    GateResult,
    one_class_result,
    population_weights,
    threshold_check,
)

KIND = "riskops.gate/detection@1"
SEED = 20_261_207
PER = 1_000


def recall_at_fpr(
    y: np.ndarray, scores: np.ndarray, weights: np.ndarray, fpr: float
) -> tuple[np.ndarray, np.ndarray]:
    """For each row of the (B, n) ``weights``, the largest recall whose false-positive rate is
    at most ``fpr``, and the score threshold that gives it (``inf``: alert nothing)."""
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    w = weights[:, order]
    events = y[order].astype(np.float64)
    tp = np.cumsum(w * events, axis=1)
    fp = np.cumsum(w * (1.0 - events), axis=1)
    # Only the last row of a run of equal scores is a threshold: "p >= t" takes all of them.
    last = np.r_[s[1:] != s[:-1], True]
    total_tp, total_fp = tp[:, -1:], fp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.where(total_tp > 0, tp / total_tp, np.nan)[:, last]
        fprs = np.where(total_fp > 0, fp / total_fp, np.nan)[:, last]
    allowed = fprs <= fpr + 1e-12
    best = np.where(allowed, tpr, -1.0)
    index = best.argmax(axis=1)
    recall = np.where(allowed.any(axis=1), best[np.arange(len(index)), index], 0.0)
    recall[np.isnan(total_tp[:, 0]) | (total_tp[:, 0] <= 0) | (total_fp[:, 0] <= 0)] = np.nan
    thresholds = np.where(allowed.any(axis=1), s[last][index], np.inf)
    return recall, thresholds


def decision_costs(y: np.ndarray, codes: np.ndarray, costs: Costs) -> np.ndarray:
    """The cost of each row's decision (module docstring); review costs 0 when not priced."""
    review = costs.review or 0.0
    return np.select(
        [codes == FAVOURABLE, codes == REVIEW, codes == ADVERSE],
        [costs.missed_event * y, np.full(len(y), review), costs.false_alarm * (1.0 - y)],
    )


def _statistics(
    y: np.ndarray,
    scores: np.ndarray,
    codes: np.ndarray,
    weights: np.ndarray,
    config: DetectionConfig,
    costs: Costs | None,
) -> dict[str, np.ndarray]:
    total = weights.sum(axis=1)
    out = {
        "recall_at_fpr": recall_at_fpr(y, scores, weights, config.fpr_for_recall)[0],
        "alert_rate": weights @ (codes != FAVOURABLE).astype(np.float64) / total,
    }
    if costs is not None:
        out["expected_cost_per_1k"] = PER * (weights @ decision_costs(y, codes, costs)) / total
        trivial = {
            "allow_all": PER * costs.missed_event * (weights @ y) / total,
            "block_all": PER * costs.false_alarm * (weights @ (1.0 - y)) / total,
        }
        if costs.review is not None:
            trivial["review_all"] = np.full(len(total), PER * costs.review)
        out.update({f"trivial_{k}_per_1k": v for k, v in trivial.items()})
        out["cheapest_trivial_per_1k"] = np.min(np.vstack(list(trivial.values())), axis=0)
    return out


def _outcome_table(
    y: np.ndarray, codes: np.ndarray, weights: np.ndarray, names: tuple[str, str, str]
) -> list[dict[str, Any]]:
    total = float(weights.sum())
    rows = []
    for code, name in enumerate(names):
        chosen = codes == code
        rows.append(
            {
                "outcome": name,
                "rows": int(chosen.sum()),
                "events": int((chosen & (y == 1)).sum()),
                "share": float(weights[chosen].sum() / total),
                "event_share": float(weights[chosen & (y == 1)].sum() / total),
            }
        )
    return rows


class DetectionGate:
    name = "detection"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        config = data.spec.gates.detection
        if config is None:
            return []
        sample = data.held_out
        events = int(sample.y.sum())
        if events == 0 or events == len(sample.y):
            return [
                one_class_result(
                    gate="detection.recall_at_fpr",
                    kind=KIND,
                    metric="recall_at_fpr",
                    threshold=config.min_recall_at_fpr,
                    severity=config.severity,
                    sample=sample,
                    why="detection needs both events and non-events",
                )
            ]
        y = sample.y.astype(np.float64)
        policy = DecisionPolicy.from_spec(data.spec)
        codes = policy.codes(sample.scores, sample.matrix)
        case, weighting = population_weights(data.spec, sample)
        case = np.ones(len(y)) if case is None else case
        costs = data.spec.policy.costs
        point = {
            k: float(v[0])
            for k, v in _statistics(
                y, sample.scores, codes, case[np.newaxis, :], config, costs
            ).items()
        }
        intervals = bootstrap(
            lambda counts: _statistics(y, sample.scores, codes, counts * case, config, costs),
            rows=len(y),
            resamples=config.bootstrap_resamples,
            confidence=config.confidence,
            seed=SEED,
        )
        _, threshold = recall_at_fpr(y, sample.scores, case[np.newaxis, :], config.fpr_for_recall)
        flagged = sample.scores >= threshold[0]
        precision = (
            float(case[flagged & (y == 1)].sum() / case[flagged].sum()) if flagged.any() else None
        )
        evidence: dict[str, Any] = {
            "sample": sample.name,
            "data": f"{sample.name} rows",
            "rows": len(y),
            "events": events,
            "non_events": len(y) - events,
            "values": point,
            "ci": {name: interval.as_list() for name, interval in intervals.items()},
            "confidence": config.confidence,
            "bootstrap": {"method": "percentile", "resamples": config.bootstrap_resamples},
            "fpr_for_recall": config.fpr_for_recall,
            "recall_threshold": float(threshold[0]) if np.isfinite(threshold[0]) else None,
            "precision_at_recall_threshold": precision,
            "policy": data.spec.policy.type,
            "alert_outcomes": [policy.outcomes[REVIEW], policy.outcomes[ADVERSE]],
            "outcomes": _outcome_table(sample.y, codes, case, policy.outcomes),
            "costs": costs.model_dump() if costs is not None else None,
            "weights": weighting,
        }

        def check(metric: str, threshold: float, comparison: Literal[">=", "<="]) -> GateResult:
            return threshold_check(
                gate=f"detection.{metric}",
                kind=KIND,
                metric=metric,
                value=point[metric],
                threshold=threshold,
                comparison=comparison,
                severity=config.severity,
                evidence=evidence,
            )

        results: list[GateResult] = []
        if config.min_recall_at_fpr is not None:
            results.append(check("recall_at_fpr", config.min_recall_at_fpr, ">="))
        if config.max_alert_rate is not None:
            results.append(check("alert_rate", config.max_alert_rate, "<="))
        if costs is None:
            if config.beat_trivial_policies:
                results.append(
                    GateResult(
                        gate="detection.expected_cost_vs_trivial",
                        kind=KIND,
                        metric="expected_cost_per_1k",
                        value=None,
                        threshold=None,
                        comparison="n/a",
                        severity=config.severity,
                        passed=True,
                        evidence={
                            **evidence,
                            "note": "the policy states no costs, so expected cost is not "
                            "judged; give policy type expected_cost with costs to judge it",
                        },
                    )
                )
            return results
        if config.max_expected_cost_per_1k is not None:
            results.append(check("expected_cost_per_1k", config.max_expected_cost_per_1k, "<="))
        if config.beat_trivial_policies:
            results.append(
                threshold_check(
                    gate="detection.expected_cost_vs_trivial",
                    kind=KIND,
                    metric="expected_cost_per_1k",
                    value=point["expected_cost_per_1k"],
                    threshold=point["cheapest_trivial_per_1k"],
                    comparison="<=",
                    severity=config.severity,
                    evidence=evidence,
                )
            )
        return results
