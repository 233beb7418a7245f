from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from riskops.context import Context
from riskops.errors import NotFoundError
from riskops.monitoring.labels import ingest_labels
from riskops.monitoring.outcomes import performance_report
from riskops.monitoring.performance import SCORE_BINS
from tests.unit.monitoring.conftest import MODEL, log_decisions

ROWS = 4000


def _simulate(ctx: Context, tmp_path: Path, *, calibrated: bool) -> tuple[np.ndarray, np.ndarray]:
    """ROWS decisions over three monthly cohorts with scores p ~ Beta(2, 6); outcomes drawn
    as Bernoulli(p) (calibrated) or Bernoulli(min(1, 2p)) (a model that under-predicts);
    labelled all but the last 500."""
    rng = np.random.default_rng(7)
    p = rng.beta(2.0, 6.0, size=ROWS)
    truth = p if calibrated else np.minimum(1.0, 2.0 * p)
    y = (rng.random(ROWS) < truth).astype(int)
    start = datetime(2026, 1, 10, tzinfo=UTC)
    made = log_decisions(
        ctx,
        [
            {
                "subject_id": f"S{i}",
                "score": float(p[i]),
                "decided_at": start + timedelta(days=int(i % 90)),
            }
            for i in range(ROWS)
        ],
    )
    months = rng.integers(1, 7, size=ROWS)
    pd.DataFrame(
        {
            "decision_id": [m.decision_id for m in made[:-500]],
            "label": ["bad" if v else "good" for v in y[:-500]],
            "observed_at": [
                (m.decided_at + timedelta(days=31 * int(k))).isoformat()
                for m, k in zip(made[:-500], months[:-500], strict=True)
            ],
        }
    ).to_csv(tmp_path / "outcomes.csv", index=False)
    ingest_labels(ctx, tmp_path / "outcomes.csv", model=MODEL, actor="oscar")
    return p, y


def test_estimate_before_labels_is_the_scores_expectation(workspace: Context) -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0.02, 0.9, size=300)
    log_decisions(
        workspace,
        [
            {
                "subject_id": f"S{i}",
                "score": float(v),
                "decided_at": datetime(2026, 3, 1, tzinfo=UTC),
            }
            for i, v in enumerate(p)
        ],
    )
    report = performance_report(workspace, MODEL)
    assert report.labelled == 0
    assert report.realised_auc is None
    assert report.ks is None
    assert report.estimate.n == 300
    assert report.estimate.expected_positives == pytest.approx(p.sum())
    assert report.estimate.sigma == pytest.approx(np.sqrt((p * (1 - p)).sum()))
    declined = p >= 0.5
    assert report.estimate.by_outcome["decline"] == (
        int(declined.sum()),
        pytest.approx(p[declined].sum()),
    )
    assert report.as_dict()["vintage"]["cumulative_bad_rate"] == [[]]


def test_calibrated_scores_realise_their_estimate(workspace: Context, tmp_path: Path) -> None:
    p, y = _simulate(workspace, tmp_path, calibrated=True)
    report = performance_report(workspace, MODEL)
    labelled_p, labelled_y = p[:-500], y[:-500]
    assert report.labelled == ROWS - 500
    assert report.positives == labelled_y.sum()
    assert report.estimate.n == ROWS
    binned = np.minimum((labelled_p * SCORE_BINS).astype(int), SCORE_BINS - 1)
    assert report.realised_auc is not None
    assert report.realised_auc.auc == pytest.approx(roc_auc_score(labelled_y, binned), abs=1e-12)
    assert report.auc_within is True
    assert abs(report.positives - report.expected_positives_labelled) <= 3 * report.sigma_labelled
    assert all(row.within for row in report.outcomes)
    assert [r.outcome for r in report.outcomes] == ["approve", "refer", "decline"]
    calibrated = [r.calibrated for _, _, r in report.bands if r.n >= 30]
    assert sum(calibrated) >= len(calibrated) - 1  # 95% intervals: one miss is chance
    assert report.cohorts == ["2026-01", "2026-02", "2026-03", "2026-04"]
    first = report.vintage[0]
    assert all(a <= b for a, b in itertools.pairwise(first))  # bad rates only grow
    january = (np.arange(ROWS) % 90) < 22  # decided 2026-01-10 + 0..21 days
    labelled = np.arange(ROWS) < ROWS - 500
    assert report.decisions_per_cohort[0] == january.sum()
    assert first[-1] == pytest.approx(y[january & labelled].sum() / january.sum())


def test_miscalibrated_scores_fall_outside_the_tolerance(
    workspace: Context, tmp_path: Path
) -> None:
    _simulate(workspace, tmp_path, calibrated=False)
    report = performance_report(workspace, MODEL)
    assert report.positives - report.expected_positives_labelled > 3 * report.sigma_labelled
    assert not all(row.within for row in report.outcomes)


def test_vintage_leaves_months_a_cohort_has_not_reached_empty(
    workspace: Context, tmp_path: Path
) -> None:
    workspace.clock = lambda: datetime(2026, 3, 15, tzinfo=UTC)
    made = log_decisions(
        workspace,
        [
            {"subject_id": "A", "score": 0.3, "decided_at": datetime(2026, 1, 5, tzinfo=UTC)},
            {"subject_id": "B", "score": 0.3, "decided_at": datetime(2026, 1, 6, tzinfo=UTC)},
            {"subject_id": "C", "score": 0.3, "decided_at": datetime(2026, 3, 2, tzinfo=UTC)},
        ],
    )
    observed = ["2026-02-10", "2026-03-10", "2026-03-10"]
    pd.DataFrame(
        {
            "decision_id": [m.decision_id for m in made],
            "label": ["bad", "good", "bad"],
            "observed_at": observed,
        }
    ).to_csv(tmp_path / "o.csv", index=False)
    ingest_labels(workspace, tmp_path / "o.csv", model=MODEL, actor="oscar")
    report = performance_report(workspace, MODEL)
    assert report.cohorts == ["2026-01", "2026-03"]
    assert report.vintage == [[0.0, 0.5, 0.5], [1.0, None, None]]


def test_report_refusals(workspace: Context) -> None:
    with pytest.raises(NotFoundError, match="No logged decision of model 'fraud'"):
        performance_report(workspace, "fraud")
    log_decisions(
        workspace,
        [{"subject_id": "A", "score": 0.3, "decided_at": datetime(2026, 1, 1, tzinfo=UTC)}],
    )
    with pytest.raises(NotFoundError, match=r"No logged decision of credit-scoring@4"):
        performance_report(workspace, MODEL, version=4)
    staging = performance_report(workspace, MODEL, environment="staging")
    assert (staging.estimate.n, staging.labelled) == (0, 0)  # nothing decided in staging
