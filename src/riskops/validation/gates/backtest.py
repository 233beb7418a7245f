"""Out-of-time back-test: how the score held up period by period over the held-out time range.

Whenever the data has dates (``data.split.time_column`` or ``history.time_column``) the rows
the reported figures come from — the out-of-time file when the spec has one, else the held-out
sample (:attr:`riskops.validation.gate.GateInput.held_out`) — are grouped by calendar period:
ISO weeks (starting Monday, UTC) when their time range spans at most 16 weeks, calendar months
when longer. Per period it records the rows, events, event rate, mean score, KS and AUC, the
AUC with a DeLong interval ``AUC ± z·√var`` (clipped to [0, 1], ``z`` the normal quantile of
``gates.performance.confidence``; DeLong et al. 1988, see
:mod:`riskops.statistics.delong`) where the period holds at least two events and two
non-events, the point AUC alone where it holds one of either, nothing where it holds one class.

One ``reported`` result, ``backtest.auc_by_period``: its value is the lowest period AUC, the
evidence holds every period. Rates are as observed in the rows (no prevalence weighting: the
back-test follows the sample through time). Data without dates gets a ``not_applicable``
result that says so: there is no back-test.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from riskops.statistics.delong import auc_covariance
from riskops.statistics.discrimination import auc, ks
from riskops.validation.gate import GateInput, GateResult, Sample

KIND = "riskops.gate/backtest@1"
GATE = "backtest.auc_by_period"
WEEKS_BEFORE_MONTHS = 16


def time_column(data: GateInput) -> str | None:
    """The spec's time column: ``data.split.time_column``, else ``history.time_column``."""
    spec = data.spec
    return spec.data.split.time_column or (spec.history.time_column if spec.history else None)


def period_table(
    y: np.ndarray, scores: np.ndarray, times: pd.Series, *, confidence: float
) -> tuple[str, list[dict[str, Any]]]:
    """The period length (``week`` or ``month``) and one row per period, in time order.

    Example: ``period_table(y, scores, pd.to_datetime(raw["TX_DATETIME"], utc=True),
    confidence=0.95)``."""
    stamps = pd.DatetimeIndex(times).tz_convert(None) if times.dt.tz else pd.DatetimeIndex(times)
    span = stamps.max() - stamps.min()
    period = "week" if span <= pd.Timedelta(weeks=WEEKS_BEFORE_MONTHS) else "month"
    labels = stamps.to_period("W-SUN" if period == "week" else "M")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    rows: list[dict[str, Any]] = []
    for label in sorted(set(labels)):
        mask = np.asarray(labels == label)
        part_y, part_s = y[mask], scores[mask]
        events = int(part_y.sum())
        row: dict[str, Any] = {
            "period": str(label.start_time.date()),
            "rows": int(mask.sum()),
            "events": events,
            "event_rate": events / int(mask.sum()),
            "score_mean": float(part_s.mean()),
            "auc": None,
            "auc_low": None,
            "auc_high": None,
            "ks": None,
        }
        if 0 < events < len(part_y):
            row["auc"] = auc(part_y, part_s)
            row["ks"] = ks(part_y, part_s)
        if 2 <= events <= len(part_y) - 2:
            _, covariance = auc_covariance(part_y, [part_s])
            half = z * math.sqrt(max(float(covariance[0, 0]), 0.0))
            row["auc_low"] = max(0.0, row["auc"] - half)
            row["auc_high"] = min(1.0, row["auc"] + half)
        rows.append(row)
    return period, rows


class BacktestGate:
    name = "backtest"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        column = time_column(data)
        sample = data.out_of_time if data.out_of_time is not None else data.held_out
        if column is None or column not in sample.raw.columns:
            return [_no_dates(sample, column)]
        times = pd.to_datetime(
            sample.raw[column].astype("string"), utc=True, errors="coerce", format="ISO8601"
        )
        dated = times.notna().to_numpy()
        if not dated.any():
            return [_no_dates(sample, column)]
        confidence = data.spec.gates.performance.confidence
        period, periods = period_table(
            sample.y[dated], sample.scores[dated], times[dated], confidence=confidence
        )
        measured = [p["auc"] for p in periods if p["auc"] is not None]
        return [
            GateResult(
                gate=GATE,
                kind=KIND,
                metric="lowest_period_auc",
                value=min(measured) if measured else None,
                threshold=None,
                comparison="n/a",
                severity="advisory",
                passed=True,
                evidence={
                    "sample": sample.name,
                    "time_column": column,
                    "period": period,
                    "from": str(times[dated].min()),
                    "to": str(times[dated].max()),
                    "rows": len(sample.y),
                    "rows_without_time": int((~dated).sum()),
                    "confidence": confidence,
                    "interval_method": "DeLong variance, normal approximation",
                    "periods": periods,
                    "note": (
                        f"the {sample.name} rows by {period}; AUC where the period holds both "
                        "outcomes, with an interval where it holds at least two of each"
                    ),
                },
            )
        ]


def _no_dates(sample: Sample, column: str | None) -> GateResult:
    why = (
        "the data has no dates (no data.split.time_column or history.time_column), so there is "
        "no out-of-time back-test"
        if column is None
        else f"the {sample.name} rows have no time in {column!r}, so there is no back-test"
    )
    return GateResult(
        gate=GATE,
        kind=KIND,
        metric="lowest_period_auc",
        value=None,
        threshold=None,
        comparison="n/a",
        severity="advisory",
        passed=True,
        evidence={"sample": sample.name, "status": "not_applicable", "note": why},
    )
