"""Monitoring window aggregates: what each sealed batch of decisions adds to its windows.

The flusher calls :func:`aggregate_batch` in the batch's own transaction, with the features it
has just decrypted. Decisions are grouped by (model, version, environment, hour, segment) and
each group becomes one ``monitoring_aggregates`` row:

* ``n``; decision counts per outcome (``approve``/``refer``/``decline``…); fallbacks;
* a latency histogram over the fixed :data:`LATENCY_BUCKETS_MS`;
* with the version's reference profile: int64 counts of every feature and the score over the
  profile's frozen fine bins (``profile.count(profile.bin_columns(...))``, little-endian,
  zlib-compressed, with their shape: :func:`encode_counts`) and the mergeable moments (n, mean, M2, min, max) of each numeric row.

Windows merge by addition (counts) and by Chan et al.'s parallel update (moments; Chan, Golub &
LeVeque 1979), across batches, hours and replicas (:func:`merge_moments`). A row names no
decision and no person: a replayed batch is never aggregated twice because the flusher skips
decisions already stored, and the unique key (batch, model, version, environment, hour,
segment) refuses a second row for the same batch. A category outside the spec's list is
counted in the profile's "unseen" bin, and a segment value outside it is the segment
``unseen``: its text is never kept.

A version without a profile (trained before profiles existed) still gets its decision-layer
counts; ``profile_sha256`` and ``counts`` are then None, and a monitoring run says so.

Example::

    plans = PlanCache(StoredPlans(model_cache))
    rows = aggregate_batch(session, batch_id, decisions, plans)   # inside the flush
"""

from __future__ import annotations

import json
import logging
import math
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from riskops.errors import RiskopsError, SpecError
from riskops.profiles.profile import FILE_NAME, ReferenceProfile
from riskops.spec import parse_spec
from riskops.store.tables import (
    AuditEventRecord,
    ModelVersionRecord,
    MonitoringAggregateRecord,
    table_of,
)

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from riskops.spec import ModelSpec

# Upper edges (ms) of the latency histogram's buckets; one more bucket holds everything above.
LATENCY_BUCKETS_MS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0)
NO_SEGMENT = ""  # the segment of a model whose spec declares none
MISSING_SEGMENT = "missing"
UNSEEN_SEGMENT = "unseen"
UNRECORDED_ENVIRONMENT = "unrecorded"  # decisions logged before environments were recorded
MOMENT_FIELDS = ("n", "mean", "m2", "min", "max")
NO_FEATURE_COUNTS: dict[str, Any] = {
    "profile_sha256": None,
    "counts": None,
    "counts_shape": None,
    "moments": None,
}


class CountingProfile(Protocol):
    """What the aggregates need of a version's reference profile
    (:class:`riskops.profiles.profile.ReferenceProfile`)."""

    @property
    def width(self) -> int: ...

    def bin_columns(self, columns: Mapping[str, np.ndarray], score: np.ndarray) -> np.ndarray: ...

    def count(self, bins: np.ndarray) -> np.ndarray: ...

    def sha256(self) -> str: ...


@dataclass(frozen=True)
class MonitoringPlan:
    """What the flusher needs to aggregate one version's decisions: its profile (None when the
    version has none), the numeric features whose moments are kept (in the profile's row
    order, categorical rows get NaN), and the segment feature with its allowed categories."""

    features: tuple[str, ...]
    numeric: tuple[bool, ...]
    profile: CountingProfile | None = None
    profile_sha256: str | None = None  # the profile's digest, computed once
    segment: str | None = None
    segment_categories: frozenset[str] = frozenset()

    def segment_of(self, features: Mapping[str, Any]) -> str:
        """The segment of one decision: its category, ``missing``, or ``unseen`` (never the
        text of a value outside the spec)."""
        if self.segment is None:
            return NO_SEGMENT
        value = features.get(self.segment)
        if value is None:
            return MISSING_SEGMENT
        text = str(value)
        return text if text in self.segment_categories else UNSEEN_SEGMENT


# (session, model, version, artifact digest) → the version's plan, None when it is unknown.
PlanSource = Callable[[Session, str, int, str], MonitoringPlan | None]


def plan_from_spec(spec: ModelSpec, profile: CountingProfile | None) -> MonitoringPlan:
    """The plan of a version trained from ``spec``, counted over ``profile``."""
    segment = spec.monitoring.segment
    categories = frozenset(spec.feature(segment).categories or ()) if segment else frozenset()
    return MonitoringPlan(
        features=spec.feature_names,
        numeric=tuple(f.type == "numeric" for f in spec.features),
        profile=profile,
        profile_sha256=None if profile is None else profile.sha256(),
        segment=segment,
        segment_categories=categories,
    )


