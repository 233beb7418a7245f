"""Which loaded version answers which request: the routing table of a running server.

Which versions serve, and in which lane, is governance's answer
(:func:`riskops.governance.serving.serving_plan`: champion, canary with its sticky share,
shadows; approved versions with both sign-offs only), asked of the store, never of MLflow's
aliases. This module loads those versions and routes requests among them: a **canary** answers
the subjects whose bucket ``int(sha256(model + "\\x00" + subject_id)[:8]) mod 10,000`` is below
``share × 10,000`` — the same subjects every time, whatever the process; **shadows** are scored
and logged after the answer, never returned.

A version is loaded only from the artifact whose SHA-256 equals the recorded, approved digest
(:func:`riskops.registry.artifacts.load_verified_model`). A version that cannot be loaded
stays in the table as *unavailable*: its requests get the safe fallback decision.

A refresh builds a whole new :class:`RoutingTable` (reusing the scorers of versions already
loaded) and the server swaps one reference, so a request in flight finishes on the table it
started with.

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

from riskops.context import Context
from riskops.errors import IntegrityError, NotFoundError, RiskopsError
from riskops.governance.serving import Planned, serving_plan
from riskops.registry.artifacts import load_cached_model, load_verified_model
from riskops.registry.mlflow_adapter import MlflowRegistry
from riskops.registry.versions import ModelRef, get_version
from riskops.scoring.features import FeatureEncoder, UnknownCategory
from riskops.scoring.scorer import Scorer
from riskops.spec import ModelSpec, parse_spec

log = logging.getLogger(__name__)

BUCKETS = 10_000


def bucket(model: str, subject_id: str) -> int:
    """The subject's sticky bucket in [0, 10,000) for ``model``."""
    digest = hashlib.sha256(f"{model}\x00{subject_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


@dataclass(frozen=True)
class Loaded:
    """A planned version and its scorer, or why it has none (``scorer`` is None): ``refused``
    says why in words, ``refused_code`` as the error's code (``integrity`` for a digest
    mismatch; ``load_failed`` for a failure that is not a riskops error); the spec's YAML and
    the flavor it was loaded with (kept in the deployment snapshot)."""

    plan: Planned
    spec: ModelSpec
    encoder: FeatureEncoder
    scorer: Scorer | None
    refused: str | None = None
    spec_yaml: str = ""
    flavor: str = ""
    refused_code: str | None = None

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
    """What governance says should serve in ``environment``."""
    with ctx.store.reading() as session:
        return tuple(serving_plan(session, environment))


def build_table(
    ctx: Context,
    environment: str,
    *,
    previous: RoutingTable | None,
    unknown_category: UnknownCategory = "reject",
    on_refused: Callable[[Loaded], None] | None = None,
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
    on_refused: Callable[[Loaded], None] | None,
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
                on_refused(loaded)
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
        version = get_version(session, ModelRef(planned.model, planned.version))
        spec_yaml, flavor, source = version.spec_yaml, version.flavor, version.artifact_uri
    return load_lane(
        ctx.registry,
        planned,
        spec_yaml,
        flavor,
        unknown_category=unknown_category,
        deadline_ms=deadline_ms,
        cache=cache,
        source=source,
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
    source: str | None = None,
) -> Loaded:
    """``planned`` loaded from its artifact (``source``, its recorded location: a local one is
    read without MLflow), digest-verified (from ``cache`` alone when ``offline``), or refused
    with the reason; a broken artifact never raises."""
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
                source=source,
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
        why = f"digest mismatch: {exc}"
        return dataclasses.replace(lane, refused=why, refused_code=exc.code)
    except Exception as exc:  # a broken artifact must not stop the server: that version falls back
        log.error("Could not load %s: %s", ref, exc)
        code = exc.code if isinstance(exc, RiskopsError) else "load_failed"
        return dataclasses.replace(lane, refused=f"load failed: {exc}", refused_code=code)
    return dataclasses.replace(lane, scorer=scorer)
