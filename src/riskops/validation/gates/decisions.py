"""Decision bands: what the spec's policy would decide on the held-out rows, band by band.

For each outcome of the policy (``DecisionPolicy.from_spec(spec)``, named by the spec:
approve / refer / decline for credit, allow / review / block for fraud), the evidence's
``bands`` gives the rows, their share, the events and the event rate (the bad rate of each
band). With ``data.population_prevalence`` the share and the event rate are reweighted to the
population (:func:`riskops.validation.gate.population_weights`); the row and event counts stay
as observed.

The review band is the human-oversight workload (EU AI Act Art. 14): every case in it goes to a
person. ``decisions.review_share`` records its share of the cases (``reported``: the spec sets
no threshold for it) and ``review_per_1k`` in the evidence sizes the workload per 1,000 cases.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from riskops.scoring.policy import REVIEW, DecisionPolicy
from riskops.validation.gate import GateInput, GateResult, population_weights

KIND = "riskops.gate/decisions@1"


def decision_bands(data: GateInput) -> dict[str, Any]:
    """The held-out rows by the policy's outcome: rows, share, events and event rate each."""
    sample = data.held_out
    policy = DecisionPolicy.from_spec(data.spec)
    codes = policy.codes(sample.scores, sample.matrix)
    weights, weighting = population_weights(data.spec, sample)
    w = np.ones(len(codes)) if weights is None else np.asarray(weights, dtype=np.float64)
    total = float(w.sum())
    bands: list[dict[str, Any]] = []
    shares: list[float] = []
    for code, name in enumerate(policy.outcomes):
        picked = codes == code
        rows = int(picked.sum())
        band_weight = float(w[picked].sum())
        shares.append(band_weight / total if total > 0 else 0.0)
        bands.append(
            {
                "outcome": name,
                "rows": rows,
                "share": shares[-1],
                "events": int(sample.y[picked].sum()),
                "event_rate": (
                    float((w[picked] * sample.y[picked]).sum()) / band_weight
                    if band_weight > 0
                    else None
                ),
            }
        )
    return {
        "bands": bands,
        "review_outcome": policy.outcomes[REVIEW],
        "review_per_1k": 1000.0 * shares[REVIEW],
        "rows": len(codes),
        "events": int(sample.y.sum()),
        "sample": sample.name,
        "weights": weighting,
        "policy": data.spec.policy.type,
        "note": "every case in the review band goes to a person (human oversight); its share "
        "sizes that workload",
    }


class DecisionsGate:
    name = "decisions"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        if len(data.held_out.y) == 0:
            return []
        evidence = decision_bands(data)
        review = evidence["bands"][REVIEW]["share"]
        return [
            GateResult(
                gate="decisions.review_share",
                kind=KIND,
                metric="review_share",
                value=float(review),
                threshold=None,
                comparison="n/a",
                severity="advisory",
                passed=True,
                evidence=evidence,
            )
        ]