@dataclass(frozen=True)
class StoredPlans:
    """:data:`PlanSource` of the store and the server's model cache: the spec stored with the
    version (its segment), and its reference profile read from the verified artifact copy the
    server keeps under its digest (``<model_cache>/sha256-<hex>/``, as
    :mod:`riskops.registry.artifacts` keeps it), checked against the profile hash recorded
    when the version was registered (the ``version.registered`` audit event). The flusher never
    imports MLflow: without a cached copy (or without ``model_cache``) a version gets the
    decision-layer counts only. Picklable, so a flusher process gets it too."""

    model_cache: Path | None = None

    def __call__(
        self, session: Session, model: str, version: int, digest: str
    ) -> MonitoringPlan | None:
        text = session.scalar(
            select(ModelVersionRecord.spec_yaml).where(
                ModelVersionRecord.model_name == model, ModelVersionRecord.version == version
            )
        )
        if text is None:
            return None
        try:
            spec = parse_spec(text, source=f"{model}@{version}'s stored spec").spec
        except SpecError:
            return None  # a spec from an older riskops: counts of the decision layer only
        return plan_from_spec(spec, self.profile(session, model, version, digest))

    def profile(
        self, session: Session, model: str, version: int, digest: str
    ) -> ReferenceProfile | None:
        """The version's profile from the model cache, verified; None (and a warning) when
        it is not there or does not match what was recorded."""
        if self.model_cache is None:
            return None
        recorded = recorded_profile_sha256(session, model, version)
        path = self.model_cache / digest.replace(":", "-") / FILE_NAME
        if recorded is None or not path.is_file():
            return None
        try:
            profile = ReferenceProfile.from_json(path.read_bytes())
        except RiskopsError as exc:
            log.warning("monitoring: the profile of %s@%s is unreadable: %s", model, version, exc)
            return None
        if (profile.model, profile.version) != (model, version) or profile.sha256() != recorded:
            log.warning(
                "monitoring: the cached profile of %s@%s is not the one recorded at "
                "registration (%s); its feature counts are not kept",
                model,
                version,
                recorded,
            )
            return None
        return profile


def recorded_profile_sha256(session: Session, model: str, version: int) -> str | None:
    """The profile hash recorded in the version's ``version.registered`` audit event."""
    payload = session.scalar(
        select(AuditEventRecord.payload)
        .where(
            AuditEventRecord.action == "version.registered",
            AuditEventRecord.object_id == f"{model}@{version}",
        )
        .order_by(AuditEventRecord.seq.desc())
        .limit(1)
    )
    if payload is None:
        return None
    found = json.loads(payload).get("profile_sha256")
    return found if isinstance(found, str) else None


class PlanCache:
    """Each version's plan loaded once per flusher, by artifact digest (a version's profile
    never changes)."""

    def __init__(self, source: PlanSource) -> None:
        self._source = source
        self._plans: dict[tuple[str, int, str], MonitoringPlan | None] = {}

    def get(self, session: Session, model: str, version: int, digest: str) -> MonitoringPlan | None:
        key = (model, version, digest)
        if key not in self._plans:
            self._plans[key] = self._source(session, model, version, digest)
        return self._plans[key]


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def aggregate_batch(
    session: Session,
    batch_id: int,
    decisions: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
    plans: PlanCache,
) -> list[dict[str, Any]]:
    """Insert the aggregate rows of one sealed batch: ``decisions`` are (stored row, plain
    features) pairs. Returns the rows inserted."""
    groups: dict[tuple[str, int, str, datetime, str], list[int]] = {}
    plan_of: dict[tuple[str, int], MonitoringPlan | None] = {}
    for index, (row, features) in enumerate(decisions):
        model, version = row["model_name"], int(row["version"])
        if (model, version) not in plan_of:
            plan_of[model, version] = plans.get(session, model, version, row["digest"])
        plan = plan_of[model, version]
        key = (
            model,
            version,
            row.get("environment") or UNRECORDED_ENVIRONMENT,
            hour_of(row["decided_at"]),
            NO_SEGMENT if plan is None else plan.segment_of(features),
        )
        groups.setdefault(key, []).append(index)
    rows = []
    for (model, version, environment, hour, segment), members in groups.items():
        picked = [decisions[i] for i in members]
        row = _decision_layer(picked)
        row.update(NO_FEATURE_COUNTS)
        row.update(
            batch_id=batch_id,
            model_name=model,
            version=version,
            environment=environment,
            hour=hour,
            segment=segment,
        )
        try:
            row.update(_feature_layer(plan_of[model, version], picked))
        except (RiskopsError, ValueError, TypeError) as exc:
            # Monitoring must never hold up the decision log: the batch is stored with its
            # decision-layer counts, and the window says its feature counts are missing.
            log.error(
                "monitoring: feature counts of %s@%s not kept for batch %s: %s",
                model,
                version,
                batch_id,
                exc,
            )
        rows.append(row)
    if rows:
        session.execute(insert(table_of(MonitoringAggregateRecord)), rows)
    return rows


