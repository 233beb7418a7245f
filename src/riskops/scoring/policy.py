"""The decision policy: how a score becomes approve, refer or decline.

With the spec's cut-offs ``approve_below`` = a and ``decline_from`` = d (a ≤ d)::

    score <  a      → "approve"
    a ≤ score < d   → "refer"    (a person decides: GDPR Art. 22, EU AI Act Art. 14)
    score ≥ d       → "decline"

When the model cannot answer (it failed to load, raised, timed out or returned something that is
not a probability) the decision is the policy's safe outcome, ``"refer"`` unless configured
otherwise, with the reason "model unavailable".

Example::

    policy = DecisionPolicy.from_spec(spec.policy)
    policy.decide(0.31)          # 'refer' for the credit spec's 0.25 / 0.60
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from riskops.errors import ConfigError
from riskops.scoring.reasons import Reason
from riskops.spec import Policy

Outcome = Literal["approve", "refer", "decline"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)

MODEL_UNAVAILABLE = Reason(
    code="model_unavailable", text="model unavailable", contribution=None, value=None
)
"""The one reason of a fallback decision."""


@dataclass(frozen=True)
class DecisionPolicy:
    """Score cut-offs and the safe outcome for when the model cannot answer."""

    approve_below: float
    decline_from: float
    safe_outcome: Outcome = "refer"

    def __post_init__(self) -> None:
        if self.safe_outcome not in OUTCOMES:
            raise ConfigError(
                f"The safe outcome {self.safe_outcome!r} is not a decision; valid outcomes "
                f"are: {', '.join(OUTCOMES)}.",
                hint="Use 'refer' so that a person decides when the model cannot answer.",
            )
        if not 0.0 <= self.approve_below <= self.decline_from <= 1.0:
            raise ConfigError(
                f"The cut-offs approve_below={self.approve_below} and decline_from="
                f"{self.decline_from} must satisfy 0 ≤ approve_below ≤ decline_from ≤ 1.",
                hint="Fix policy in the model's spec; scores between the two are referred.",
            )

    @classmethod
    def from_spec(cls, policy: Policy, *, safe_outcome: Outcome = "refer") -> DecisionPolicy:
        """The policy a spec declares, with the given safe outcome."""
        return cls(policy.approve_below, policy.decline_from, safe_outcome)

    def decide(self, score: float) -> Outcome:
        """The decision for one score (a probability of the adverse event)."""
        if score < self.approve_below:
            return "approve"
        if score >= self.decline_from:
            return "decline"
        return "refer"

    def decide_many(self, scores: np.ndarray) -> list[Outcome]:
        """:meth:`decide` for each score, vectorised."""
        band = np.where(scores < self.approve_below, 0, np.where(scores >= self.decline_from, 2, 1))
        return [_BANDS[i] for i in band.tolist()]

    @property
    def fallback_reason(self) -> Reason:
        """The reason given with the safe outcome."""
        return MODEL_UNAVAILABLE


def is_adverse(outcome: Outcome) -> bool:
    """Whether ``outcome`` needs its principal reasons: a decline is an adverse action whose
    reasons must be stated (Regulation B, 12 CFR 1002.9), and a referral carries them for the
    person who decides. Only an approval goes without."""
    return outcome != "approve"


_BANDS: tuple[Outcome, Outcome, Outcome] = ("approve", "refer", "decline")
