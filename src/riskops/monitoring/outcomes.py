"""The outcomes analysis of one deployed version: performance estimated from its scores before
labels arrive, realised from the labels that have, side by side, and the vintage matrix.

Read from two places that name no one: the performance cells (``labels`` add to them,
:mod:`riskops.monitoring.labels`) and the decision log's clear columns (when, score, outcome) —
no feature is decrypted and no label opened. In the vintage matrix a month a cohort has not
reached yet (counted from the cohort's first day to now) is None, not a rate. The statistics and their sources are in
:mod:`riskops.monitoring.performance`.

The estimate is computed twice: on every served, scored decision of the version (what the
portfolio is expected to do) and on the labelled ones only (the same rows as the realised
figures, so the two can be compared within the estimate's tolerance).

Example::

    report = performance_report(ctx, "credit-scoring")
    report.realised_auc, report.expected_auc_labelled, report.vintage
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np
from sqlalchemy import func, select

from riskops.context import Context
from riskops.errors import NotFoundError
from riskops.monitoring.labels import cohort_of, months_between
from riskops.monitoring.performance import (
    BANDS,
    SCORE_BINS,
    TOLERANCE_SIGMAS,
    BinnedAuc,
    Rate,
    binned_auc,
    binned_ks,
    expected_auc,
    rate,
    score_bin,
    vintage,
    within,
)
from riskops.store.tables import DecisionRecord, PerformanceCellRecord

# Every kind's outcomes, favourable to adverse (credit, then fraud and transaction risk).
OUTCOMES = ("approve", "allow", "refer", "review", "decline", "block")
ASSUMPTIONS = (
    "The scores are calibrated: a decision scored p goes bad with probability p.",
    "No concept shift: that relation still holds on the population scored now.",
    "Labels are complete for the rows they cover: a decision without a label is not counted "
    "as good.",
)


@dataclass(frozen=True)
class OutcomeRow:
    """One decision outcome (the policy's cut-offs) of the labelled decisions: how many went
    bad, how many the scores expected (``Σp ± σ``), and whether the realised count lies
    within the tolerance."""

    outcome: str
    labelled: int
    positives: int
    expected: float
    sigma: float

    @property
    def within(self) -> bool:
        return within(self.positives, self.expected, self.sigma)


@dataclass(frozen=True)
class Estimate:
    """Performance expected from scores alone, over ``n`` decisions."""

    n: int
    expected_positives: float
    sigma: float
    expected_auc: float | None
    by_outcome: dict[str, tuple[int, float]]  # outcome → (decisions, expected positives)

    @property
    def expected_bad_rate(self) -> float | None:
        return self.expected_positives / self.n if self.n else None


@dataclass(frozen=True)
class PerformanceReport:
    """Estimated and realised performance of ``model@version`` (see the module docstring)."""

    kind: ClassVar[str] = "riskops.monitoring/performance@1"

    model_name: str
    version: int
    environment: str | None
    estimate: Estimate
    labelled: int
    positives: int
    expected_positives_labelled: float
    sigma_labelled: float
    realised_auc: BinnedAuc | None
    expected_auc_labelled: float | None
    ks: float | None
    bands: list[tuple[float, float, Rate]]
    outcomes: list[OutcomeRow]
    cohorts: list[str]
    decisions_per_cohort: list[int]
    vintage: list[list[float | None]]
    assumptions: tuple[str, ...] = field(default=ASSUMPTIONS)

    @property
    def bad_rate(self) -> float | None:
        return self.positives / self.labelled if self.labelled else None

    @property
    def auc_within(self) -> bool | None:
        """Whether the realised AUC lies within 3 DeLong σ of the AUC the scores expected."""
        if self.realised_auc is None or self.expected_auc_labelled is None:
            return None
        sigma = math.sqrt(self.realised_auc.variance)
        return within(self.realised_auc.auc, self.expected_auc_labelled, sigma)

    def as_dict(self) -> dict[str, Any]:
        auc = self.realised_auc
        return {
            "kind": self.kind,
            "model": self.model_name,
            "version": self.version,
            "environment": self.environment,
            "score_grid": f"{SCORE_BINS} equal-width bins on [0, 1]",
            "tolerance": f"estimate ± {TOLERANCE_SIGMAS:g} σ",
            "assumptions": list(self.assumptions),
            "estimated": {
                "decisions": self.estimate.n,
                "expected_positives": self.estimate.expected_positives,
                "sigma": self.estimate.sigma,
                "expected_bad_rate": self.estimate.expected_bad_rate,
                "expected_auc": self.estimate.expected_auc,
                "by_outcome": {
                    k: {"decisions": n, "expected_positives": e}
                    for k, (n, e) in self.estimate.by_outcome.items()
                },
            },
            "realised": {
                "labelled": self.labelled,
                "positives": self.positives,
                "bad_rate": self.bad_rate,
                "expected_positives": self.expected_positives_labelled,
                "sigma": self.sigma_labelled,
                "auc": None if auc is None else auc.auc,
                "auc_interval": None if auc is None else [auc.low, auc.high],
                "auc_interval_method": "DeLong on the binned scores, normal 95%",
                "gini": None if auc is None else auc.gini,
                "expected_auc": self.expected_auc_labelled,
                "auc_within_tolerance": self.auc_within,
                "ks": self.ks,
            },
            "bands": [
                {
                    "lower": lower,
                    "upper": upper,
                    "n": r.n,
                    "positives": r.events,
                    "mean_score": r.mean_score if r.n else None,
                    "bad_rate": r.rate,
                    "jeffreys_95": None if r.low is None else [r.low, r.high],
                    "calibrated": r.calibrated,
                }
                for lower, upper, r in self.bands
            ],
            "outcomes": [
                {
                    "outcome": o.outcome,
                    "labelled": o.labelled,
                    "positives": o.positives,
                    "expected_positives": o.expected,
                    "sigma": o.sigma,
                    "within_tolerance": o.within,
                }
                for o in self.outcomes
            ],
            "vintage": {
                "cohorts": self.cohorts,
                "decisions": self.decisions_per_cohort,
                "months_since_decision": list(range(len(self.vintage[0]) if self.vintage else 0)),
                "cumulative_bad_rate": self.vintage,
            },
        }


def _version(ctx: Context, model: str, version: int | None) -> int:
    with ctx.store.reading() as session:
        latest = session.scalar(
            select(func.max(DecisionRecord.version)).where(DecisionRecord.model_name == model)
        )
        if version is not None:
            found = session.scalar(
                select(func.count())
                .select_from(DecisionRecord)
                .where(DecisionRecord.model_name == model, DecisionRecord.version == version)
            )
            if not found:
                raise NotFoundError(
                    f"No logged decision of {model}@{version}.",
                    hint=f"Leave out --version to report the latest version ({model}@{latest})."
                    if latest
                    else "Check the model name.",
                )
            return version
    if latest is None:
        raise NotFoundError(
            f"No logged decision of model {model!r}, so there is no performance to report.",
            hint="Check the name (riskops models list); decisions are logged once a deployed "
            "version serves.",
        )
    return int(latest)


def performance_report(
    ctx: Context, model: str, *, version: int | None = None, environment: str | None = None
) -> PerformanceReport:
    """Estimated and realised performance of ``model@version`` (default: the latest version
    with logged decisions), optionally of one environment."""
    chosen = _version(ctx, model, version)
    bins = np.zeros((3, SCORE_BINS))  # n, Σp, Σp² of every served, scored decision
    by_outcome: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    per_cohort: dict[str, int] = defaultdict(int)
    with ctx.store.reading() as session:
        query = select(
            DecisionRecord.decided_at, DecisionRecord.score, DecisionRecord.decision
        ).where(
            DecisionRecord.model_name == model,
            DecisionRecord.version == chosen,
            DecisionRecord.served.is_(True),
            DecisionRecord.score.is_not(None),
        )
        if environment is not None:
            query = query.where(DecisionRecord.environment == environment)
        for decided_at, stored, outcome in session.execute(query):
            score = float(stored or 0.0)  # the query excludes unscored decisions
            b = score_bin(score)
            bins[0, b] += 1
            bins[1, b] += score
            bins[2, b] += score * score
            by_outcome[outcome][0] += 1
            by_outcome[outcome][1] += score
            per_cohort[cohort_of(decided_at)] += 1
        cell_query = select(PerformanceCellRecord).where(
            PerformanceCellRecord.model_name == model, PerformanceCellRecord.version == chosen
        )
        if environment is not None:
            cell_query = cell_query.where(PerformanceCellRecord.environment == environment)
        cells = list(session.scalars(cell_query))
    n_all = int(bins[0].sum())
    estimate = Estimate(
        n=n_all,
        expected_positives=float(bins[1].sum()),
        sigma=math.sqrt(max(float(bins[1].sum() - bins[2].sum()), 0.0)),
        expected_auc=_expected_auc(bins[0], bins[1], bins[2]),
        by_outcome={k: (int(v[0]), v[1]) for k, v in sorted(by_outcome.items())},
    )
    return _realised(model, chosen, environment, estimate, cells, per_cohort, now=ctx.clock())


def _expected_auc(n: np.ndarray, sum_p: np.ndarray, sum_p2: np.ndarray) -> float | None:
    try:
        return expected_auc(n, sum_p, sum_p2)
    except ValueError:
        return None  # no rows, or every score 0 or 1


def _realised(
    model: str,
    version: int,
    environment: str | None,
    estimate: Estimate,
    cells: list[PerformanceCellRecord],
    per_cohort: dict[str, int],
    *,
    now: datetime,
) -> PerformanceReport:
    pos = np.zeros(SCORE_BINS)
    n = np.zeros(SCORE_BINS)
    sum_p = np.zeros(SCORE_BINS)
    sum_p2 = np.zeros(SCORE_BINS)
    outcome_sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    cohorts = sorted({*per_cohort, *(c.cohort for c in cells)})
    months = max((c.months_since for c in cells), default=-1) + 1
    grid = np.zeros((len(cohorts), max(months, 1)))
    row_of = {cohort: i for i, cohort in enumerate(cohorts)}
    for c in cells:
        pos[c.score_bin] += c.positives
        n[c.score_bin] += c.n
        sum_p[c.score_bin] += c.sum_p
        sum_p2[c.score_bin] += c.sum_p2
        sums = outcome_sums[c.outcome]
        sums[0] += c.n
        sums[1] += c.positives
        sums[2] += c.sum_p
        sums[3] += c.sum_p2
        grid[row_of[c.cohort], c.months_since] += c.positives
    neg = n - pos
    labelled, positives = int(n.sum()), int(pos.sum())
    has_both = positives > 0 and labelled - positives > 0
    width = SCORE_BINS // BANDS
    bands = [
        (
            band / BANDS,
            (band + 1) / BANDS,
            rate(
                int(n[band * width : (band + 1) * width].sum()),
                int(pos[band * width : (band + 1) * width].sum()),
                float(sum_p[band * width : (band + 1) * width].sum()),
            ),
        )
        for band in range(BANDS)
    ]
    order = {name: i for i, name in enumerate(OUTCOMES)}
    outcomes = [
        OutcomeRow(
            outcome=name,
            labelled=int(s[0]),
            positives=int(s[1]),
            expected=s[2],
            sigma=math.sqrt(max(s[2] - s[3], 0.0)),
        )
        for name, s in sorted(outcome_sums.items(), key=lambda kv: order.get(kv[0], 99))
        if s[0] > 0
    ]
    decisions = np.array([per_cohort.get(cohort, 0) for cohort in cohorts], dtype=np.float64)
    matrix = vintage(grid, decisions) if cells else np.zeros((len(cohorts), 0))
    # A cohort has not yet reached the months after its age: those cells are not zero, unknown.
    for i, cohort in enumerate(cohorts):
        start = datetime.strptime(cohort, "%Y-%m").replace(tzinfo=UTC)
        matrix[i, months_between(start, now) + 1 :] = np.nan
    return PerformanceReport(
        model_name=model,
        version=version,
        environment=environment,
        estimate=estimate,
        labelled=labelled,
        positives=positives,
        expected_positives_labelled=float(sum_p.sum()),
        sigma_labelled=math.sqrt(max(float(sum_p.sum() - sum_p2.sum()), 0.0)),
        realised_auc=binned_auc(pos, neg) if has_both else None,
        expected_auc_labelled=_expected_auc(n, sum_p, sum_p2),
        ks=binned_ks(pos, neg) if has_both else None,
        bands=bands,
        outcomes=outcomes,
        cohorts=cohorts,
        decisions_per_cohort=[int(d) for d in decisions],
        vintage=[[None if math.isnan(v) else float(v) for v in row] for row in matrix],
    )