def _decision_layer(
    picked: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
) -> dict[str, Any]:
    outcomes: dict[str, int] = {}
    fallbacks = 0
    latencies = np.empty(len(picked), dtype=np.float64)
    for i, (row, _) in enumerate(picked):
        outcomes[row["decision"]] = outcomes.get(row["decision"], 0) + 1
        fallbacks += bool(row["fallback"])
        latencies[i] = row["latency_ms"]
    buckets = np.searchsorted(np.asarray(LATENCY_BUCKETS_MS), latencies, side="left")
    latency = np.bincount(buckets, minlength=len(LATENCY_BUCKETS_MS) + 1)
    return {
        "n": len(picked),
        "outcomes": dict(sorted(outcomes.items())),
        "fallbacks": fallbacks,
        "latency": [int(c) for c in latency],
    }


def _feature_layer(
    plan: MonitoringPlan | None, picked: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]
) -> dict[str, Any]:
    if plan is None or plan.profile is None:
        return NO_FEATURE_COUNTS
    columns = feature_columns(plan, [features for _, features in picked])
    score = np.array(
        [math.nan if row["score"] is None else float(row["score"]) for row, _ in picked],
        dtype=np.float64,
    )
    counts = plan.profile.count(plan.profile.bin_columns(columns, score))
    numeric_rows = [
        _as_float(columns[name]) if is_numeric else None
        for name, is_numeric in zip(plan.features, plan.numeric, strict=True)
    ]
    moments = moments_of([*numeric_rows, score])
    return {
        "profile_sha256": plan.profile_sha256,
        "counts": encode_counts(counts),
        "counts_shape": list(counts.shape),
        "moments": encode_array(moments.astype("<f8")),
    }


def feature_columns(
    plan: MonitoringPlan, rows: Iterable[Mapping[str, Any]]
) -> dict[str, np.ndarray]:
    """The decisions' features as one object array per feature of the plan (None: missing)."""
    listed = list(rows)
    return {name: np.array([r.get(name) for r in listed], dtype=object) for name in plan.features}


def _as_float(column: np.ndarray) -> np.ndarray:
    """Numbers as float64, anything else (None, text) as NaN."""
    try:
        return np.asarray(column, dtype=np.float64)  # None becomes NaN
    except (TypeError, ValueError):
        pass
    out = np.full(column.shape, math.nan, dtype=np.float64)
    for i, value in enumerate(column):
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[i] = float(value)
    return out


def moments_of(rows: Sequence[np.ndarray | None]) -> np.ndarray:
    """(len(rows), 5) float64 moments (n, mean, M2, min, max) of each row's finite values; a
    row that is None (a categorical feature) is all NaN, a row with no finite value has n = 0
    and NaN for the rest."""
    out = np.full((len(rows), len(MOMENT_FIELDS)), math.nan, dtype=np.float64)
    for i, values in enumerate(rows):
        if values is None:
            continue
        finite = values[np.isfinite(values)]
        out[i, 0] = finite.size
        if finite.size:
            mean = float(finite.mean())
            out[i, 1:] = (mean, float(((finite - mean) ** 2).sum()), finite.min(), finite.max())
    return out


def merge_moments(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Moments of the union of two samples, row by row (Chan, Golub & LeVeque 1979):
    ``n = nₐ + n_b``, ``δ = mean_b − meanₐ``, ``mean = meanₐ + δ·n_b/n``,
    ``M2 = M2ₐ + M2_b + δ²·nₐ·n_b/n``; min and max of both."""
    out = a.copy()
    na, nb = a[:, 0], b[:, 0]
    n = na + nb
    take_b = (na == 0) & (nb > 0)
    both = (na > 0) & (nb > 0)
    out[take_b] = b[take_b]
    if both.any():
        delta = b[both, 1] - a[both, 1]
        total = n[both]
        out[both, 0] = total
        out[both, 1] = a[both, 1] + delta * nb[both] / total
        out[both, 2] = a[both, 2] + b[both, 2] + delta**2 * na[both] * nb[both] / total
        out[both, 3] = np.minimum(a[both, 3], b[both, 3])
        out[both, 4] = np.maximum(a[both, 4], b[both, 4])
    return out


def encode_array(array: np.ndarray) -> bytes:
    """An array's bytes, C order, in its (little-endian) dtype."""
    return np.ascontiguousarray(array).tobytes()


def encode_counts(counts: np.ndarray) -> bytes:
    """int64 counts as zlib-compressed little-endian bytes: a batch fills a few of each row's
    hundreds of fine bins, so the raw array is mostly zeros (≈ 74 kB for 17 features and
    the score at 512 fine bins, a few kB compressed)."""
    return zlib.compress(encode_array(counts.astype("<i8")), 1)


def decode_counts(data: bytes, shape: Sequence[int]) -> np.ndarray:
    """The counts :func:`encode_counts` stored, as int64 of ``shape``."""
    raw = zlib.decompress(data)
    return np.frombuffer(raw, dtype="<i8").reshape(tuple(shape)).astype(np.int64)


def decode_moments(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f8").reshape(-1, len(MOMENT_FIELDS)).astype(np.float64)
