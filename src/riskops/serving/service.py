"""The scoring service: routes a request to the version that answers it, decides, logs the
decision durably, and keeps the routing table and the API keys current.

The HTTP app (:mod:`riskops.serving.app`) is a shell over this: it parses, authorises with
:attr:`ScoringService.keys`, calls one method, and formats the answer.

A decision, in order::

    route   = table.routes[model]                 # NotFoundError: the model does not serve here
    lane    = route.choose(subject_id)            # champion, or canary for its sticky share
    result  = lane.scorer.decide(features)        # RequestInvalid (422) propagates; a model
                                                  # that fails gives the safe fallback
    log.append(result)                            # fsync'd before the caller sees the answer
    → response;  then each shadow is scored and logged (served=False), never returned

The routing table and the key ring are refreshed from the store by a background thread. Every
``refresh_seconds`` it asks the audit chain whether anything but the decision log's own seals
happened since its last pass (every deployment, sign-off and key change is audited); only then,
or once a minute regardless, does it re-read keys and deployments. It builds the new table
completely and then replaces one reference; a request reads that reference once, so it
finishes on the table it started with.

Example::

    service = ScoringService.open(ServerSettings(workspace=load_settings()))
    service.start()
    outcome = service.decide("credit-scoring", "subject-1", features)
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic, perf_counter
from typing import Any

import orjson

from riskops.audit.trail import activity_since
from riskops.config import Settings
from riskops.context import Context, open_context
from riskops.decisions.flusher import FlusherMode
from riskops.decisions.records import LoggedDecision
from riskops.decisions.sink import DecisionSink, open_decision_log
from riskops.errors import InputError, IntegrityError, NotFoundError, Problem
from riskops.scoring.features import RequestInvalid, UnknownCategory
from riskops.scoring.policy import MODEL_UNAVAILABLE, DecisionPolicy
from riskops.scoring.scorer import Decision
from riskops.serving.auth import KeyRing
from riskops.serving.metrics import ServingMetrics
from riskops.serving.routing import Loaded, Route, RoutingTable, build_table

log = logging.getLogger(__name__)

FULL_REFRESH_SECONDS = 60.0  # a full re-read at least this often, whatever the chain says


@dataclass(frozen=True)
class ServerSettings:
    """How one scoring server runs: the workspace it serves from, its environment, limits."""

    workspace: Settings
    environment: str = "production"
    refresh_seconds: float = 2.0
    max_batch: int = 1_000
    max_body_bytes: int = 1_048_576
    unknown_category: UnknownCategory = "reject"
    wal_dir: Path | None = None
    flush_interval: float = 0.2  # seconds between decision-log flushes to the store
    flusher: FlusherMode = "process"  # where those flushes run (see DecisionLog)
    model_timeout_ms: float | None = 100.0  # a single decision's model call; None: no deadline

    def __post_init__(self) -> None:
        if (
            self.refresh_seconds <= 0
            or self.max_batch < 1
            or self.max_body_bytes < 1
            or self.flush_interval <= 0
            or (self.model_timeout_ms is not None and self.model_timeout_ms <= 0)
        ):
            raise InputError(
                f"Server limits must be positive: refresh_seconds={self.refresh_seconds}, "
                f"max_batch={self.max_batch}, max_body_bytes={self.max_body_bytes}, "
                f"flush_interval={self.flush_interval}, model_timeout_ms={self.model_timeout_ms}.",
                hint="For example refresh_seconds=2, max_batch=1000, max_body_bytes=1048576, "
                "flush_interval=0.2, model_timeout_ms=100.",
            )

    @property
    def wal_path(self) -> Path:
        return self.wal_dir or self.workspace.home / "decision-wal" / self.environment


@dataclass(frozen=True)
class Outcome:
    """A served decision and its id."""

    decision_id: str
    decision: Decision


@dataclass(frozen=True)
class Subject:
    subject_id: str
    features: Mapping[str, object]


@dataclass
class ScoringService:
    """State of one running server: context, routing table, keys, metrics and decision log."""

    settings: ServerSettings
    ctx: Context
    keys: KeyRing
    metrics: ServingMetrics
    decisions: DecisionSink
    table: RoutingTable = field(default_factory=RoutingTable)
    loaded_once: bool = False
    _seen_seq: int | None = None  # the audit chain's head at the last refresh pass
    _full_at: float = 0.0  # monotonic time of the last full refresh
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def open(cls, settings: ServerSettings) -> ScoringService:
        ctx = open_context(settings.workspace)
        if settings.environment not in settings.workspace.environments:
            raise InputError(
                f"Unknown environment {settings.environment!r}. Valid environments are: "
                f"{', '.join(settings.workspace.environments)}.",
                hint="riskops serve --env production",
            )
        metrics = ServingMetrics()
        sink = open_decision_log(
            ctx, settings.wal_path, flush_interval=settings.flush_interval, flusher=settings.flusher
        )
        metrics.watch_backlog(sink.backlog)
        return cls(settings, ctx, KeyRing(ctx.store), metrics, sink)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the refresher, whose first pass loads the models (until then: not ready)."""
        self._thread = threading.Thread(target=self._refresh_loop, name="riskops-refresh")
        self._thread.daemon = True
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.decisions.close()
        self.ctx.close()

    def refresh(self) -> None:
        """Re-read the keys and the deployments; swap in a new routing table if they changed
        or a version that could not be loaded loads now."""
        self.keys.refresh()
        table = build_table(
            self.ctx,
            self.settings.environment,
            previous=self.table if self.loaded_once else None,
            unknown_category=self.settings.unknown_category,
            on_refused=self._refused,
            deadline_ms=self.settings.model_timeout_ms,
            retry_refused=True,
        )
        if table is not self.table:
            self.table = table  # the one swap: a request holds the table it read
            _settle_heap(first=not self.loaded_once)
            self.metrics.loaded(
                (lane.plan.model, lane.plan.version, lane.plan.digest, lane.plan.lane)
                for route in table.routes.values()
                for lane in route.lanes()
                if lane.available
            )
            log.info("Routing table: %s", [(p.model, p.version, p.lane) for p in table.plan])
        self.loaded_once = True

    def refresh_if_changed(self) -> bool:
        """:meth:`refresh` when the audit chain has a new event other than the decision log's
        own seals (a deployment, a sign-off, a key…), or when the last full pass is older than
        ``FULL_REFRESH_SECONDS``; True if it re-read. A pass that finds nothing new costs two
        indexed lookups instead of re-reading keys and deployments, which held the GIL for
        milliseconds every ``refresh_seconds``."""
        head, changed = activity_since(self.ctx.store, self._seen_seq, ignoring=("decisions.",))
        stale = monotonic() - self._full_at > FULL_REFRESH_SECONDS
        if changed or stale:
            self.refresh()
            self._full_at = monotonic()
        self._seen_seq = head  # only after a pass that succeeded
        return changed or stale

    def _refresh_loop(self) -> None:
        failing = False
        while not self._stop.is_set():
            self.decisions.check()
            try:
                self.refresh_if_changed()
                if failing:
                    log.warning("Routing table refreshed again; the store is back")
                failing = False
            except Exception as exc:  # the store may be briefly away; keep serving the last table
                if failing:
                    # One line per retry while it lasts; the traceback was logged once.
                    log.warning("Still cannot refresh the routing table: %s", exc)
                else:
                    log.exception("Could not refresh the routing table; serving the previous one")
                failing = True
            self._stop.wait(self.settings.refresh_seconds)

    def _refused(self, lane: Loaded) -> None:
        if lane.refused_code == IntegrityError.code:
            plan = lane.plan
            self.metrics.digest_mismatch.labels(plan.model, str(plan.version)).inc()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Whether every deployed version is loaded and verified, and what is loaded."""
        table = self.table
        refused = table.refused()
        ready = self.loaded_once and not refused
        body = {
            "ready": ready,
            "environment": self.settings.environment,
            "loaded": [
                {"model": p.model, "version": p.version, "digest": p.digest, "lane": p.lane}
                for p in table.plan
            ],
            "refused": [
                {"model": x.plan.model, "version": x.plan.version, "reason": x.refused}
                for x in refused
            ],
        }
        if not self.loaded_once:
            body["waiting"] = "models are still loading"
        return ready, body

    # -- decisions -------------------------------------------------------------------------

    def decide(
        self, model: str, subject: Subject, *, explain: bool = False
    ) -> tuple[Outcome, Callable[[], None] | None]:
        """The served decision (logged durably) and a callable that scores the shadows (None
        when the model has none); the caller runs it after answering."""
        started = perf_counter()
        lane, route, decision, digest = self._served(model, subject, explain)
        decision_id = self._log(decision, lane, subject, served=True, request_sha256=digest)
        return self._answered(started, lane, route, subject, decision, decision_id, explain, digest)

    async def decide_async(
        self, model: str, subject: Subject, *, explain: bool = False
    ) -> tuple[Outcome, Callable[[], None] | None]:
        """:meth:`decide` for the event loop: everything runs on the loop's thread except the
        fsync, which the loop awaits (serving other requests meanwhile)."""
        started = perf_counter()
        lane, route, decision, digest = self._served(model, subject, explain)
        decision_id = str(uuid.uuid4())
        await self.decisions.append_async(
            self._entry(decision_id, decision, lane, subject, served=True, digest=digest)
        )
        return self._answered(started, lane, route, subject, decision, decision_id, explain, digest)

    def _served(
        self, model: str, subject: Subject, explain: bool
    ) -> tuple[Loaded, Route, Decision, str]:
        route = self._route(self.table, model)
        lane = route.choose(subject.subject_id)
        decision = self._decide_one(lane, subject.features, explain)
        return lane, route, decision, request_digest(model, subject)

    def _answered(
        self,
        started: float,
        lane: Loaded,
        route: Route,
        subject: Subject,
        decision: Decision,
        decision_id: str,
        explain: bool,
        digest: str,
    ) -> tuple[Outcome, Callable[[], None] | None]:
        self.metrics.decision(decision, route=lane.plan.lane)
        self.metrics.observe_latency(
            lane.plan.model, decision.version, "decision", perf_counter() - started
        )
        shadows = route.shadows
        if not shadows:
            return Outcome(decision_id, decision), None

        def score_shadows() -> None:
            for shadow in shadows:
                self._shadow(shadow, subject, explain, digest)

        return Outcome(decision_id, decision), score_shadows

    def decide_batch(
        self, model: str, subjects: Sequence[Subject], *, explain: bool = False
    ) -> tuple[list[Outcome], Callable[[], None] | None]:
        """Decisions for up to ``max_batch`` subjects, in order; one RequestInvalid names every
        bad field as ``[i].feature``."""
        started = perf_counter()
        if len(subjects) > self.settings.max_batch:
            raise RequestInvalid(
                f"The batch has {len(subjects)} subjects; at most {self.settings.max_batch} "
                "are allowed.",
                problems=[
                    Problem(
                        "subjects",
                        f"has {len(subjects)} items, more than {self.settings.max_batch}",
                    )
                ],
                hint=f"Split the batch into requests of at most {self.settings.max_batch}.",
            )
        table = self.table
        route = self._route(table, model)
        groups: dict[int, tuple[Loaded, list[int]]] = {}
        for i, subject in enumerate(subjects):
            lane = route.choose(subject.subject_id)
            groups.setdefault(id(lane), (lane, []))[1].append(i)
        decided: dict[int, Decision] = {}
        problems: list[Problem] = []
        for lane, indices in groups.values():
            rows = [subjects[i].features for i in indices]
            try:
                results = self._decide_many(lane, rows, explain)
            except RequestInvalid as exc:
                problems.extend(_relocate(exc.problems, indices))
                continue
            decided.update(zip(indices, results, strict=True))
        if problems:
            self.metrics.problems(model, problems)
            raise RequestInvalid(
                f"The batch for {model} has {len(problems)} problem(s):",
                problems=sorted(problems, key=_position),
                hint="Fix each field named above; no decision of this batch was made.",
            )
        outcomes = []
        for i, subject in enumerate(subjects):
            decision = decided[i]
            lane = route.choose(subject.subject_id)
            digest = request_digest(model, subject)
            decision_id = self._log(decision, lane, subject, served=True, request_sha256=digest)
            self.metrics.decision(decision, route=lane.plan.lane)
            outcomes.append(Outcome(decision_id, decision))
        self.metrics.observe_latency(
            model, route.champion.plan.version, "batch", perf_counter() - started
        )
        shadows = route.shadows

        def score_shadows() -> None:
            for shadow in shadows:
                for subject in subjects:
                    self._shadow(shadow, subject, explain, request_digest(model, subject))

        return outcomes, (score_shadows if shadows else None)

    def get_decision(self, decision_id: str) -> dict[str, Any]:
        found = self.decisions.get(decision_id)
        if found is None:
            raise NotFoundError(
                f"No decision with id {decision_id!r}.",
                hint="Use the decision_id returned with the decision.",
            )
        return found

    # -- internals -------------------------------------------------------------------------

    def _route(self, table: RoutingTable, model: str) -> Route:
        route = table.routes.get(model)
        if route is None:
            serving = ", ".join(sorted(table.routes)) or "none"
            raise NotFoundError(
                f"No model named {model!r} serves in {self.settings.environment} (serving: "
                f"{serving}).",
                hint=f"Deploy an approved version: riskops deploy {model}@<version> --env "
                f"{self.settings.environment} --as <operator>",
            )
        return route

    def _decide_one(self, lane: Loaded, features: Mapping[str, object], explain: bool) -> Decision:
        try:
            if lane.scorer is not None:
                decision = lane.scorer.decide(features, explain=explain)
            else:
                started = perf_counter()
                lane.encoder.encode(features)  # a bad request is still a 422
                decision = _unavailable(lane, started)
        except RequestInvalid as exc:
            self.metrics.problems(lane.plan.model, exc.problems)
            raise
        self._count_missing(lane, features)
        return decision

    def _decide_many(
        self, lane: Loaded, rows: Sequence[Mapping[str, object]], explain: bool
    ) -> tuple[Decision, ...]:
        if lane.scorer is not None:
            decisions = lane.scorer.decide_batch(rows, explain=explain)
        else:
            started = perf_counter()
            lane.encoder.encode_batch(rows)
            decisions = tuple(_unavailable(lane, started) for _ in rows)
        for features in rows:
            self._count_missing(lane, features)
        return decisions

    def _count_missing(self, lane: Loaded, features: Mapping[str, object]) -> None:
        for name in lane.optional:
            if features.get(name) is None:
                self.metrics.missing.labels(lane.plan.model, name).inc()

    def _shadow(self, lane: Loaded, subject: Subject, explain: bool, digest: str) -> None:
        # A shadow never changes an answer: any failure of it is logged and dropped.
        try:
            decision = self._decide_one(lane, subject.features, explain)
            self._log(decision, lane, subject, served=False, request_sha256=digest)
            self.metrics.decision(decision, route="shadow")
        except Exception:
            log.exception("Shadow %s@%s failed", lane.plan.model, lane.plan.version)

    def _log(
        self,
        decision: Decision,
        lane: Loaded,
        subject: Subject,
        *,
        served: bool,
        request_sha256: str,
    ) -> str:
        decision_id = str(uuid.uuid4())
        self.decisions.append(
            self._entry(decision_id, decision, lane, subject, served=served, digest=request_sha256)
        )
        return decision_id

    def _entry(
        self,
        decision_id: str,
        decision: Decision,
        lane: Loaded,
        subject: Subject,
        *,
        served: bool,
        digest: str,
    ) -> LoggedDecision:
        return LoggedDecision.from_decision(
            decision,
            decision_id=decision_id,
            decided_at=self.ctx.clock(),
            route=lane.plan.lane,
            served=served,
            subject_id=subject.subject_id,
            features=subject.features,
            request_sha256=digest,
        )


def _settle_heap(*, first: bool) -> None:
    """Move what is alive now (models, libraries, the routing table) out of the garbage
    collector's view. Otherwise every full collection walks those hundreds of thousands of
    objects, a pause of 0.1–0.2 s on the request path; after the first load the heap is
    collected once first, so that garbage is not kept forever."""
    if first:
        gc.collect()
    gc.freeze()


def request_digest(model: str, subject: Subject) -> str:
    """SHA-256 of the request as compact JSON with sorted keys and UTF-8 text (orjson): the
    model, the subject id and the features. A value JSON cannot hold is written as its text."""
    body = {"model": model, "subject_id": subject.subject_id, "features": subject.features}
    text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    return hashlib.sha256(text).hexdigest()


def _unavailable(lane: Loaded, started: float) -> Decision:
    policy = DecisionPolicy.from_spec(lane.spec.policy)
    return Decision(
        lane.plan.model,
        lane.plan.version,
        lane.plan.digest,
        None,
        policy.safe_outcome,
        (MODEL_UNAVAILABLE,),
        True,
        (perf_counter() - started) * 1000.0,
        f"model unavailable: {lane.refused}",
    )


def _relocate(problems: Sequence[Problem], indices: Sequence[int]) -> list[Problem]:
    """Problems located ``[k].feature`` within a group, as ``[i].feature`` in the batch."""
    moved = []
    for p in problems:
        if p.location.startswith("["):
            k, _, rest = p.location[1:].partition("]")
            if k.isdigit() and int(k) < len(indices):
                moved.append(Problem(f"subjects[{indices[int(k)]}]{rest}", p.message, p.code))
                continue
        moved.append(Problem(f"subjects{p.location}", p.message, p.code))
    return moved


def _position(problem: Problem) -> tuple[int, str]:
    head = problem.location.removeprefix("subjects[").partition("]")[0]
    return (int(head) if head.isdigit() else -1, problem.location)
