"""Which loaded version answers which request: the routing table of a running server.

The table is built from the store alone, never from MLflow's aliases. Per model, in the
server's environment:

- the **champion** is the version of the newest ``full`` deployment row (a deploy or a
  rollback);
- a **canary** is the newest ``canary`` row newer than that, answering the subjects whose
  bucket ``int(sha256(model + "\\x00" + subject_id)[:8]) mod 10,000`` is below
  ``share × 10,000`` — the same subjects every time, whatever the process;
- **shadows** are the ``shadow`` rows newer than the champion's: scored and logged after the
  answer, never returned.

A version is loaded only if it is ``approved`` with both sign-offs (a validator's and a risk
officer's approval) and only from the artifact whose SHA-256 equals the recorded, approved
digest (:func:`riskops.registry.artifacts.load_verified_model`). A version that cannot be loaded
stays in the table as *unavailable*: its requests get the safe fallback decision.

A refresh builds a whole new :class:`RoutingTable` (reusing the scorers of versions already
loaded) and the server swaps one reference, so a request in flight finishes on the table it
started with.

With a ``cache`` folder each verified artifact is kept locally under its digest, and
:func:`load_lane` with ``offline=True`` loads only from there (digest checked again): that is
how a server started while the store is down serves its last verified deployments
(:mod:`riskops.serving.snapshot`).

Example::

    table = build_table(ctx, "production", previous=None)
    route = table.routes["credit-scoring"]
    lane = route.choose("subject-42")          # the champion or the canary
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.config import Role
from riskops.context import Context
from riskops.errors import IntegrityError, NotFoundError
from riskops.governance.lifecycle import State
from riskops.registry.artifacts import load_cached_model, load_verified_model
from riskops.registry.mlflow_adapter import MlflowRegistry
from riskops.scoring.features import FeatureEncoder, UnknownCategory
from riskops.scoring.scorer import Scorer
from riskops.spec import ModelSpec, parse_spec
from riskops.store.tables import ApprovalRecord, DeploymentRecord, ModelVersionRecord

log = logging.getLogger(__name__)

Lane = Literal["champion", "canary", "shadow"]
BUCKETS = 10_000


def bucket(model: str, subject_id: str) -> int:
    """The subject's sticky bucket in [0, 10,000) for ``model``."""
    digest = hashlib.sha256(f"{model}\x00{subject_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


@dataclass(frozen=True)
class Planned:
    """One version the store says should serve, and how."""

    model: str
    version: int
    digest: str
    lane: Lane
    share: float | None


@dataclass(frozen=True)
class Loaded:
    """A planned version and its scorer, or why it has none (``scorer`` is None); the spec's
    YAML and the flavor it was loaded with (kept in the deployment snapshot)."""

    plan: Planned
    spec: ModelSpec
    encoder: FeatureEncoder
    scorer: Scorer | None
    refused: str | None = None
    spec_yaml: str = ""
    flavor: str = ""

    @property
    def available(self) -> bool:
        return self.scorer is not None

    @cached_property
    def optional(self) -> tuple[str, ...]:
        """The features the spec lets a request leave out (counted when missing)."""
        return tuple(f.name for f in self.spec.features if f.allow_missing)


@dataclass(frozen=True)
class Route:
    """The lanes of one model."""

    champion: Loaded
    canary: Loaded | None = None
    shadows: tuple[Loaded, ...] = ()

    def choose(self, subject_id: str) -> Loaded:
        """The lane that answers ``subject_id``: the canary for its sticky share, else the
        champion."""
        canary = self.canary
        if (
            canary is not None
            and canary.plan.share is not None
            and bucket(canary.plan.model, subject_id) < canary.plan.share * BUCKETS
        ):
            return canary
        return self.champion

    def lanes(self) -> tuple[Loaded, ...]:
        return (self.champion, *((self.canary,) if self.canary else ()), *self.shadows)


@dataclass(frozen=True)
class RoutingTable:
    """Every model's route, and the plan it was built from (to tell when the store changed)."""

    routes: Mapping[str, Route] = field(default_factory=dict)
    plan: tuple[Planned, ...] = ()

    @property
    def ready(self) -> bool:
        """True when every planned version is loaded with its digest verified."""
        return all(lane.available for route in self.routes.values() for lane in route.lanes())

    def refused(self) -> list[Loaded]:
        return [
            lane for route in self.routes.values() for lane in route.lanes() if not lane.available
        ]


def plan_of(ctx: Context, environment: str) -> tuple[Planned, ...]:
    """What the store says should serve in ``environment``, eligible versions only (approved,
    both sign-offs); logged when a deployed version is not eligible."""
    with ctx.store.reading() as session:
        rows = list(
            session.execute(
                select(DeploymentRecord)
                .where(DeploymentRecord.environment == environment)
                .order_by(DeploymentRecord.id)
            ).scalars()
        )
        wanted: list[tuple[DeploymentRecord, Lane]] = []
        for name in sorted({r.model_name for r in rows}):
            mine = [r for r in rows if r.model_name == name]
            full = [r for r in mine if r.mode == "full"]
            if not full:
                continue
            champion = full[-1]
            wanted.append((champion, "champion"))
            later = [r for r in mine if r.id > champion.id and r.version != champion.version]
            canaries = [r for r in later if r.mode == "canary"]
            if canaries:
                wanted.append((canaries[-1], "canary"))
            # A version that answers as the canary is not also scored as a shadow.
            canary_version = canaries[-1].version if canaries else None
            shadows: dict[int, DeploymentRecord] = {
                r.version: r for r in later if r.mode == "shadow" and r.version != canary_version
            }
            wanted.extend((r, "shadow") for r in shadows.values())
        plan = []
        for row, lane in wanted:
            version = session.execute(
                select(ModelVersionRecord).where(
                    ModelVersionRecord.model_name == row.model_name,
                    ModelVersionRecord.version == row.version,
                )
            ).scalar_one_or_none()
            why = _ineligible(session, row, version)
            if why is not None or version is None:
                log.error("Not serving %s@%s: %s", row.model_name, row.version, why)
                continue
            plan.append(Planned(row.model_name, row.version, version.digest, lane, row.share))
        return tuple(plan)


def _ineligible(
    session: Session, row: DeploymentRecord, version: ModelVersionRecord | None
) -> str | None:
    if version is None:
        return "no such version in the store"
    if version.state != State.APPROVED:
        return f"it is '{version.state}', not 'approved'"
    approvals = session.execute(
        select(ApprovalRecord.role).where(
            ApprovalRecord.model_name == row.model_name,
            ApprovalRecord.version == row.version,
            ApprovalRecord.decision == "approve",
        )
    ).scalars()
    roles = set(approvals)
    missing = {Role.VALIDATOR.value, Role.RISK_OFFICER.value} - roles
    if missing:
        return f"it lacks the sign-off of a {' and a '.join(sorted(missing))}"
    return None


def build_table(
    ctx: Context,
    environment: str,
    *,
    previous: RoutingTable | None,
    unknown_category: UnknownCategory = "reject",
    on_refused: Callable[[Planned, str], None] | None = None,
    deadline_ms: float | None = None,
    retry_refused: bool = False,
    cache: Path | None = None,
) -> RoutingTable:
    """A new routing table for what the store says now. Versions loaded in ``previous`` are
    reused; others are fetched and digest-checked. ``on_refused`` is told of each version that
    could not be loaded (digest mismatch or load failure). With ``retry_refused``, versions
    ``previous`` could not load are tried again even when the plan is unchanged (an artifact
    store that was briefly away); ``previous`` itself is returned when nothing changed.
    ``cache`` keeps (and first tries) a verified local copy of each artifact."""
    plan = plan_of(ctx, environment)
    if previous is not None and previous.plan == plan:
        if not (retry_refused and previous.refused()):
            return previous
        table = _build(ctx, plan, previous, unknown_category, on_refused, deadline_ms, cache)
        return previous if len(table.refused()) == len(previous.refused()) else table
    return _build(ctx, plan, previous, unknown_category, on_refused, deadline_ms, cache)


def _build(
    ctx: Context,
    plan: tuple[Planned, ...],
    previous: RoutingTable | None,
    unknown_category: UnknownCategory,
    on_refused: Callable[[Planned, str], None] | None,
    deadline_ms: float | None,
    cache: Path | None,
) -> RoutingTable:
    known: dict[tuple[str, int, str], Loaded] = {}
    if previous is not None:
        for route in previous.routes.values():
            for lane in route.lanes():
                if lane.available:
                    known[(lane.plan.model, lane.plan.version, lane.plan.digest)] = lane
    lanes: list[Loaded] = []
    for planned in plan:
        reused = known.get((planned.model, planned.version, planned.digest))
        if reused is not None:
            loaded = dataclasses.replace(reused, plan=planned)
        else:
            loaded = _load(ctx, planned, unknown_category, deadline_ms, cache)
            if loaded.refused is not None and on_refused is not None:
                on_refused(planned, loaded.refused)
        lanes.append(loaded)
    return table_of(lanes)


def table_of(lanes: Sequence[Loaded]) -> RoutingTable:
    """The routing table of ``lanes`` (each model's champion, canary and shadows), its plan
    in their order."""
    by_model: dict[str, list[Loaded]] = {}
    for loaded in lanes:
        by_model.setdefault(loaded.plan.model, []).append(loaded)
    routes = {}
    for name, loaded_lanes in by_model.items():
        champion = next(x for x in loaded_lanes if x.plan.lane == "champion")
        canary = next((x for x in loaded_lanes if x.plan.lane == "canary"), None)
        shadows = tuple(x for x in loaded_lanes if x.plan.lane == "shadow")
        routes[name] = Route(champion, canary, shadows)
    return RoutingTable(routes=routes, plan=tuple(x.plan for x in lanes))


def _load(
    ctx: Context,
    planned: Planned,
    unknown_category: UnknownCategory,
    deadline_ms: float | None = None,
    cache: Path | None = None,
) -> Loaded:
    with ctx.store.reading() as session:
        version = session.execute(
            select(ModelVersionRecord).where(
                ModelVersionRecord.model_name == planned.model,
                ModelVersionRecord.version == planned.version,
            )
        ).scalar_one()
        spec_yaml, flavor = version.spec_yaml, version.flavor
    return load_lane(
        ctx.registry,
        planned,
        spec_yaml,
        flavor,
        unknown_category=unknown_category,
        deadline_ms=deadline_ms,
        cache=cache,
    )


def load_lane(
    registry: MlflowRegistry,
    planned: Planned,
    spec_yaml: str,
    flavor: str,
    *,
    unknown_category: UnknownCategory,
    deadline_ms: float | None = None,
    cache: Path | None = None,
    offline: bool = False,
) -> Loaded:
    """``planned`` loaded from its artifact, digest-verified (from ``cache`` alone when
    ``offline``), or refused with the reason; a broken artifact never raises."""
    spec = parse_spec(spec_yaml, source=f"{planned.model}@{planned.version}").spec
    encoder = FeatureEncoder(spec, unknown_category=unknown_category)
    ref = f"{planned.model}@{planned.version}"
    lane = Loaded(planned, spec, encoder, None, spec_yaml=spec_yaml, flavor=flavor)
    try:
        if offline:
            if cache is None:
                raise NotFoundError(f"No local model cache to load {ref} from.")
            model = load_cached_model(
                cache, planned.model, planned.version, digest=planned.digest, flavor=flavor
            )
        else:
            model = load_verified_model(
                registry,
                planned.model,
                planned.version,
                digest=planned.digest,
                flavor=flavor,
                cache=cache,
            )
        scorer = Scorer(
            spec,
            model,
            version=planned.version,
            digest=planned.digest,
            unknown_category=unknown_category,
            deadline_ms=deadline_ms,
        )
    except IntegrityError as exc:
        log.critical("REFUSED %s: artifact digest mismatch. %s", ref, exc)
        return dataclasses.replace(lane, refused=f"digest mismatch: {exc}")
    except Exception as exc:  # a broken artifact must not stop the server: that version falls back
        log.error("Could not load %s: %s", ref, exc)
        return dataclasses.replace(lane, refused=f"load failed: {exc}")
    return dataclasses.replace(lane, scorer=scorer)
