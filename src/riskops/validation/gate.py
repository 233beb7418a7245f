"""The gate interface. A gate reads its thresholds from the spec's ``gates.<name>`` section,
looks at the candidate's (and the champion's) scores on the validation rows, and returns one
result per check, each a frozen record with a stable kind such as ``riskops.gate/performance@1``.

Adding a gate is adding a module under ``validation/gates/`` and one entry in ``GATES``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from riskops.registry.versions import ModelRef
from riskops.spec import ModelSpec
from riskops.statistics.prevalence import case_weights, weighting_evidence

Severity = Literal["blocking", "advisory"]
Status = Literal["passed", "failed", "not_applicable", "reported"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "not_applicable", "reported")
"""What a check came to. ``reported``: measured and recorded, with no threshold to judge it;
``not_applicable``: not computed, for a reason the spec (``gates.not_applicable``) or the
situation (no champion yet) gives. A check that could not be computed otherwise is failed."""


@dataclass(frozen=True)
class GateResult:
    """One check: its value against its threshold, what it came to, and the evidence.

    ``passed`` is False only for a failure (it blocks when the severity is blocking);
    :attr:`status` tells a pass from a recorded value or a check that did not apply.
    """

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

    @property
    def status(self) -> Status:
        return status_of(self.value, self.threshold, self.comparison, self.passed, self.evidence)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


def status_of(
    value: float | None,
    threshold: float | None,
    comparison: str,
    passed: bool,
    evidence: dict[str, Any],
) -> Status:
    """A check's status: the one recorded in its evidence (``settle`` records it), else read
    from its fields. A stored result from before statuses were recorded that passed without a
    value is read as not applicable, which is what it meant, never as passed."""
    recorded = evidence.get("status")
    if recorded in STATUSES:
        return recorded  # type: ignore[no-any-return]
    if not passed:
        return "failed"
    if comparison != "n/a":
        return "passed"
    return "reported" if value is not None else "not_applicable"


def settle(results: Sequence[GateResult], not_applicable: Mapping[str, str]) -> list[GateResult]:
    """The results with their status recorded, a check that could not be computed failed
    unless ``not_applicable`` (the spec's ``gates.not_applicable``) declares it.

    A declaration names a check (``data_quality.duplicate_subjects``) or a whole gate
    (``fairness``); its reason goes into the evidence. It never hides a measurement: a
    declared check that was measured keeps its result, with a note saying so.

    Example: ``settle(results, {"fairness": "no protected attribute in the data"})``.
    """
    settled = []
    for r in results:
        declared = _declaration(r.gate, not_applicable)
        evidence = dict(r.evidence)
        computed = r.value is not None
        if r.evidence.get("status") == "not_applicable":
            status: Status = "not_applicable"
            passed = True
        elif not computed and r.passed:
            if declared is not None:
                status, passed = "not_applicable", True
                evidence["not_applicable"] = not_applicable[declared]
                evidence["declared_in"] = f"gates.not_applicable.{declared}"
            else:
                status, passed = "failed", False
                evidence["not_computed"] = (
                    f"{r.gate} could not be computed, so it is not passed. If it cannot apply "
                    f"to this model, say why in the spec: gates.not_applicable: "
                    f"{{{r.gate}: <reason>}}"
                )
        else:
            status = status_of(r.value, r.threshold, r.comparison, r.passed, {})
            passed = r.passed
            if declared is not None:
                evidence["declared_not_applicable_but_measured"] = (
                    f"gates.not_applicable.{declared} declares it not applicable, but it was "
                    "measured, so its result stands"
                )
        evidence["status"] = status
        settled.append(replace(r, passed=passed, evidence=evidence))
    return settled


def _declaration(gate: str, not_applicable: Mapping[str, str]) -> str | None:
    """The declaration covering ``gate``: its own name, or its gate's (``fairness`` covers
    ``fairness.sex.approval_rate_ratio``)."""
    if gate in not_applicable:
        return gate
    parts = gate.split(".")
    for end in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in not_applicable:
            return prefix
    return None


def counts(results: Sequence[GateResult]) -> dict[Status, int]:
    """How many checks have each status, every status present (zeros included)."""
    return {status: sum(1 for r in results if r.status == status) for status in STATUSES}


def summary_line(results: Sequence[GateResult]) -> str:
    """One line for a person: ``31 passed, 1 failed (fairness.sex), 2 not applicable,
    4 reported, of 38 checks``."""
    tally = counts(results)
    failed = [r.gate for r in results if r.status == "failed"]
    parts = [f"{tally['passed']} passed"]
    parts.append(f"{tally['failed']} failed" + (f" ({', '.join(failed)})" if failed else ""))
    parts.append(f"{tally['not_applicable']} not applicable")
    parts.append(f"{tally['reported']} reported")
    return f"{', '.join(parts)}, of {len(results)} checks"


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
    estimator, per ``flavor``). ``test`` is the test partition (``data.split.holdout_size``),
    None when the spec keeps none.

    ``held_out`` is the sample the reported figures come from: the test partition when the
    spec keeps one, else the out-of-time sample when the spec has one, else the validation
    split. The test partition comes first because it is drawn from the training snapshot by
    the spec's own rule and is scored once per version; an out-of-time file keeps its own
    ``performance.out_of_time`` checks and the back-test.
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
    test: Sample | None = None

    @property
    def held_out(self) -> Sample:
        if self.test is not None:
            return self.test
        return self.out_of_time if self.out_of_time is not None else self.validation

    @property
    def snapshot_samples(self) -> tuple[Sample, ...]:
        """Every partition of the training snapshot: train, validation and test if kept."""
        return (self.train, self.validation) + ((self.test,) if self.test is not None else ())


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
