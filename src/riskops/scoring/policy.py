"""The decision policy: how a score (and, for rules, the features) becomes an outcome.

Every policy has three outcomes by role — favourable, review, adverse — named by the spec
(``policy.outcomes``) or by its kind: approve / refer / decline for credit, allow / review /
block for fraud and transaction risk. Internally an outcome is its code 0, 1 or 2 in that order.

- **cutoffs** (``approve_below`` = a, ``decline_from`` = d, a ≤ d)::

      score <  a      → favourable
      a ≤ score < d   → review     (a person decides: GDPR Art. 22, EU AI Act Art. 14)
      score ≥ d       → adverse

- **expected_cost**: the same two bands at the cut-offs of least expected cost
  (:func:`riskops.spec.expected_cost_cutoffs`), so it is as fast as cutoffs.
- **rules**: ordered rules on ``score`` and on feature values; the first whose every condition
  holds gives its outcome (and its reason, stated first), else ``otherwise``. A missing value
  fails every condition. Rules run on the encoded matrix: a numeric feature is its value, a
  categorical one the position of its category in the spec's list.

When the model cannot answer (it failed to load, raised, timed out or returned something that is
not a probability) the decision is the policy's safe outcome — the review outcome unless
configured otherwise — with the reason "model unavailable".

Example::

    policy = DecisionPolicy.from_spec(spec)
    policy.decide(0.31)          # 'refer' for the credit spec's 0.25 / 0.60
    policy.codes(scores, matrix) # int8 codes of a whole matrix
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from riskops.errors import ConfigError
from riskops.scoring.reasons import Reason
from riskops.spec import KIND_OUTCOMES, ModelSpec

Outcome = str
"""An outcome's name, one of its policy's three (:attr:`DecisionPolicy.outcomes`)."""

FAVOURABLE, REVIEW, ADVERSE = 0, 1, 2
CREDIT_OUTCOMES: tuple[str, str, str] = KIND_OUTCOMES["credit"].names
OUTCOMES = CREDIT_OUTCOMES
"""The credit kind's outcomes, favourable first."""

MODEL_UNAVAILABLE = Reason(
    code="model_unavailable", text="model unavailable", contribution=None, value=None
)
"""The one reason of a fallback decision."""

SCORE = -1
"""The column of a rule condition that tests the score rather than a feature."""


@dataclass(frozen=True, slots=True)
class Test:
    """One condition compiled against the encoded matrix: ``column`` (or :data:`SCORE`) lies
    within the bounds, or (``codes``) is one of the category positions."""

    column: int
    low: float = -math.inf
    low_inclusive: bool = True
    high: float = math.inf
    high_inclusive: bool = True
    codes: tuple[float, ...] | None = None

    def holds(self, values: np.ndarray) -> np.ndarray:
        """Boolean mask over ``values`` (NaN, a missing value, never holds)."""
        if self.codes is not None:
            return np.isin(values, self.codes)
        low = values >= self.low if self.low_inclusive else values > self.low
        high = values <= self.high if self.high_inclusive else values < self.high
        return low & high


@dataclass(frozen=True, slots=True)
class CompiledRule:
    tests: tuple[Test, ...]
    code: int
    reason: Reason | None


