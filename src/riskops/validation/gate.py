"""The gate interface. A gate reads its thresholds from the spec's ``gates.<name>`` section,
looks at the candidate's (and the champion's) scores on the validation rows, and returns one
result per check, each a frozen record with a stable kind such as ``riskops.gate/performance@1``.

Adding a gate is adding a module under ``validation/gates/`` and one entry in ``GATES``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from riskops.registry.versions import ModelRef
from riskops.spec import ModelSpec

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
class Scored:
    """A model version's scores on the validation rows."""

    ref: ModelRef
    digest: str
    scores: np.ndarray


@dataclass(frozen=True)
class GateInput:
    """What every gate may look at."""

    spec: ModelSpec
    y: np.ndarray
    candidate: Scored
    champion: Scored | None


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
