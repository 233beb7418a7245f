"""Fairness gate: for each of the spec's protected attributes, on the held-out rows and under
the policy's approval cut-off, the groups' approval rates, equal opportunity and (optionally)
calibration must be close enough (statistics in :mod:`riskops.statistics.fairness`).

Groups come from the raw text of the attribute: ``bands`` cut a numeric attribute at its edges
(``age_in_years: [25]`` gives ``< 25`` and ``>= 25``), ``groups`` gather the raw values of a
categorical one under names (values not listed keep their own name); a missing value is the
group ``missing``. Groups with fewer than ``min_group_size`` rows are reported in the evidence
and left out of the comparisons, which say so. With fewer than two groups to compare, a result
passes with no value and a note.

Results per attribute: ``fairness.<attribute>.approval_rate_ratio`` (>= the minimum, the
four-fifths rule), ``fairness.<attribute>.equal_opportunity_difference`` (<= the maximum) and,
when ``max_calibration_difference`` is set, ``fairness.<attribute>.calibration_difference``.
They share one evidence mapping for the documents: ``attribute``; ``groups``, one row per
group (``group``, ``count``, ``approval_rate``, ``true_positive_rate``, ``mean_score``,
``observed_rate``, ``excluded``); ``reference``, the compared group with the highest approval
rate (the four-fifths rule's comparator); the three statistics; and ``exclusions``, which names
the groups too small to compare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import pandas as pd

from riskops.scoring.policy import FAVOURABLE, DecisionPolicy
from riskops.spec import FairnessGate as FairnessConfig
from riskops.statistics.fairness import (
    GroupOutcome,
    approval_rate_ratio,
    calibration_difference,
    equal_opportunity_difference,
    group_outcomes,
    reference_group,
)
from riskops.validation.gate import GateInput, GateResult, threshold_check

KIND = "riskops.gate/fairness@1"
MISSING = "missing"


def _edge(value: float) -> str:
    return f"{value:g}"


def band_labels(edges: Sequence[float]) -> list[str]:
    """Names of the bands cut at ``edges``: ``[25, 40]`` → ``< 25``, ``25 to < 40``, ``>= 40``."""
    cuts = sorted(set(edges))
    if not cuts:
        return []
    inner = [f"{_edge(lo)} to < {_edge(hi)}" for lo, hi in pairwise(cuts)]
    return [f"< {_edge(cuts[0])}", *inner, f">= {_edge(cuts[-1])}"]


def banded(values: pd.Series, edges: Sequence[float]) -> pd.Series:
    """Each value's band (see :func:`band_labels`); text that is not a number is ``missing``."""
    cuts = np.array(sorted(set(edges)), dtype=np.float64)
    labels = np.array(band_labels(edges), dtype=object)
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    positions = np.searchsorted(cuts, numbers, side="right")
    out = np.where(np.isnan(numbers), MISSING, labels[np.minimum(positions, len(cuts))])
    return pd.Series(out, index=values.index, dtype=object)


def regrouped(values: pd.Series, groups: Mapping[str, Sequence[str]]) -> pd.Series:
    """Each raw value's group name; values no group lists keep their own text."""
    lookup = {value: name for name, members in groups.items() for value in members}
    text = values.astype("string")
    out = [MISSING if pd.isna(v) else lookup.get(str(v), str(v)) for v in text]
    return pd.Series(out, index=values.index, dtype=object)


def attribute_groups(
    values: pd.Series, attribute: str, config: FairnessConfig
) -> tuple[pd.Series, list[str] | None]:
    """The group of each row for ``attribute`` and the order to report the groups in."""
    if attribute in config.bands:
        edges = config.bands[attribute]
        return banded(values, edges), [*band_labels(edges), MISSING]
    mapping = config.groups.get(attribute, {})
    return regrouped(values, mapping), [*mapping] if mapping else None


