"""The gate interface. A gate reads its thresholds from the spec's ``gates.<name>`` section,
looks at the candidate's (and the champion's) scores on the validation rows, and returns one
result per check, each a frozen record with a stable kind such as ``riskops.gate/performance@1``.

Adding a gate is adding a module under ``validation/gates/`` and one entry in ``GATES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from riskops.registry.versions import ModelRef
from riskops.spec import ModelSpec
from riskops.statistics.prevalence import case_weights, weighting_evidence

Severity = Literal["blocking", "advisory"]


@dataclass(frozen=True)
class GateResult:
    """One check: its value against its threshold, whether it passed, and the evidence."""

    gate: str
    kind: str
    metric: str
    value: float | None
    threshold: float | None
    comparison: Literal[">=", "<=", "n/a"]
    severity: Severity
    passed: bool
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        return not self.passed and self.severity == "blocking"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VersionInfo:
    """Which version a score came from, and the digest of its artifact."""

    ref: ModelRef
    digest: str


@dataclass(frozen=True)
class Sample:
    """One set of rows, scored: the training rows, the validation split, or out-of-time data.

    ``raw`` holds the rows as read (text columns, including the label and the protected
    attributes); ``features`` the typed features in spec order; ``matrix`` their encoding.
    """

    name: str
    raw: pd.DataFrame
    features: pd.DataFrame
    matrix: np.ndarray
    y: np.ndarray
    scores: np.ndarray
    champion_scores: np.ndarray | None = None


@dataclass(frozen=True)
class GateInput:
    """What every gate may look at.

    ``score`` scores any encoded matrix with the candidate (for perturbation and grid tests);
    ``model`` is the candidate's native object (a LightGBM Booster or a scikit-learn
    estimator, per ``flavor``). ``held_out`` is the out-of-time sample when the spec has one,
    else the validation split.
    """

    spec: ModelSpec
    candidate: VersionInfo
    champion: VersionInfo | None
    train: Sample
    validation: Sample
    out_of_time: Sample | None
    model: Any
    flavor: str
    score: Callable[[np.ndarray], np.ndarray]

    @property
    def held_out(self) -> Sample:
        return self.out_of_time if self.out_of_time is not None else self.validation


class Gate(Protocol):
    name: str

    def evaluate(self, data: GateInput) -> list[GateResult]: ...


def threshold_check(
    *,
    gate: str,
    kind: str,
    metric: str,
    value: float,
    threshold: float,
    comparison: Literal[">=", "<="],
    severity: Severity,
    evidence: dict[str, Any],
) -> GateResult:
    """A result that passes when ``value`` compares to ``threshold`` as asked."""
    passed = value >= threshold if comparison == ">=" else value <= threshold
    return GateResult(
        gate=gate,
        kind=kind,
        metric=metric,
        value=float(value),
        threshold=float(threshold),
        comparison=comparison,
        severity=severity,
        passed=bool(passed),
        evidence=evidence,
    )


def one_class_result(
    *,
    gate: str,
    kind: str,
    metric: str,
    threshold: float | None,
    severity: Severity,
    sample: Sample,
    why: str,
) -> GateResult:
    """A failed result for a sample that holds only one outcome, where ``metric`` cannot be
    measured; ``why`` finishes the note ("the <sample> sample holds one class only; ...")."""
    return GateResult(
        gate=gate,
        kind=kind,
        metric=metric,
        value=None,
        threshold=threshold,
        comparison="n/a",
        severity=severity,
        passed=False,
        evidence={
            "sample": sample.name,
            "rows": len(sample.y),
            "events": int(sample.y.sum()),
            "note": f"the {sample.name} sample holds one class only; {why}",
        },
    )


def population_weights(spec: ModelSpec, sample: Sample) -> tuple[np.ndarray | None, dict[str, Any]]:
    """The case weights that restore ``data.population_prevalence`` on ``sample``, and what the
    evidence says about them; (None, unweighted note) when the spec sets no prevalence or the
    sample holds one class only (:mod:`riskops.statistics.prevalence`)."""
    pi = spec.data.population_prevalence
    events = int(sample.y.sum())
    if pi is None or events == 0 or events == len(sample.y):
        return None, {
            "method": "unweighted",
            "note": "rates as observed in the sample (no data.population_prevalence)",
        }
    return case_weights(sample.y, pi), weighting_evidence(sample.y, pi)
