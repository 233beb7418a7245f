"""The scorer of one loaded model version: request features in, a decision with its reasons out.

A :class:`Scorer` is built once per version, from the spec and the native model object (loaded
and digest-checked by :func:`riskops.registry.artifacts.load_verified_model`). A decision is::

    row      = encoder.encode(features)          # RequestInvalid (a bad request) propagates
    score    = P(event | row)                     # booster.predict(row) on a (1, n) float64 row
    decision = policy.decide(score, row)
    reasons  = top-k positive contributions       # only for a non-favourable outcome, or explain

Many rows go through :meth:`Scorer.decide_matrix`, the one columnar core of the batch endpoint,
batch scoring and Spark: an encoded (m, n) matrix in, arrays of scores, outcome codes and the
contributions of the rows that need reasons out — one model call for the scores and one for the
contributions, no Python object per row until a caller asks for :class:`Decision` records.

If the model cannot answer — it raises, or returns something that is not a probability — the
decision is the policy's safe outcome with the reason "model unavailable" and ``fallback=True``;
the scorer never lets a model's exception reach the caller. Reasons are part of answering: a
model that scores but cannot explain an adverse decision falls back too.

Example::

    scorer = Scorer(spec, booster, version=3, digest="sha256:…")
    decision = scorer.decide({"duration_in_month": 24, ...})
    decision.decision, decision.reasons[0].text
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from time import perf_counter
from typing import Any, ClassVar

import numpy as np

from riskops.errors import IntegrityError
from riskops.registry.flavors import flavor_of
from riskops.scoring.features import FeatureEncoder, UnknownCategory
from riskops.scoring.policy import FAVOURABLE, DecisionPolicy, Outcome
from riskops.scoring.reasons import DEFAULT_REASONS, Reason, ReasonCodes, contributions_for
from riskops.scoring.single_row import SingleRowPredictor
from riskops.spec import ModelSpec


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision: the score, the policy's outcome and its reasons, which model version gave
    it, and how long it took (``latency_ms``, from the request's features to this record).

    ``fallback`` is True when the model could not answer; ``cause`` then says why, for the
    decision log and the operator, never for the caller.
    """

    kind: ClassVar[str] = "riskops.decision@1"

    model: str
    version: int
    digest: str
    score: float | None
    decision: Outcome
    reasons: tuple[Reason, ...]
    fallback: bool
    latency_ms: float
    cause: str | None = None

    @property
    def model_ref(self) -> str:
        return f"{self.model}@{self.version}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "version": self.version,
            "digest": self.digest,
            "score": self.score,
            "decision": self.decision,
            "reasons": [r.as_dict() for r in self.reasons],
            "fallback": self.fallback,
            "latency_ms": self.latency_ms,
            "cause": self.cause,
        }


@dataclass(frozen=True, slots=True)
class MatrixDecisions:
    """The decisions of an encoded matrix, as arrays aligned with its rows: ``scores``
    (float64; NaN when the model failed), outcome ``codes`` (int8 into the policy's
    ``outcomes``), ``fallback`` (the model could not answer that row; ``cause`` says why),
    ``rules`` (the index of the rule that decided, -1 when none), and the ``contributions``
    (one row per entry of ``explained``, the row positions that needed reasons)."""

    scores: np.ndarray
    codes: np.ndarray
    fallback: np.ndarray
    rules: np.ndarray
    explained: np.ndarray
    contributions: np.ndarray | None
    cause: str | None = None

    @classmethod
    def failed(cls, m: int, policy: DecisionPolicy, cause: str) -> MatrixDecisions:
        """Every row the safe outcome: the model could not answer."""
        code = policy.outcomes.index(policy.safe_outcome or "")
        return cls(
            np.full(m, np.nan),
            np.full(m, code, dtype=np.int8),
            np.ones(m, dtype=bool),
            np.full(m, -1, dtype=np.int32),
            np.empty(0, dtype=np.int64),
            None,
            cause,
        )


