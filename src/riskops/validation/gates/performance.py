"""Performance gate: discrimination on the held-out validation rows must reach the spec's
minimum AUC, KS and Gini (each optional)."""

from __future__ import annotations

from riskops.statistics.discrimination import summary
from riskops.validation.gate import GateInput, GateResult, threshold_check

KIND = "riskops.gate/performance@1"


class PerformanceGate:
    name = "performance"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        config = data.spec.gates.performance
        sample = data.validation
        values = summary(sample.y, sample.scores)
        evidence = {
            "rows": len(sample.y),
            "events": int(sample.y.sum()),
            "auc": values["auc"],
            "gini": values["gini"],
            "ks": values["ks"],
            "data": "validation split",
        }
        results = []
        for metric, minimum in (
            ("auc", config.min_auc),
            ("ks", config.min_ks),
            ("gini", config.min_gini),
        ):
            if minimum is None:
                continue
            results.append(
                threshold_check(
                    gate=f"performance.{metric}",
                    kind=KIND,
                    metric=metric,
                    value=values[metric],
                    threshold=minimum,
                    comparison=">=",
                    severity=config.severity,
                    evidence=evidence,
                )
            )
        return results
