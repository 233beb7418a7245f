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

How sure, which way, and how strong (``bootstrap_resamples`` > 0): ``ci`` and ``comparisons``
give each statistic's bootstrap interval (rows resampled within each group) and whether the
threshold lies inside it (the result is then not conclusive); ``group_intervals`` each group's
rates with intervals; ``calibration_by_group`` each group's predicted and observed risk and the
words for its direction ("risk over-predicted for ..."); ``decisions_by_group`` the policy's
outcomes per group with Wilson intervals; ``power`` the smallest difference each group's size
lets a comparison detect (``power_method`` states the formula). Each attribute also gets
``fairness.<attribute>.proxy_auc`` (reported; :mod:`riskops.validation.gates.proxies`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import pandas as pd

from riskops.scoring.policy import FAVOURABLE, DecisionPolicy
from riskops.spec import FairnessGate as FairnessConfig
from riskops.statistics.bootstrap import Interval
from riskops.statistics.fairness import (
    FairnessIntervals,
    GroupOutcome,
    approval_rate_ratio,
    bootstrap_intervals,
    calibration_difference,
    equal_opportunity_difference,
    group_outcomes,
    reference_group,
)
from riskops.statistics.proportions import (
    minimum_detectable_difference,
    wilson_interval,
)
from riskops.validation.gate import GateInput, GateResult, threshold_check
from riskops.validation.gates.proxies import proxy_result

KIND = "riskops.gate/fairness@1"
MISSING = "missing"
SEED = 20_261_129
POWER_METHOD = (
    "smallest difference from the other rows detectable at alpha 0.05 (two-sided) with 80% "
    "power: (z_0.975 + z_0.8) * sqrt(p (1 - p) (1/n_group + 1/n_rest)) = 2.802 * sqrt(...), "
    "p the rate over all rows; for the true-positive rate n counts good applicants only, for "
    "the calibration gap p is the observed event rate"
)


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


def _pair(interval: Interval) -> list[float] | None:
    if interval.low is None or interval.high is None:
        return None
    return [interval.low, interval.high]


def _interval_words(
    interval: list[float] | None, threshold: float | None, confidence: float
) -> tuple[bool | None, str]:
    """Whether ``threshold`` lies inside the interval, and the sentence that says so."""
    if interval is None:
        return None, "no interval: no resample defines it"
    low, high = interval
    shown = f"the {confidence:.0%} interval [{low:.3g}, {high:.3g}]"
    if threshold is None:
        return None, shown
    if low <= threshold <= high:
        return True, (
            f"{shown} holds the threshold {threshold:g}: at these group sizes the result is "
            "not conclusive either way"
        )
    side = "above" if low > threshold else "below"
    return False, f"{shown} lies wholly {side} the threshold {threshold:g}"


def _comparisons(
    intervals: FairnessIntervals, config: FairnessConfig
) -> tuple[dict[str, list[float] | None], list[dict[str, Any]]]:
    thresholds = {
        "approval_rate_ratio": config.min_approval_rate_ratio,
        "equal_opportunity_difference": config.max_equal_opportunity_difference,
        "calibration_difference": config.max_calibration_difference,
    }
    ci: dict[str, list[float] | None] = {}
    rows = []
    for c in intervals.comparisons:
        bounds = _pair(c.interval)
        ci[c.statistic] = bounds
        inside, words = _interval_words(bounds, thresholds[c.statistic], intervals.confidence)
        rows.append(
            {
                "statistic": c.statistic,
                "value": c.value,
                "between": f"{c.low_group} and {c.high_group}",
                "interval": bounds,
                "threshold": thresholds[c.statistic],
                "threshold_inside": inside,
                "note": words,
            }
        )
    return ci, rows


def _group_intervals(
    outcomes: Sequence[GroupOutcome], intervals: FairnessIntervals | None
) -> list[dict[str, Any]]:
    found = {g.group: g for g in intervals.groups} if intervals is not None else {}
    rows = []
    for o in outcomes:
        g = found.get(o.group)
        rows.append(
            {
                "group": o.group,
                "count": o.count,
                "approval_rate": o.approval_rate,
                "approval_rate_ci": _pair(g.approval_rate) if g else None,
                "true_positive_rate": o.true_positive_rate,
                "true_positive_rate_ci": _pair(g.true_positive_rate) if g else None,
            }
        )
    return rows


def calibration_words(
    group: str, predicted: float, observed: float, gap_interval: list[float] | None
) -> tuple[str, str]:
    """The direction of a group's calibration gap and the sentence for the documents:
    ``risk over-predicted for < 25 (predicted 0.31, observed 0.24)``."""
    gap = predicted - observed
    direction = "over-predicted" if gap > 0 else "under-predicted" if gap < 0 else "matched"
    numbers = f"(predicted {predicted:.3f}, observed {observed:.3f})"
    if direction == "matched":
        return direction, f"risk matched for {group} {numbers}"
    scored = "riskier" if gap > 0 else "safer"
    words = f"risk {direction} for {group} {numbers}: scored {scored} than its outcomes show"
    if gap_interval is not None and gap_interval[0] <= 0.0 <= gap_interval[1]:
        low, high = gap_interval
        words += f", though not conclusively: the gap's interval [{low:.3g}, {high:.3g}] holds 0"
    return direction, words


def _calibration_by_group(
    outcomes: Sequence[GroupOutcome], intervals: FairnessIntervals | None
) -> list[dict[str, Any]]:
    found = {g.group: g for g in intervals.groups} if intervals is not None else {}
    rows = []
    for o in outcomes:
        g = found.get(o.group)
        gap_ci = _pair(g.calibration_gap) if g else None
        direction, words = calibration_words(o.group, o.mean_score, o.observed_rate, gap_ci)
        rows.append(
            {
                "group": o.group,
                "count": o.count,
                "predicted": o.mean_score,
                "predicted_ci": _pair(g.mean_score) if g else None,
                "observed": o.observed_rate,
                "observed_ci": _pair(g.observed_rate) if g else None,
                "gap": o.calibration_gap,
                "gap_ci": gap_ci,
                "direction": direction,
                "words": words,
            }
        )
    return rows


def decisions_by_group(
    groups: np.ndarray,
    codes: np.ndarray,
    outcome_names: Sequence[str],
    order: Sequence[str],
    confidence: float,
) -> list[dict[str, Any]]:
    """Per group and per outcome of the policy: rows, their share of the group and its Wilson
    interval. The shares of one group add up to 1."""
    rows = []
    for group in order:
        mine = codes[groups == group]
        for code, outcome in enumerate(outcome_names):
            count = int((mine == code).sum())
            low, high = wilson_interval(count, len(mine), confidence)
            rows.append(
                {
                    "group": group,
                    "outcome": outcome,
                    "count": count,
                    "rate": count / len(mine) if len(mine) else None,
                    "rate_ci": None if low is None or high is None else [low, high],
                }
            )
    return rows


def group_power(
    outcomes: Sequence[GroupOutcome], y: np.ndarray, approved: np.ndarray
) -> list[dict[str, Any]]:
    """Per group, the smallest difference from the other rows its comparisons can detect
    (:func:`riskops.statistics.proportions.minimum_detectable_difference`)."""
    total = len(y)
    good = y == 0
    goods = int(good.sum())
    approval = float(approved.mean()) if total else 0.0
    tpr = float(approved[good].mean()) if goods else 0.0
    event_rate = float(y.mean()) if total else 0.0
    rows = []
    for o in outcomes:
        group_goods = round(o.count * (1.0 - o.observed_rate))
        rows.append(
            {
                "group": o.group,
                "count": o.count,
                "good_applicants": group_goods,
                "detectable_approval_rate_difference": minimum_detectable_difference(
                    o.count, total - o.count, rate=approval
                ),
                "detectable_true_positive_rate_difference": minimum_detectable_difference(
                    group_goods, goods - group_goods, rate=tpr
                ),
                "detectable_calibration_gap": minimum_detectable_difference(
                    o.count, total - o.count, rate=event_rate
                ),
            }
        )
    return rows


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
        codes = policy.codes(sample.scores, sample.matrix)
        approved = codes == FAVOURABLE
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
            intervals = (
                bootstrap_intervals(
                    groups.to_numpy(),
                    sample.y,
                    sample.scores,
                    approved,
                    outcomes,
                    resamples=config.bootstrap_resamples,
                    confidence=config.confidence,
                    seed=SEED,
                )
                if config.bootstrap_resamples > 0
                else None
            )
            ci, comparisons = _comparisons(intervals, config) if intervals else ({}, [])
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
                "confidence": config.confidence,
                "ci": ci,
                "comparisons": comparisons,
                "group_intervals": _group_intervals(outcomes, intervals),
                "calibration_by_group": _calibration_by_group(outcomes, intervals),
                "decisions_by_group": decisions_by_group(
                    groups.to_numpy(),
                    codes,
                    policy.outcomes,
                    [o.group for o in outcomes],
                    config.confidence,
                ),
                "power": group_power(outcomes, sample.y, approved),
                "power_method": POWER_METHOD,
                "bootstrap": {
                    "method": "percentile bootstrap, rows resampled within each group",
                    "resamples": config.bootstrap_resamples,
                    "seed": SEED,
                },
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
            train_groups, _ = attribute_groups(data.train.raw[attribute], attribute, config)
            results.append(
                proxy_result(
                    data.spec,
                    data.train,
                    attribute,
                    train_groups.where(train_groups != MISSING),
                    severity=config.severity,
                    kind=KIND,
                    seed=SEED,
                )
            )
        return results