class Scorer:
    """Decisions from one model version; safe to share between threads (it holds no state that
    a decision changes).

    ``num_threads`` is the number of OpenMP threads of each LightGBM call. Left to itself,
    LightGBM predicts with every core even for one row, and on a busy machine a call then waits
    for a descheduled thread: on 2 cores shared with other work, 1.9% of single-row calls took
    over 1 ms that way (p99 8 ms), against 0.07% with one thread (p99 0.1 ms), for about 2 µs
    more per call in LightGBM's parameter handling (``benchmarks/scoring_core.py`` shows both).
    One thread per call suits a server, where concurrency comes from requests; batch scoring
    on cores of its own may pass more.
    """

    def __init__(
        self,
        spec: ModelSpec,
        model: Any,
        *,
        version: int,
        digest: str,
        unknown_category: UnknownCategory = "reject",
        safe_outcome: Outcome | None = None,
        max_reasons: int = DEFAULT_REASONS,
        reference: np.ndarray | None = None,
        num_threads: int = 1,
        deadline_ms: float | None = None,
    ) -> None:
        self.spec = spec
        self.model = model
        self.version = version
        self.digest = digest
        self.flavor = flavor_of(model)
        self.encoder = FeatureEncoder(spec, unknown_category=unknown_category)
        self.policy = DecisionPolicy.from_spec(spec, safe_outcome=safe_outcome)
        self.reasons = ReasonCodes(spec, k=max_reasons)
        self.num_threads = num_threads
        self.deadline_ms = deadline_ms
        self._check_width()
        self._predict = self._predictor()
        self._contributions = contributions_for(model, reference=reference, num_threads=num_threads)
        # One row (decide): LightGBM's single-row C API where it stands in for predict.
        self._score_row: Callable[[np.ndarray], np.ndarray] = self._predict
        self._contributions_row: Callable[[np.ndarray], np.ndarray] = self._first_contributions
        if self.flavor == "lightgbm":
            score = SingleRowPredictor.create(model, "normal", num_threads=num_threads)
            contributions = SingleRowPredictor.create(model, "contrib", num_threads=num_threads)
            if score is not None and contributions is not None:
                self._score_row, self._contributions_row = score, contributions

    @property
    def model_ref(self) -> str:
        return f"{self.spec.name}@{self.version}"

    def decide(self, features: Mapping[str, object], *, explain: bool = False) -> Decision:
        """The decision for one subject; reasons for refer/decline, or always with
        ``explain=True``. RequestInvalid if ``features`` do not match the spec."""
        start = perf_counter()
        row = self.encoder.encode(features)
        # The model may fail in any way (a corrupt tree, memory, a bug in its library); the
        # caller gets the safe outcome instead, and the cause goes to the decision log.
        called = perf_counter()
        try:
            score = float(self._score_row(row)[0])
            if not 0.0 <= score <= 1.0:
                return self.fallback(f"the model returned {score!r}, not a probability", start)
            code, rule_reason = self.policy.classify(score, row)
            reasons: tuple[Reason, ...] = ()
            if explain or code != FAVOURABLE:
                reasons = self.reasons.top(self._contributions_row(row), features)
                if rule_reason is not None and code != FAVOURABLE:
                    reasons = (rule_reason, *reasons)
        except Exception as exc:
            return self.fallback(f"{type(exc).__name__}: {exc}", start)
        took = (perf_counter() - called) * 1000.0
        if self.deadline_ms is not None and took > self.deadline_ms:
            # A native call cannot be interrupted; an answer after the deadline is not used.
            return self.fallback(
                f"the model took {took:.1f} ms, over its {self.deadline_ms:g} ms deadline", start
            )
        return Decision(
            self.spec.name,
            self.version,
            self.digest,
            score,
            self.policy.outcomes[code],
            reasons,
            False,
            (perf_counter() - start) * 1000.0,
        )

    def decide_matrix(self, matrix: np.ndarray, *, explain: bool = False) -> MatrixDecisions:
        """Decisions for the encoded (m, n) ``matrix``, as arrays: one model call for the
        scores, one for the contributions of the rows that need reasons (non-favourable, or
        every valid row with ``explain``). A row whose score is not a probability, or every
        row when the model raises, gets the safe outcome (``fallback``)."""
        m = len(matrix)
        fallback = np.zeros(m, dtype=bool)
        try:
            scores = np.asarray(self._predict(matrix), dtype=np.float64).reshape(-1)
            if len(scores) != m:
                raise ValueError(f"the model returned {len(scores)} scores for {m} rows")
            with np.errstate(invalid="ignore"):
                valid = (scores >= 0.0) & (scores <= 1.0)
            codes, fired = self.policy.codes_and_rules(scores, matrix)
            wanted = valid if explain else valid & (codes != FAVOURABLE)
            explained = np.flatnonzero(wanted)
            phi = self._contributions(matrix[explained]) if len(explained) else None
        except Exception as exc:  # as in decide(): the model's failure becomes the safe outcome
            return MatrixDecisions.failed(m, self.policy, f"{type(exc).__name__}: {exc}")
        cause: str | None = None
        if not valid.all():
            bad = np.flatnonzero(~valid)
            fallback[bad] = True
            codes[bad] = self.policy.outcomes.index(self.policy.safe_outcome or "")
            fired[bad] = -1
            cause = f"the model returned {scores[bad[0]]!r}, not a probability"
        return MatrixDecisions(scores, codes, fallback, fired, explained, phi, cause)

    def decisions(
        self,
        result: MatrixDecisions,
        rows: Sequence[Mapping[str, object]],
        *,
        latency_ms: float = 0.0,
    ) -> tuple[Decision, ...]:
        """:class:`Decision` records of a :meth:`decide_matrix` result; ``rows`` are the
        request features (the values reasons quote)."""
        names = self.policy.outcomes
        reason_row = {i: k for k, i in enumerate(result.explained.tolist())}
        rule_reasons = self.policy.rule_reasons(result.rules) if self.policy.rules else None
        decisions = []
        for i, (features, score, code, failed) in enumerate(
            zip(
                rows,
                result.scores.tolist(),
                result.codes.tolist(),
                result.fallback.tolist(),
                strict=True,
            )
        ):
            if failed:
                decisions.append(self._fallback_record(result.cause or "", latency_ms))
                continue
            k = reason_row.get(i)
            reasons: tuple[Reason, ...] = ()
            if result.contributions is not None and k is not None:
                reasons = self.reasons.top(result.contributions[k], features)
            if rule_reasons is not None and code != FAVOURABLE:
                rule_reason = rule_reasons[i]
                if rule_reason is not None:
                    reasons = (rule_reason, *reasons)
            decisions.append(
                Decision(
                    self.spec.name,
                    self.version,
                    self.digest,
                    score,
                    names[code],
                    reasons,
                    False,
                    latency_ms,
                )
            )
        return tuple(decisions)

    def decide_batch(
        self, rows: Sequence[Mapping[str, object]], *, explain: bool = False
    ) -> tuple[Decision, ...]:
        """Decisions for many subjects through :meth:`decide_matrix`. Each decision's
        ``latency_ms`` is the whole batch's. RequestInvalid naming every bad field of every
        row."""
        start = perf_counter()
        matrix = self.encoder.encode_batch(rows)
        if len(matrix) == 0:
            return ()
        result = self.decide_matrix(matrix, explain=explain)
        return self.decisions(result, rows, latency_ms=(perf_counter() - start) * 1000.0)

    def fallback(self, cause: str, started: float | None = None) -> Decision:
        """The safe outcome with the reason "model unavailable", for when the model cannot
        answer (also for a caller whose deadline ran out). ``started`` is a perf_counter()."""
        latency = (perf_counter() - started) * 1000.0 if started is not None else 0.0
        return self._fallback_record(cause, latency)

    def _fallback_record(self, cause: str, latency_ms: float) -> Decision:
        return Decision(
            self.spec.name,
            self.version,
            self.digest,
            None,
            self.policy.safe_outcome or "",
            (self.policy.fallback_reason,),
            True,
            latency_ms,
            cause,
        )

    def _first_contributions(self, row: np.ndarray) -> np.ndarray:
        return np.asarray(self._contributions(row)[0])

    def _predictor(self) -> Callable[[np.ndarray], np.ndarray]:
        if self.flavor == "lightgbm":
            # A C-level partial: the Booster's own predict is all that runs per call.
            return partial(self.model.predict, num_threads=self.num_threads)
        predict_proba = self.model.predict_proba

        def positive_class(matrix: np.ndarray) -> np.ndarray:
            return np.asarray(predict_proba(matrix), dtype=np.float64)[:, 1]

        return positive_class

    def _check_width(self) -> None:
        if self.flavor == "lightgbm":
            takes = int(self.model.num_feature())
        else:
            takes = int(getattr(self.model, "n_features_in_", self.encoder.width))
        if takes != self.encoder.width:
            raise IntegrityError(
                f"The model of {self.model_ref} takes {takes} features but its spec lists "
                f"{self.encoder.width}; they do not belong together.",
                hint="Load the artifact and the spec recorded for the same version "
                "(riskops show <name> lists them).",
            )
