"""The validation report's conceptual-soundness section, from the records: the benchmark
challenger side by side with the candidate, the train–validation gap in words, the trainer's
hyper-parameters with where the provider says they came from, and the partial-dependence plots
of the top features. Every number is a stored one (``benchmark.auc_lift``,
``performance.generalisation_gap`` and ``explainability.partial_dependence`` evidence, and the
spec recorded with the version).

Example::

    s = soundness(records)
    s.params_source or NOT_STATED
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from riskops.documents import figures
from riskops.documents.evidence import is_number, records_list
from riskops.documents.figures import Plot
from riskops.documents.records import DocumentRecords, GateRow, cite

NOT_STATED = (
    "not stated by the provider: where these values came from (a search on which rows, a "
    "rule, a reference) is not on record, a gap for the validator's findings "
    "(trainer.params_source in the spec)"
)


@dataclass(frozen=True)
class Soundness:
    """What the section shows; a part is None when its record is absent (older runs)."""

    benchmark: GateRow | None
    gap: GateRow | None
    dependence: GateRow | None
    params: tuple[tuple[str, str], ...]
    params_source: str | None
    entrypoint: str | None
    plots: tuple[Plot, ...]

    @property
    def comparison(self) -> tuple[Mapping[str, Any], ...]:
        """The benchmark's metric rows (metric, candidate, benchmark, difference, interval)."""
        rows = records_list(self.benchmark.evidence.get("comparison")) if self.benchmark else None
        return tuple(rows or ())

    @property
    def curves(self) -> tuple[Mapping[str, Any], ...]:
        rows = records_list(self.dependence.evidence.get("curves")) if self.dependence else None
        return tuple(rows or ())

    @property
    def not_stated(self) -> str:
        return NOT_STATED

    @property
    def shown(self) -> bool:
        return bool(self.benchmark or self.gap or self.dependence or self.params)

    def source(self, row: GateRow | None) -> str:
        return cite("gate_results", [row.id]) if row is not None else ""


def _gate(r: DocumentRecords, name: str) -> GateRow | None:
    return next((g for g in r.gates if g.gate == name), None)


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _numbers(value: Any) -> list[float] | None:
    is_list = isinstance(value, Sequence) and not isinstance(value, str)
    if is_list and value and all(is_number(v) for v in value):
        return [float(v) for v in value]
    return None


def dependence_plots(row: GateRow) -> tuple[Plot, ...]:
    """One figure per stored curve, named after its feature."""
    plots = []
    for curve in records_list(row.evidence.get("curves")) or ():
        grid, mean = _numbers(curve.get("grid")), _numbers(curve.get("mean_score"))
        low, high = _numbers(curve.get("ice_p10")), _numbers(curve.get("ice_p90"))
        if grid is None or mean is None or low is None or high is None:
            continue
        if not len(grid) == len(mean) == len(low) == len(high):
            continue
        feature = str(curve.get("feature", "feature"))
        labels = curve.get("labels")
        monotone = curve.get("monotone")
        categorical = isinstance(labels, list) and len(labels) >= len(grid)
        title = f"Partial dependence of the score on {feature}"
        if isinstance(monotone, str):
            follows = curve.get("follows_monotone")
            title += f" (declared {monotone}" + (
                "; the mean curve follows it)" if follows is True else "; the mean curve does not)"
            )
        png = figures.dependence_figure(
            grid,
            mean,
            (low, high),
            feature=feature,
            labels=[str(v) for v in labels] if categorical and isinstance(labels, list) else None,
            monotone=monotone if isinstance(monotone, str) else None,
        )
        slug = re.sub(r"[^a-z0-9_.-]+", "-", feature.lower()).strip("-")
        plots.append(
            Plot(f"soundness-dependence-{slug}", title, cite("gate_results", [row.id]), png)
        )
    return tuple(plots)


def soundness(r: DocumentRecords) -> Soundness:
    """The section's content from ``r`` (see the module docstring)."""
    trainer = r.spec.trainer if r.spec is not None else None
    dependence = _gate(r, "explainability.partial_dependence")
    return Soundness(
        benchmark=_gate(r, "benchmark.auc_lift"),
        gap=_gate(r, "performance.generalisation_gap"),
        dependence=dependence,
        params=tuple((k, _value(v)) for k, v in trainer.params.items()) if trainer else (),
        params_source=trainer.params_source if trainer else None,
        entrypoint=trainer.entrypoint if trainer else None,
        plots=dependence_plots(dependence) if dependence is not None else (),
    )