@dataclass(frozen=True)
class DecisionPolicy:
    """A spec's policy, compiled: score cut-offs (cutoffs and expected_cost) or ordered rules,
    the outcome names and the safe outcome."""

    approve_below: float | None
    decline_from: float | None
    safe_outcome: Outcome | None = None
    outcomes: tuple[str, str, str] = CREDIT_OUTCOMES
    rules: tuple[CompiledRule, ...] = ()
    otherwise: int = FAVOURABLE
    kind: str = field(default="cutoffs")

    def __post_init__(self) -> None:
        if self.safe_outcome is None:
            object.__setattr__(self, "safe_outcome", self.outcomes[REVIEW])
        if self.safe_outcome not in self.outcomes:
            raise ConfigError(
                f"The safe outcome {self.safe_outcome!r} is not a decision; valid outcomes "
                f"are: {', '.join(self.outcomes)}.",
                hint=f"Use {self.outcomes[REVIEW]!r} so that a person decides when the model "
                "cannot answer.",
            )
        if self.rules:
            return
        if self.approve_below is None or self.decline_from is None:
            raise ConfigError(
                "A policy without rules needs both cut-offs.",
                hint="Give policy.approve_below and policy.decline_from in the spec.",
            )
        if not 0.0 <= self.approve_below <= self.decline_from <= 1.0:
            raise ConfigError(
                f"The cut-offs approve_below={self.approve_below} and decline_from="
                f"{self.decline_from} must satisfy 0 ≤ approve_below ≤ decline_from ≤ 1.",
                hint="Fix policy in the model's spec; scores between the two are referred.",
            )

    @classmethod
    def from_spec(cls, spec: ModelSpec, *, safe_outcome: Outcome | None = None) -> DecisionPolicy:
        """The policy ``spec`` declares; the safe outcome is its review outcome unless given."""
        policy = spec.policy
        names = spec.outcomes.names
        if policy.type != "rules":
            return cls(
                policy.approve_below,
                policy.decline_from,
                safe_outcome,
                names,
                kind=policy.type,
            )
        column = {name: j for j, name in enumerate(spec.feature_names)}
        rules = []
        for i, rule in enumerate(policy.rules):
            tests = []
            for key, condition in rule.if_.items():
                j = SCORE if key == "score" else column[key]
                if condition.in_ is not None:
                    categories = [str(c) for c in spec.feature(key).categories or ()]
                    codes = tuple(float(categories.index(str(v))) for v in condition.in_)
                    tests.append(Test(j, codes=codes))
                    continue
                low, low_inclusive = -math.inf, True
                if condition.gte is not None:
                    low = condition.gte
                if condition.gt is not None and condition.gt >= low:
                    low, low_inclusive = condition.gt, False
                high, high_inclusive = math.inf, True
                if condition.lte is not None:
                    high = condition.lte
                if condition.lt is not None and condition.lt <= high:
                    high, high_inclusive = condition.lt, False
                tests.append(Test(j, low, low_inclusive, high, high_inclusive))
            code = names.index(rule.then)
            reason = (
                Reason(code=f"rule_{i + 1}", text=rule.reason, contribution=None, value=None)
                if rule.reason
                else None
            )
            rules.append(CompiledRule(tuple(tests), code, reason))
        otherwise = names.index(policy.otherwise or names[FAVOURABLE])
        return cls(None, None, safe_outcome, names, tuple(rules), otherwise, kind="rules")

    @property
    def favourable(self) -> Outcome:
        return self.outcomes[FAVOURABLE]

    @property
    def reads_features(self) -> bool:
        """Whether an outcome can depend on a feature, not only on the score."""
        return any(t.column != SCORE for rule in self.rules for t in rule.tests)

    def decide(self, score: float, row: np.ndarray | None = None) -> Outcome:
        """The outcome for one score (a probability of the adverse event); ``row`` is the
        encoded (1, n) row, needed only by rules that read features."""
        return self.outcomes[self.classify(score, row)[0]]

    def classify(self, score: float, row: np.ndarray | None = None) -> tuple[int, Reason | None]:
        """The outcome code of one score, and the reason of the rule that gave it (if any)."""
        if not self.rules:
            assert self.approve_below is not None
            assert self.decline_from is not None
            if score < self.approve_below:
                return FAVOURABLE, None
            if score >= self.decline_from:
                return ADVERSE, None
            return REVIEW, None
        scores = np.array([score], dtype=np.float64)
        matrix = row if row is not None else np.empty((1, 0))
        codes, fired = self._apply_rules(scores, matrix)
        index = int(fired[0])
        return int(codes[0]), self.rules[index].reason if index >= 0 else None

    def codes(self, scores: np.ndarray, matrix: np.ndarray | None = None) -> np.ndarray:
        """The int8 outcome code of every score (rows of ``matrix`` for rules), vectorised."""
        return self.codes_and_rules(scores, matrix)[0]

    def codes_and_rules(
        self, scores: np.ndarray, matrix: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Outcome codes and, per row, the index of the rule that decided (-1: none did)."""
        scores = np.asarray(scores, dtype=np.float64)
        if not self.rules:
            codes = np.ones(len(scores), dtype=np.int8)
            codes[scores < self.approve_below] = FAVOURABLE
            codes[scores >= self.decline_from] = ADVERSE
            return codes, np.full(len(scores), -1, dtype=np.int32)
        if matrix is None:
            if self.reads_features:
                raise ConfigError(
                    "This policy's rules read features; the encoded rows are needed.",
                    hint="Pass the encoded matrix with the scores.",
                )
            matrix = np.empty((len(scores), 0))
        return self._apply_rules(scores, matrix)

    def decide_many(self, scores: np.ndarray, matrix: np.ndarray | None = None) -> list[Outcome]:
        """:meth:`decide` for each score, vectorised."""
        names = self.outcomes
        return [names[c] for c in self.codes(scores, matrix).tolist()]

    def rule_reasons(self, fired: np.ndarray) -> Sequence[Reason | None]:
        """The reason of each row's deciding rule (None where none, or the rule has none)."""
        return [self.rules[i].reason if i >= 0 else None for i in fired.tolist()]

    def is_adverse(self, outcome: Outcome) -> bool:
        """Whether ``outcome`` needs its principal reasons (every outcome but the favourable)."""
        return outcome != self.outcomes[FAVOURABLE]

    @property
    def fallback_reason(self) -> Reason:
        """The reason given with the safe outcome."""
        return MODEL_UNAVAILABLE

    def _apply_rules(self, scores: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(scores)
        codes = np.full(n, self.otherwise, dtype=np.int8)
        fired = np.full(n, -1, dtype=np.int32)
        open_ = np.ones(n, dtype=bool)
        with np.errstate(invalid="ignore"):
            for index, rule in enumerate(self.rules):
                mask = open_.copy()
                for test in rule.tests:
                    values = scores if test.column == SCORE else matrix[:, test.column]
                    mask &= test.holds(values)
                codes[mask] = rule.code
                fired[mask] = index
                open_ &= ~mask
                if not open_.any():
                    break
        return codes, fired
