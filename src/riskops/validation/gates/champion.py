"""Champion gate: on the same validation rows, the candidate's AUC may fall short of the
production version's by at most the spec's ``max_auc_drop`` (a non-inferiority margin).

With no production version there is nothing to compare; the gate passes and says so.
"""

from __future__ import annotations

from riskops.statistics.discrimination import auc
from riskops.validation.gate import GateInput, GateResult, threshold_check

KIND = "riskops.gate/champion@1"


class ChampionGate:
    name = "champion"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        config = data.spec.gates.champion
        sample = data.held_out
        if data.champion is None or sample.champion_scores is None:
            return [
                GateResult(
                    gate="champion.auc_difference",
                    kind=KIND,
                    metric="auc_difference",
                    value=None,
                    threshold=-config.max_auc_drop,
                    comparison="n/a",
                    severity=config.severity,
                    passed=True,
                    evidence={"champion": None, "note": "no version serves in production yet"},
                )
            ]
        candidate_auc = auc(sample.y, sample.scores)
        champion_auc = auc(sample.y, sample.champion_scores)
        return [
            threshold_check(
                gate="champion.auc_difference",
                kind=KIND,
                metric="auc_difference",
                value=candidate_auc - champion_auc,
                threshold=-config.max_auc_drop,
                comparison=">=",
                severity=config.severity,
                evidence={
                    "candidate": str(data.candidate.ref),
                    "champion": str(data.champion.ref),
                    "champion_digest": data.champion.digest,
                    "candidate_auc": candidate_auc,
                    "champion_auc": champion_auc,
                    "rows": len(sample.y),
                    "data": f"the candidate's {sample.name} rows, scored by both versions",
                },
            )
        ]
