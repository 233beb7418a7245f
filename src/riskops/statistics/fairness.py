"""Outcomes of a score's decisions across the groups of a protected attribute.

Approval is the favourable outcome: a row is approved when its score (the probability of the
event, e.g. default) is below the policy's ``approve_below``. Label 1 is the event, so the
"good" applicants, who deserve approval, are the rows with label 0. Per group ``g``:

* approval rate ``P(score < c | g)`` — the selection rate (fairlearn ``selection_rate``);
* true-positive rate of approval ``P(score < c | y = 0, g)`` — equal opportunity, Hardt, Price
  and Srebro, "Equality of Opportunity in Supervised Learning" (NeurIPS 2016), with approval as
  the positive decision and a good applicant as the positive class;
* mean score and observed event rate ``P(y = 1 | g)``; their gap ``mean score - observed rate``
  is the group's calibration-in-the-large (Kleinberg, Mullainathan and Raghavan, "Inherent
  Trade-Offs in the Fair Determination of Risk Scores", 2016: calibration within groups).

Across the groups large enough to compare (``count >= min_group_size``):

* approval-rate ratio ``min_g rate / max_g rate`` — the four-fifths rule of the US Uniform
  Guidelines on Employee Selection Procedures, 29 CFR 1607.4(D): a ratio below 0.8 is
  generally regarded as evidence of adverse impact. When no group is approved at all the
  ratio is 1 (no group is favoured);
* equal-opportunity difference ``max_g TPR - min_g TPR`` (groups with no good applicant have
  no TPR and are left out of it);
* calibration difference ``max_g gap - min_g gap``: how far apart the groups' calibration gaps
  are (a model that over-predicts every group alike has difference 0).

Each statistic is None when fewer than two groups take part. The per-group numbers come from
fairlearn's ``MetricFrame``.

:func:`bootstrap_intervals` puts a percentile bootstrap interval (Efron and Tibshirani 1993,
ch. 13; :mod:`riskops.statistics.bootstrap`) on every group number and on each comparison,
resampling rows within each group (a stratified bootstrap: group sizes stay as observed).

Example::

    >>> outcomes = group_outcomes(["a", "a", "b", "b"], [0, 1, 0, 1], [0.1, 0.3, 0.1, 0.1],
    ...                           approve_below=0.2, min_group_size=1)
    >>> approval_rate_ratio(outcomes)
    0.5
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskops.errors import MissingExtraError
from riskops.statistics.bootstrap import Interval, percentile_interval


@dataclass(frozen=True)
class GroupOutcome:
    """The decisions and the calibration of one group."""

    group: str
    count: int
    approval_rate: float
    true_positive_rate: float | None  # None: the group has no good applicant
    mean_score: float
    observed_rate: float
    excluded: bool  # fewer rows than min_group_size: reported, not compared

    @property
    def calibration_gap(self) -> float:
        return self.mean_score - self.observed_rate

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _count(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    return len(y_true)


def _mean_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(y_pred))


def _observed_rate(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(y_true))


def group_outcomes(
    groups: Sequence[str] | np.ndarray | pd.Series,
    y: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    *,
    approve_below: float | None = None,
    min_group_size: int,
    order: Sequence[str] | None = None,
    approved: Sequence[bool] | np.ndarray | None = None,
) -> list[GroupOutcome]:
    """Per-group outcomes, in ``order`` when given (groups absent from the rows are skipped),
    else sorted by group name. A row is approved when its score is below ``approve_below``,
    or where ``approved`` (the policy's favourable outcome, one flag per row) says so."""
    group_arr = np.asarray(groups, dtype=object)
    y_arr = np.asarray(y, dtype=np.int64)
    score_arr = np.asarray(scores, dtype=np.float64)
    if not (group_arr.shape == y_arr.shape == score_arr.shape) or y_arr.ndim != 1:
        raise ValueError(
            f"groups {group_arr.shape}, labels {y_arr.shape} and scores {score_arr.shape} must "
            "be 1-D of one length"
        )
    if len(y_arr) == 0:
        return []
    MetricFrame, selection_rate = _fairlearn()
    if approved is not None:
        approved_arr = np.asarray(approved, dtype=np.int64)
    elif approve_below is not None:
        approved_arr = (score_arr < approve_below).astype(np.int64)
    else:
        raise ValueError("give approve_below or approved")
    if approved_arr.shape != score_arr.shape:
        raise ValueError(f"approved {approved_arr.shape} must match scores {score_arr.shape}")
    good = 1 - y_arr
    decisions = MetricFrame(
        metrics={"count": _count, "approval_rate": selection_rate},
        y_true=good,
        y_pred=approved_arr,
        sensitive_features=pd.Series(group_arr, name="group"),
    ).by_group
    calibration = MetricFrame(
        metrics={"mean_score": _mean_score, "observed_rate": _observed_rate},
        y_true=y_arr,
        y_pred=score_arr,
        sensitive_features=pd.Series(group_arr, name="group"),
    ).by_group
    # Among good applicants only, the approval rate is the true-positive rate of approval;
    # a group without good applicants has none (rather than a 0/0).
    is_good = good == 1
    tpr: dict[str, float] = {}
    if is_good.any():
        tpr_frame = MetricFrame(
            metrics=selection_rate,
            y_true=good[is_good],
            y_pred=approved_arr[is_good],
            sensitive_features=pd.Series(group_arr[is_good], name="group"),
        ).by_group
        tpr = {str(k): float(v) for k, v in tpr_frame.items()}
    present = [str(g) for g in decisions.index]
    names = [g for g in order if g in present] if order is not None else sorted(present)
    names += [g for g in sorted(present) if g not in names]
    outcomes = []
    for name in names:
        count = int(decisions.loc[name, "count"])
        outcomes.append(
            GroupOutcome(
                group=name,
                count=count,
                approval_rate=float(decisions.loc[name, "approval_rate"]),
                true_positive_rate=tpr.get(name),
                mean_score=float(calibration.loc[name, "mean_score"]),
                observed_rate=float(calibration.loc[name, "observed_rate"]),
                excluded=count < min_group_size,
            )
        )
    return outcomes


def _fairlearn() -> tuple[Any, Any]:
    """fairlearn's MetricFrame and selection_rate, imported where a fairness check runs: the
    package is the ``validate`` extra."""
    try:
        from fairlearn.metrics import MetricFrame, selection_rate
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "fairlearn":
            raise
        raise MissingExtraError("The fairness gate", "fairlearn", "validate") from exc
    return MetricFrame, selection_rate


def _compared(outcomes: Sequence[GroupOutcome]) -> list[GroupOutcome]:
    return [o for o in outcomes if not o.excluded]


def approval_rate_ratio(outcomes: Sequence[GroupOutcome]) -> float | None:
    """``min / max`` approval rate over the compared groups (the four-fifths rule's ratio)."""
    rates = [o.approval_rate for o in _compared(outcomes)]
    if len(rates) < 2:
        return None
    highest = max(rates)
    return 1.0 if highest == 0.0 else min(rates) / highest


def equal_opportunity_difference(outcomes: Sequence[GroupOutcome]) -> float | None:
    """``max - min`` true-positive rate of approval over the compared groups."""
    rates = [o.true_positive_rate for o in _compared(outcomes) if o.true_positive_rate is not None]
    if len(rates) < 2:
        return None
    return max(rates) - min(rates)


def calibration_difference(outcomes: Sequence[GroupOutcome]) -> float | None:
    """``max - min`` of (mean score - observed rate) over the compared groups."""
    gaps = [o.calibration_gap for o in _compared(outcomes)]
    if len(gaps) < 2:
        return None
    return max(gaps) - min(gaps)


def reference_group(outcomes: Sequence[GroupOutcome]) -> str | None:
    """The compared group with the highest approval rate: the four-fifths rule's comparator."""
    compared = _compared(outcomes)
    if not compared:
        return None
    return max(compared, key=lambda o: o.approval_rate).group


# --- Intervals -------------------------------------------------------------------------------

_CELLS = 4_000_000  # resample counts held at once: bounds memory on large groups


@dataclass(frozen=True)
class GroupIntervals:
    """Percentile bootstrap intervals of one group's numbers (``[low, high]`` each; None when
    no replicate is defined, e.g. a group without good applicants has no TPR)."""

    group: str
    approval_rate: Interval
    true_positive_rate: Interval
    mean_score: Interval
    observed_rate: Interval
    calibration_gap: Interval


@dataclass(frozen=True)
class Comparison:
    """A comparison statistic between the two groups that set it at the estimate, with its
    bootstrap interval: ``low_group``'s number against ``high_group``'s."""

    statistic: str
    value: float
    low_group: str
    high_group: str
    interval: Interval


@dataclass(frozen=True)
class FairnessIntervals:
    groups: tuple[GroupIntervals, ...]
    comparisons: tuple[Comparison, ...]
    resamples: int
    confidence: float
    seed: int


def _replicate_sums(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, k) column sums of ``values`` (n, k) over resamples of its n rows, drawn in
    chunks so that no more than ``_CELLS`` counts are held at once."""
    rows = values.shape[0]
    step = max(1, _CELLS // rows)
    out = np.empty((resamples, values.shape[1]), dtype=np.float64)
    for start in range(0, resamples, step):
        chunk = min(step, resamples - start)
        drawn = rng.integers(0, rows, size=(chunk, rows))
        offsets = (np.arange(chunk) * rows)[:, np.newaxis]
        counts = np.bincount((drawn + offsets).ravel(), minlength=chunk * rows)
        out[start : start + chunk] = counts.reshape(chunk, rows) @ values
    return out


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def _pair(outcomes: Sequence[GroupOutcome], value: Any) -> tuple[GroupOutcome, GroupOutcome] | None:
    """The compared groups with the lowest and the highest ``value`` (two distinct groups)."""
    ranked = sorted(
        (o for o in _compared(outcomes) if value(o) is not None), key=lambda o: value(o)
    )
    return (ranked[0], ranked[-1]) if len(ranked) >= 2 else None


def bootstrap_intervals(
    groups: Sequence[str] | np.ndarray,
    y: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    approved: Sequence[bool] | np.ndarray,
    outcomes: Sequence[GroupOutcome],
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> FairnessIntervals:
    """Stratified percentile bootstrap of :func:`group_outcomes` and of the three comparisons.

    Each group's rows are resampled within the group (its size stays fixed, as the comparison
    was designed), ``resamples`` times, by numpy's PCG64 seeded with ``seed``. A comparison
    keeps the two groups that set it at the estimate (the approval-rate ratio is the lowest
    group's rate over the reference's; the differences are the highest group's number minus
    the lowest's) and is recomputed on each replicate, so its interval is centred on the
    estimate instead of being pushed up by picking the extreme groups anew on each resample.
    A replicate where a ratio's reference approves nobody is 1 when the other group approves
    nobody too, and undefined otherwise.
    """
    group_arr = np.asarray(groups, dtype=object)
    y_arr = np.asarray(y, dtype=np.float64)
    approved_arr = np.asarray(approved, dtype=np.float64)
    good = 1.0 - y_arr
    columns = np.column_stack(
        [approved_arr, approved_arr * good, good, np.asarray(scores, dtype=np.float64), y_arr]
    )
    rng = np.random.default_rng(seed)
    replicates: dict[str, dict[str, np.ndarray]] = {}
    for o in outcomes:
        sums = _replicate_sums(columns[group_arr == o.group], resamples, rng)
        rows = float(o.count)
        mean_score, observed = sums[:, 3] / rows, sums[:, 4] / rows
        replicates[o.group] = {
            "approval_rate": sums[:, 0] / rows,
            "true_positive_rate": _ratio(sums[:, 1], sums[:, 2]),
            "mean_score": mean_score,
            "observed_rate": observed,
            "calibration_gap": mean_score - observed,
        }

    def interval(values: np.ndarray) -> Interval:
        return percentile_interval(values, confidence)

    per_group = tuple(
        GroupIntervals(group=g, **{k: interval(v) for k, v in r.items()})
        for g, r in replicates.items()
    )
    comparisons: list[Comparison] = []
    pair = _pair(outcomes, lambda o: o.approval_rate)
    if pair is not None:
        low, high = (replicates[o.group]["approval_rate"] for o in pair)
        ratios = np.where(high > 0, low / np.where(high > 0, high, 1), np.where(low > 0, np.nan, 1))
        value = approval_rate_ratio(outcomes)
        assert value is not None
        comparisons.append(
            Comparison("approval_rate_ratio", value, pair[0].group, pair[1].group, interval(ratios))
        )
    for statistic, metric, estimate in (
        ("equal_opportunity_difference", "true_positive_rate", equal_opportunity_difference),
        ("calibration_difference", "calibration_gap", calibration_difference),
    ):
        pair = _pair(outcomes, lambda o, m=metric: getattr(o, m))
        value = estimate(outcomes)
        if pair is None or value is None:
            continue
        low, high = (replicates[o.group][metric] for o in pair)
        comparisons.append(
            Comparison(statistic, value, pair[0].group, pair[1].group, interval(high - low))
        )
    return FairnessIntervals(per_group, tuple(comparisons), resamples, confidence, seed)
