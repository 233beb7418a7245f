"""Monitoring windows: a model's aggregate rows of a span of whole hours, summed per version.

The flusher writes one ``monitoring_aggregates`` row per (batch, model, version, environment,
hour, segment) (:mod:`riskops.decisions.aggregates`); a window is every row of its hours,
merged by addition (counts, outcomes, latency) and by the parallel update of the moments,
across batches, hours and replicas.

Example::

    totals = window_totals(session, "credit-scoring", "production", start, end)
    totals[3].counts     # int64 (F + 1, width) over version 3's frozen bins, or None
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.decisions.aggregates import (
    LATENCY_BUCKETS_MS,
    decode_counts,
    decode_moments,
    hour_of,
    merge_moments,
)
from riskops.errors import InputError
from riskops.store.tables import MonitoringAggregateRecord

MAX_WINDOW = timedelta(days=366)


@dataclass
class VersionWindow:
    """The sum of one version's aggregate rows in a window."""

    version: int
    n: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    fallbacks: int = 0
    latency: np.ndarray = field(
        default_factory=lambda: np.zeros(len(LATENCY_BUCKETS_MS) + 1, dtype=np.int64)
    )
    counts: np.ndarray | None = None
    moments: np.ndarray | None = None
    profiled_n: int = 0  # decisions whose rows carry counts over the profile
    digests: set[str] = field(default_factory=set)
    segments: dict[str, dict[str, int]] = field(default_factory=dict)
    rows: int = 0

    def add(self, row: MonitoringAggregateRecord) -> None:
        self.rows += 1
        self.n += row.n
        for outcome, count in row.outcomes.items():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + int(count)
        self.fallbacks += row.fallbacks
        self.latency += np.asarray(row.latency, dtype=np.int64)
        segment = self.segments.setdefault(row.segment, {})
        for outcome, count in row.outcomes.items():
            segment[outcome] = segment.get(outcome, 0) + int(count)
        if row.counts is None or row.counts_shape is None or row.profile_sha256 is None:
            return
        self.digests.add(row.profile_sha256)
        counts = decode_counts(row.counts, row.counts_shape)
        self.counts = counts if self.counts is None else self.counts + counts
        if row.moments is not None:
            moments = decode_moments(row.moments)
            self.moments = moments if self.moments is None else merge_moments(self.moments, moments)
        self.profiled_n += row.n


def parse_window(text: str) -> timedelta:
    """``24h``, ``7d``, ``90m`` → a timedelta; InputError naming the format otherwise."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    number, unit = text[:-1], text[-1:].lower()
    if unit in units and number.isdigit() and int(number) > 0:
        window = timedelta(**{units[unit]: int(number)})
        if window <= MAX_WINDOW:
            return window
    raise InputError(
        f"The window {text!r} is not a duration riskops understands (at most 366 days).",
        hint="Write a whole number with m, h or d: --window 24h, --window 7d, --window 90m",
    )


def window_totals(
    session: Session, model: str, environment: str, start: datetime, end: datetime
) -> dict[int, VersionWindow]:
    """Each version's sum of the aggregate rows of the window's hours."""
    query = (
        select(MonitoringAggregateRecord)
        .where(
            MonitoringAggregateRecord.model_name == model,
            MonitoringAggregateRecord.environment == environment,
            MonitoringAggregateRecord.hour >= hour_of(start),
            MonitoringAggregateRecord.hour < end,
        )
        .order_by(MonitoringAggregateRecord.id)
    )
    out: dict[int, VersionWindow] = {}
    for row in session.scalars(query.execution_options(yield_per=2000)):
        out.setdefault(row.version, VersionWindow(row.version)).add(row)
    return out