def _result(
    *,
    attribute: str,
    metric: str,
    value: float | None,
    threshold: float,
    comparison: Literal[">=", "<="],
    config: FairnessConfig,
    evidence: dict[str, Any],
    why_none: str,
) -> GateResult:
    gate = f"fairness.{attribute}.{metric}"
    if value is None:
        return GateResult(
            gate=gate,
            kind=KIND,
            metric=metric,
            value=None,
            threshold=threshold,
            comparison="n/a",
            severity=config.severity,
            passed=True,
            evidence={**evidence, "note": why_none},
        )
    return threshold_check(
        gate=gate,
        kind=KIND,
        metric=metric,
        value=value,
        threshold=threshold,
        comparison=comparison,
        severity=config.severity,
        evidence=evidence,
    )


def _exclusion_note(outcomes: Sequence[GroupOutcome], min_group_size: int) -> str | None:
    small = [f"{o.group} ({o.count})" for o in outcomes if o.excluded]
    if not small:
        return None
    return (
        f"Groups with fewer than {min_group_size} rows are reported but not compared: "
        f"{', '.join(small)}."
    )


class FairnessGate:
    name = "fairness"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        config = data.spec.gates.fairness
        attributes = data.spec.data.protected_attributes
        if not attributes:
            return [
                GateResult(
                    gate="fairness",
                    kind=KIND,
                    metric="protected_attributes",
                    value=None,
                    threshold=None,
                    comparison="n/a",
                    severity=config.severity,
                    passed=True,
                    evidence={"note": "the spec declares no data.protected_attributes"},
                )
            ]
        sample = data.held_out
        policy = DecisionPolicy.from_spec(data.spec)
        approved = policy.codes(sample.scores, sample.matrix) == FAVOURABLE
        cut_off = data.spec.policy.approve_below
        results: list[GateResult] = []
        for attribute in attributes:
            groups, order = attribute_groups(sample.raw[attribute], attribute, config)
            outcomes = group_outcomes(
                groups.to_numpy(),
                sample.y,
                sample.scores,
                approved=approved,
                min_group_size=config.min_group_size,
                order=order,
            )
            ratio = approval_rate_ratio(outcomes)
            opportunity = equal_opportunity_difference(outcomes)
            calibration = calibration_difference(outcomes)
            evidence: dict[str, Any] = {
                "attribute": attribute,
                "groups": [o.as_dict() for o in outcomes],
                "reference": reference_group(outcomes),
                "approval_rate_ratio": ratio,
                "equal_opportunity_difference": opportunity,
                "calibration_difference": calibration,
                "approve_below": cut_off,
                "favourable_outcome": policy.favourable,
                "min_group_size": config.min_group_size,
                "rows": len(sample.y),
                "data": f"{sample.name} rows",
                "exclusions": _exclusion_note(outcomes, config.min_group_size),
            }
            too_few = (
                f"Fewer than two groups of {attribute} have at least {config.min_group_size} "
                "rows, so there is nothing to compare; collect more held-out data or regroup."
            )
            if config.min_approval_rate_ratio is not None:
                results.append(
                    _result(
                        attribute=attribute,
                        metric="approval_rate_ratio",
                        value=ratio,
                        threshold=config.min_approval_rate_ratio,
                        comparison=">=",
                        config=config,
                        evidence=evidence,
                        why_none=too_few,
                    )
                )
            if config.max_equal_opportunity_difference is not None:
                results.append(
                    _result(
                        attribute=attribute,
                        metric="equal_opportunity_difference",
                        value=opportunity,
                        threshold=config.max_equal_opportunity_difference,
                        comparison="<=",
                        config=config,
                        evidence=evidence,
                        why_none=(
                            f"Fewer than two compared groups of {attribute} hold a good "
                            "applicant, so there is no true-positive rate to compare."
                        ),
                    )
                )
            if config.max_calibration_difference is not None:
                results.append(
                    _result(
                        attribute=attribute,
                        metric="calibration_difference",
                        value=calibration,
                        threshold=config.max_calibration_difference,
                        comparison="<=",
                        config=config,
                        evidence=evidence,
                        why_none=too_few,
                    )
                )
        return results
