"""The scoring service: routes a request to the version that answers it, decides, logs the
decision durably, and keeps the routing table and the API keys current.

The HTTP app (:mod:`riskops.serving.app`) is a shell over this: it parses, authorises with
:attr:`ScoringService.keys`, calls one method, and formats the answer.

A decision, in order::

    route   = table.routes[model]                 # NotFoundError: the model does not serve here
    lane    = route.choose(subject_id)            # champion, or canary for its sticky share
    inputs  = history.enrich(features)            # only a model with a spec ``history``:
                                                  # its features looked up and computed
    result  = lane.scorer.decide(inputs)          # RequestInvalid (422) propagates; a model
                                                  # that fails gives the safe fallback
    log.append(result)                            # fsync'd before the caller sees the answer
    history.record(transaction)                   # the decided transaction joins the history
    → response;  then each shadow is scored and logged (served=False), never returned

The routing table and the key ring are refreshed from the store by a background thread. Every
``refresh_seconds`` it asks the audit chain whether anything but the decision log's own seals
and auditors' decision reads happened since its last pass (every deployment, sign-off and key
change is audited); only then, or once a minute regardless, does it re-read keys and
deployments. It builds the new table completely and then replaces one reference; a request
reads that reference once, so it finishes on the table it started with.

**Store down at start.** Opening the service does not touch the database (no migration; the
schema is the ``riskops init``/upgrade step's business, and a store without it just fails the
refresh, which says so). After each refresh that reached the store, the service writes the
deployment snapshot (:mod:`riskops.serving.snapshot`) and keeps each verified artifact in
its model cache. When its first refresh fails, it serves the snapshot instead: every lane
loaded from the cache with its digest checked, the keys as they were; ``/readyz`` says
``"source": "snapshot"`` and ``riskops_routing_source{source="snapshot"}`` is 1. It keeps
trying the store every ``refresh_seconds`` and switches to it when it answers.

Example::

    service = ScoringService.open(ServerSettings(workspace=load_settings()))
    service.start()
    outcome = service.decide("credit-scoring", "subject-1", features)
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import math
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic, perf_counter
from typing import Any

import numpy as np
import orjson

from riskops.audit.trail import activity_since
from riskops.config import Settings, load_serving_options
from riskops.context import Context, open_context
from riskops.decisions.access import AUDIT_READ_ACTION, Reader
from riskops.decisions.flusher import FLUSHER_MODES, FlusherMode
from riskops.decisions.records import LoggedDecision
from riskops.decisions.sink import DecisionSink, claim_decision_log
from riskops.errors import (
    BackendError,
    InputError,
    IntegrityError,
    NotFoundError,
    Problem,
    ProblemsError,
    RiskopsError,
)
from riskops.history.online import HistoryLookup, Transaction
from riskops.history.store import OnlineStore, open_online_store
from riskops.monitoring.gauges import latest_gauges, runs_since
from riskops.privacy.fingerprint import bind_secrets
from riskops.privacy.secrets import WorkspaceSecrets, load_secrets
from riskops.scoring.features import UNKNOWN_CATEGORY_POLICIES, RequestInvalid, UnknownCategory
from riskops.scoring.policy import MODEL_UNAVAILABLE, DecisionPolicy
from riskops.scoring.scorer import Decision
from riskops.serving.auth import Caller, KeyRing
from riskops.serving.metrics import ServingMetrics
from riskops.serving.routing import (
    Loaded,
    Route,
    RoutingTable,
    build_table,
    load_lane,
    table_of,
)
from riskops.serving.snapshot import FILE_NAME, Snapshot, read_snapshot, write_snapshot
from riskops.store.schema import require_current

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
    max_concurrent_reads: int = 8  # decision reads at once; one more is a 503 at once
    metrics_port: int | None = None  # /metrics on a listener of its own; None: on the app's port
    metrics_host: str = "127.0.0.1"  # where that listener binds
    docs: bool = True  # /docs, /redoc and /openapi.json

    def __post_init__(self) -> None:
        if self.environment not in self.workspace.environments:
            raise InputError(
                f"Unknown environment {self.environment!r}. Valid environments are: "
                f"{', '.join(self.workspace.environments)}.",
                hint="riskops serve --env production (or RISKOPS_ENV=production)",
            )
        if self.unknown_category not in UNKNOWN_CATEGORY_POLICIES:
            raise InputError(
                f"--unknown-category {self.unknown_category!r}; valid policies are: "
                f"{', '.join(UNKNOWN_CATEGORY_POLICIES)}.",
                hint="riskops serve --unknown-category reject (or RISKOPS_UNKNOWN_CATEGORY=reject)",
            )
        if self.flusher not in FLUSHER_MODES:
            raise InputError(
                f"--flusher {self.flusher!r}; valid values are: {', '.join(FLUSHER_MODES)}.",
                hint="riskops serve --flusher process (or RISKOPS_FLUSHER=process)",
            )
        if (
            self.refresh_seconds <= 0
            or self.max_batch < 1
            or self.max_body_bytes < 1
            or self.flush_interval <= 0
            or (self.model_timeout_ms is not None and self.model_timeout_ms <= 0)
            or self.max_concurrent_reads < 1
        ):
            raise InputError(
                f"Server limits must be positive: refresh_seconds={self.refresh_seconds}, "
                f"max_batch={self.max_batch}, max_body_bytes={self.max_body_bytes}, "
                f"flush_interval={self.flush_interval}, model_timeout_ms={self.model_timeout_ms}, "
                f"max_concurrent_reads={self.max_concurrent_reads}.",
                hint="For example refresh_seconds=2, max_batch=1000, max_body_bytes=1048576, "
                "flush_interval=0.2, model_timeout_ms=100, max_concurrent_reads=8.",
            )
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise InputError(
                f"The metrics port must be from 1 to 65535 (0: any free port), got "
                f"{self.metrics_port}.",
                hint="For example: riskops serve --port 8080 --metrics-port 9100",
            )

    @property
    def wal_path(self) -> Path:
        """The folder of this environment's WAL slots (``worker-0``, ``worker-1``…; see
        :func:`riskops.decisions.sink.claim_decision_log`): ``RISKOPS_WAL_DIR/<environment>``."""
        if self.wal_dir is not None:
            return self.wal_dir
        base = self.workspace.wal_dir or self.workspace.home / "decision-wal"
        return base / self.environment

    @classmethod
    def from_environment(
        cls, workspace: Settings, environ: Mapping[str, str] | None = None
    ) -> ServerSettings:
        """The settings of a server built from the environment (``RISKOPS_ENV`` etc., see
        :func:`riskops.config.load_serving_options`)."""
        options = load_serving_options(environ)
        if options.get("model_timeout_ms") == 0:
            options["model_timeout_ms"] = None  # 0 turns the deadline off, as --model-timeout-ms
        return cls(workspace=workspace, **options)  # type: ignore[arg-type]  # checked in post-init

    @property
    def snapshot_path(self) -> Path:
        """The deployment snapshot, beside the WAL (a persistent volume per process)."""
        return self.wal_path / FILE_NAME

    @property
    def model_cache(self) -> Path:
        """Verified copies of the artifacts this server loaded, by digest."""
        return self.wal_path / "model-cache"


@dataclass(frozen=True)
class Outcome:
    """A served decision and its id."""

    decision_id: str
    decision: Decision


@dataclass(frozen=True)
class Subject:
    subject_id: str
    features: Mapping[str, object]


@dataclass(frozen=True)
class _Inputs:
    """What a lane decides on: the model's features (history added for a model with a spec
    ``history``) and the transaction to append after the decision (None without history)."""

    features: Mapping[str, object]
    transaction: Transaction | None = None


@dataclass
class ScoringService:
    """State of one running server: context, routing table, keys, metrics and decision log."""

    settings: ServerSettings
    ctx: Context
    keys: KeyRing
    metrics: ServingMetrics
    decisions: DecisionSink
    secrets: WorkspaceSecrets | None = field(default=None, repr=False)
    table: RoutingTable = field(default_factory=RoutingTable)
    loaded_once: bool = False
    source: str = "store"  # where table and keys come from: store, or snapshot
    snapshot_at: str | None = None  # when the snapshot being served was taken
    _snapshot_content: dict[str, Any] | None = None  # of the last snapshot written
    _snapshot_refused: bool = False  # said once why the snapshot cannot be served
    _seen_seq: int | None = None  # the audit chain's head at the last refresh pass
    _full_at: float = 0.0  # monotonic time of the last full refresh
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _reads: ThreadPoolExecutor = field(init=False)  # one thread per admitted decision read
    _schema_unchecked: bool = False  # the store was down at start: check it when it answers
    _history: OnlineStore | None = field(default=None, repr=False)  # opened on first use
    _lookups: dict[tuple[str, int, str], HistoryLookup] = field(default_factory=dict)
    _history_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._reads = ThreadPoolExecutor(
            self.settings.max_concurrent_reads, thread_name_prefix="riskops-read"
        )

    @classmethod
    def open(cls, settings: ServerSettings) -> ScoringService:
        """Open the store (its schema checked, never migrated), bind the workspace secret to
        it, claim a WAL slot and start its flusher. A store that does not answer is checked
        by the refresher once it does (and the flusher checks the secret before its first
        batch), so a server can start while its database is away."""
        workspace = settings.workspace
        ctx = open_context(workspace, schema="skip", read_timeout=workspace.db_read_timeout)
        try:
            secrets, unchecked = check_store(settings, ctx)
            metrics = ServingMetrics()
            sink = claim_decision_log(
                ctx,
                settings.wal_path,
                secrets,
                flush_interval=settings.flush_interval,
                flusher=settings.flusher,
                model_cache=settings.model_cache,
            )
        except BaseException:
            ctx.close()
            raise
        metrics.watch_backlog(sink.backlog)
        sink.on_flusher_restart(metrics.flusher_restarts.inc)
        service = cls(settings, ctx, KeyRing(ctx.store), metrics, sink, secrets=secrets)
        metrics.watch_ready(lambda: service.readiness()[0])
        service._schema_unchecked = unchecked
        return service

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
        self._reads.shutdown(wait=False, cancel_futures=True)
        self.decisions.close()
        if self._history is not None:
            self._history.close()
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
            cache=self.settings.model_cache,
        )
        if self.source != "store":
            log.warning("The store answers again: routing and keys now come from it")
            self.source, self.snapshot_at = "store", None
        self.metrics.source("store")
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
        self._save_snapshot()

    def _save_snapshot(self) -> None:
        """Write the deployment snapshot if what it holds changed (a failure is logged: it
        must not stop a refresh)."""
        if self.secrets is None:
            return
        snapshot = Snapshot.of(
            self.settings.environment, self.table, self.keys.export(), taken_at=self.ctx.clock()
        )
        content = snapshot.content()
        if content == self._snapshot_content:
            return
        try:
            write_snapshot(self.settings.snapshot_path, snapshot, self.secrets)
        except OSError as exc:
            log.error("Could not write the deployment snapshot: %s", exc)
            return
        self._snapshot_content = content

    def serve_snapshot(self) -> bool:
        """Serve the deployment snapshot (the store did not answer before anything was
        loaded); False, with the reason logged, when there is none or it does not verify."""
        if self.secrets is None:
            return False
        try:
            snapshot = read_snapshot(
                self.settings.snapshot_path, self.secrets, environment=self.settings.environment
            )
        except RiskopsError as exc:
            if not self._snapshot_refused:
                log.error("Cannot serve from the deployment snapshot: %s %s", exc, exc.hint or "")
            self._snapshot_refused = True
            return False
        lanes = [
            load_lane(
                self.ctx.registry,
                x.plan,
                x.spec_yaml,
                x.flavor,
                unknown_category=self.settings.unknown_category,
                deadline_ms=self.settings.model_timeout_ms,
                cache=self.settings.model_cache,
                offline=True,
            )
            for x in snapshot.lanes
        ]
        for lane in lanes:
            if lane.refused is not None:
                self._refused(lane)
        self.keys.adopt(snapshot.keys)
        self.table = table_of(lanes)
        self.source, self.snapshot_at = "snapshot", snapshot.taken_at
        self.loaded_once = True
        _settle_heap(first=True)
        self.metrics.loaded(
            (x.plan.model, x.plan.version, x.plan.digest, x.plan.lane) for x in lanes if x.available
        )
        self.metrics.source("snapshot")
        log.warning(
            "The store does not answer: serving the deployment snapshot taken at %s (%s); "
            "retrying the store every %g s",
            snapshot.taken_at,
            [(x.plan.model, x.plan.version, x.plan.lane) for x in lanes],
            self.settings.refresh_seconds,
        )
        return True

    def refresh_if_changed(self) -> bool:
        """:meth:`refresh` when the audit chain has a new event other than the decision log's
        own seals and auditors' decision reads (a deployment, a sign-off, a key…), or when the
        last full pass is older than ``FULL_REFRESH_SECONDS``; True if it re-read. A pass that
        finds nothing new costs two indexed lookups instead of re-reading keys and deployments,
        which held the GIL for milliseconds every ``refresh_seconds``."""
        head, changed = activity_since(
            self.ctx.store, self._seen_seq, ignoring=("decisions.", AUDIT_READ_ACTION)
        )
        stale = monotonic() - self._full_at > FULL_REFRESH_SECONDS
        if changed or stale:
            self.refresh()
            self._full_at = monotonic()
        if changed:
            self.refresh_monitoring(self._seen_seq)
        self._seen_seq = head  # only after a pass that succeeded
        return changed or stale

    def refresh_monitoring(self, after: int | None = None) -> bool:
        """Set the monitoring gauges from the store's latest run per model in this server's
        environment and its open alerts, if a run was sealed in the audit chain after
        ``after`` (always when None); True if they were set. A run whose values the gauges
        refuse is logged, and the routing refresh goes on."""
        with self.ctx.store.reading() as session:
            if not runs_since(session, after):
                return False
            gauges = latest_gauges(session, self.settings.environment)
        try:
            self.metrics.monitoring(
                statistics=gauges.statistics,
                alerts=gauges.alerts,
                windows=gauges.windows,
                scope=[(model, self.settings.environment) for model in gauges.models],
            )
        except InputError as exc:
            log.error("Monitoring gauges not updated: %s", exc)
            return False
        return True

    def _refresh_loop(self) -> None:
        failing = False
        while not self._stop.is_set():
            self.decisions.check()
            try:
                if self._schema_unchecked:
                    require_current(self.ctx.store)  # ConflictError: logged, tried again
                    self._schema_unchecked = False
                self.refresh_if_changed()
                if failing:
                    log.warning("Routing table refreshed again; the store is back")
                failing = False
            except Exception as exc:  # the store may be briefly away; keep serving the last table
                if not self.loaded_once:
                    self.serve_snapshot()
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
        body: dict[str, Any] = {
            "ready": ready,
            "environment": self.settings.environment,
            "source": self.source,
            "loaded": [
                {"model": p.model, "version": p.version, "digest": p.digest, "lane": p.lane}
                for p in table.plan
            ],
            "refused": [
                {"model": x.plan.model, "version": x.plan.version, "reason": x.refused}
                for x in refused
            ],
        }
        if self.snapshot_at is not None:
            body["snapshot_at"] = self.snapshot_at
        if not self.loaded_once:
            body["waiting"] = "models are still loading"
        return ready, body

    # -- decisions -------------------------------------------------------------------------

    def decide(
        self, model: str, subject: Subject, *, explain: bool = False, client: str | None = None
    ) -> tuple[Outcome, Callable[[], None] | None]:
        """The served decision (logged durably, as ``client``'s) and a callable that scores the
        shadows (None when the model has none); the caller runs it after answering."""
        started = perf_counter()
        lane, route, decision, digest, inputs = self._served(model, subject, explain)
        decision_id = self._log(
            decision,
            lane,
            subject,
            served=True,
            request_sha256=digest,
            client=client,
            features=inputs.features,
        )
        self._record(lane, inputs)
        return self._answered(
            started, lane, route, subject, decision, decision_id, explain, digest, client
        )

    async def decide_async(
        self, model: str, subject: Subject, *, explain: bool = False, client: str | None = None
    ) -> tuple[Outcome, Callable[[], None] | None]:
        """:meth:`decide` for the event loop: everything runs on the loop's thread except the
        fsync, which the loop awaits (serving other requests meanwhile)."""
        started = perf_counter()
        lane, route, decision, digest, inputs = self._served(model, subject, explain)
        decision_id = str(uuid.uuid4())
        await self.decisions.append_async(
            self._entry(
                decision_id,
                decision,
                lane,
                subject,
                served=True,
                digest=digest,
                client=client,
                features=inputs.features,
            )
        )
        self._record(lane, inputs)
        return self._answered(
            started, lane, route, subject, decision, decision_id, explain, digest, client
        )

    def _served(
        self, model: str, subject: Subject, explain: bool
    ) -> tuple[Loaded, Route, Decision, str, _Inputs]:
        route = self._route(self.table, model)
        lane = route.choose(subject.subject_id)
        inputs = self._inputs(lane, subject.features)
        decision = self._decide_one(lane, inputs.features, explain)
        return lane, route, decision, request_digest(model, subject), inputs

    # -- history features ------------------------------------------------------------------

    def _inputs(
        self, lane: Loaded, features: Mapping[str, object], *, count: bool = True
    ) -> _Inputs:
        """The lane's inputs: the request's features as they are, or, for a model with a spec
        ``history``, enriched from the online store (RequestInvalid naming a bad transaction
        field, counted in the metrics when ``count``; BackendError, a 503, when the store does
        not answer)."""
        if lane.spec.history is None:
            return _Inputs(features)
        lookup = self._lookup(lane)
        try:
            enriched, transaction = lookup.enrich(features)
        except ProblemsError as exc:
            if count:
                self.metrics.problems(lane.plan.model, exc.problems)
            raise RequestInvalid(exc.message, problems=exc.problems, hint=exc.hint) from None
        return _Inputs(enriched, transaction)

    def _lookup(self, lane: Loaded) -> HistoryLookup:
        key = (lane.plan.model, lane.plan.version, lane.plan.digest)
        found = self._lookups.get(key)
        if found is None:
            with self._history_lock:
                if self._history is None:
                    self._history = open_online_store(self.settings.workspace.history_url)
                found = self._lookups.setdefault(key, HistoryLookup(lane.spec, self._history))
        return found

    def _record(self, lane: Loaded, inputs: _Inputs) -> None:
        """Append the served transaction to the history. The decision is already logged and
        answered, so a failure here is logged, not raised: that transaction is then missing
        from later lookups until it is backfilled."""
        if inputs.transaction is None:
            return
        try:
            self._lookup(lane).record(inputs.transaction)
        except Exception:
            log.exception(
                "Could not append transaction %s to the history of %s",
                inputs.transaction.event_id,
                lane.plan.model,
            )

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
        client: str | None,
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
                self._shadow(shadow, subject, explain, digest, client)

        return Outcome(decision_id, decision), score_shadows

    def decide_batch(
        self,
        model: str,
        subjects: Sequence[Subject],
        *,
        explain: bool = False,
        client: str | None = None,
    ) -> tuple[list[Outcome], Callable[[], None] | None]:
        """Decisions for up to ``max_batch`` subjects, in order; one RequestInvalid names every
        bad field as ``[i].feature``.

        Columnar: the subjects of each lane are encoded into one matrix and decided by one
        :meth:`~riskops.scoring.scorer.Scorer.decide_matrix` call, and every decision of the
        batch is logged with one group commit (:meth:`DecisionSink.append_many`: one WAL write,
        one fsync, all or none after a crash) before this returns."""
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
        lanes = [route.choose(subject.subject_id) for subject in subjects]
        groups: dict[int, tuple[Loaded, list[int]]] = {}
        for i, lane in enumerate(lanes):
            groups.setdefault(id(lane), (lane, []))[1].append(i)
        decided: list[Decision | None] = [None] * len(subjects)
        problems: list[Problem] = []
        inputs: dict[int, _Inputs] = {}
        for lane, indices in groups.values():
            ready = True
            for k, i in enumerate(indices):
                try:
                    inputs[i] = self._inputs(lane, subjects[i].features, count=False)
                except RequestInvalid as exc:
                    located = [
                        Problem(f"[{k}].{p.location}", p.message, p.code) for p in exc.problems
                    ]
                    problems.extend(_relocate(located, indices))
                    ready = False
            if not ready:
                continue
            rows = [inputs[i].features for i in indices]
            try:
                results = self._decide_many(lane, rows, explain)
            except RequestInvalid as exc:
                problems.extend(_relocate(exc.problems, indices))
                continue
            for i, result in zip(indices, results, strict=True):
                decided[i] = result
        if problems:
            self.metrics.problems(model, problems)
            raise RequestInvalid(
                f"The batch for {model} has {len(problems)} problem(s):",
                problems=sorted(problems, key=_position),
                hint="Fix each field named above; no decision of this batch was made.",
            )
        decisions: list[Decision] = decided  # type: ignore[assignment]  # every one is set
        digests = [request_digest(model, subject) for subject in subjects]
        ids = decision_ids(len(subjects))
        self.decisions.append_many(
            self._entries(
                ids,
                decisions,
                lanes,
                subjects,
                digests,
                served=True,
                client=client,
                features=[inputs[i].features for i in range(len(subjects))],
            )
        )
        for i, lane in enumerate(lanes):
            self._record(lane, inputs[i])
        for lane, indices in groups.values():
            self.metrics.decisions_of((decisions[i] for i in indices), route=lane.plan.lane)
        self.metrics.observe_latency(
            model, route.champion.plan.version, "batch", perf_counter() - started
        )
        outcomes = [Outcome(i, d) for i, d in zip(ids, decisions, strict=True)]
        shadows = route.shadows
        if not shadows:
            return outcomes, None

        def score_shadows() -> None:
            for shadow in shadows:
                self._shadow_batch(shadow, subjects, digests, explain, client)

        return outcomes, score_shadows

    def get_decision(self, decision_id: str, caller: Caller) -> dict[str, Any]:
        """The decision ``decision_id`` as ``caller`` may read it: its own client's, or any
        with the ``audit`` scope (recorded in the audit chain). Another client's decision is
        NotFoundError exactly like one that does not exist."""
        found = self.decisions.read(decision_id, _reader(caller))
        if found is None:
            raise _no_decision(decision_id)
        return found

    async def get_decision_async(self, decision_id: str, caller: Caller) -> dict[str, Any]:
        """:meth:`get_decision` for the event loop, never waiting on the store longer than
        the workspace's ``db_read_timeout``: a decision of the caller's own client still in
        the WAL is read on the loop (one line, no store); any other read (from the store, or
        an auditor's, which is recorded in the audit chain) runs on one of the service's read
        threads, and BackendError (503, ``Retry-After``) if it does not answer in time. A
        read of a frozen database therefore holds no request worker."""
        reader = _reader(caller)
        if not reader.auditor:
            found = self.decisions.pending(decision_id, reader)
            if found is not None:
                return found
        timeout = self.settings.workspace.db_read_timeout
        future = self._reads.submit(self.decisions.read, decision_id, reader)
        try:
            found = await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            future.cancel()  # still queued: never run
            raise BackendError(
                f"The riskops database did not answer within {timeout:g} s; the decision "
                f"{decision_id!r} cannot be read now.",
                hint="Retry after the time in Retry-After; decisions answered meanwhile are "
                "kept locally and reach the database when it answers.",
                retry_after=max(1, math.ceil(2 * timeout)),
            ) from None
        if found is None:
            raise _no_decision(decision_id)
        return found

    # -- internals -------------------------------------------------------------------------

    def _route(self, table: RoutingTable, model: str) -> Route:
        route = table.routes.get(model)
        if route is None and not self.loaded_once:
            # Another worker behind the same port may be ready while this one still loads:
            # "not serving" would be a false 404 for a model that is deployed.
            raise BackendError(
                f"This server process is starting: it has not loaded the deployments of "
                f"{self.settings.environment} yet, so it cannot decide for {model!r}.",
                hint="Retry after the time in Retry-After; GET /readyz answers 200 once this "
                "process serves.",
                retry_after=1,
            )
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
    ) -> Sequence[Decision]:
        """The decisions of ``rows`` on ``lane``: one encoded matrix, one
        :meth:`~riskops.scoring.scorer.Scorer.decide_matrix` (each decision's ``latency_ms``
        is the lane's whole batch); RequestInvalid naming ``[k].feature`` of every bad row."""
        started = perf_counter()
        scorer = lane.scorer
        matrix = (scorer.encoder if scorer is not None else lane.encoder).encode_batch(rows)
        if scorer is None:
            decisions: Sequence[Decision] = [_unavailable(lane, started)] * len(rows)
        else:
            result = scorer.decide_matrix(matrix, explain=explain)
            latency_ms = (perf_counter() - started) * 1000.0
            decisions = scorer.decisions(result, rows, latency_ms=latency_ms)
        for features in rows:
            self._count_missing(lane, features)
        return decisions

    def _count_missing(self, lane: Loaded, features: Mapping[str, object]) -> None:
        for name in lane.optional:
            if features.get(name) is None:
                self.metrics.missing.labels(lane.plan.model, name).inc()

    def _shadow(
        self, lane: Loaded, subject: Subject, explain: bool, digest: str, client: str | None
    ) -> None:
        # A shadow never changes an answer: any failure of it is logged and dropped.
        try:
            inputs = self._inputs(lane, subject.features)
            decision = self._decide_one(lane, inputs.features, explain)
            self._log(
                decision,
                lane,
                subject,
                served=False,
                request_sha256=digest,
                client=client,
                features=inputs.features,
            )
            self.metrics.decision(decision, route="shadow")
        except Exception:
            log.exception("Shadow %s@%s failed", lane.plan.model, lane.plan.version)

    def _shadow_batch(
        self,
        lane: Loaded,
        subjects: Sequence[Subject],
        digests: Sequence[str],
        explain: bool,
        client: str | None,
    ) -> None:
        """A shadow's decisions of a batch, logged with one group commit (served=False). As
        for one subject, any failure is logged and dropped; a batch the shadow refuses (its
        spec differs) is decided subject by subject, so each valid one is still logged."""
        try:
            try:
                used = [self._inputs(lane, s.features, count=False).features for s in subjects]
                decisions = self._decide_many(lane, used, explain)
            except RequestInvalid:
                for subject, digest in zip(subjects, digests, strict=True):
                    self._shadow(lane, subject, explain, digest, client)
                return
            ids = decision_ids(len(subjects))
            lanes = [lane] * len(subjects)
            self.decisions.append_many(
                self._entries(
                    ids,
                    decisions,
                    lanes,
                    subjects,
                    digests,
                    served=False,
                    client=client,
                    features=used,
                )
            )
            self.metrics.decisions_of(decisions, route="shadow")
        except Exception:
            log.exception("Shadow %s@%s failed", lane.plan.model, lane.plan.version)

    def _entries(
        self,
        ids: Sequence[str],
        decisions: Sequence[Decision],
        lanes: Sequence[Loaded],
        subjects: Sequence[Subject],
        digests: Sequence[str],
        *,
        served: bool,
        client: str | None,
        features: Sequence[Mapping[str, object]] | None = None,
    ) -> list[LoggedDecision]:
        """The log entries of a batch's decisions, all decided at one time (the clock read
        once: the batch was answered as one); ``features`` are what the model decided on (with
        history features added), default each request's."""
        decided_at = self.ctx.clock()
        environment = self.settings.environment
        decided_on = features if features is not None else [s.features for s in subjects]
        return [
            LoggedDecision.from_decision(
                decision,
                decision_id=decision_id,
                decided_at=decided_at,
                route=lane.plan.lane,
                served=served,
                subject_id=subject.subject_id,
                features=used,
                request_sha256=digest,
                client=client,
                environment=environment,
            )
            for decision_id, decision, lane, subject, digest, used in zip(
                ids, decisions, lanes, subjects, digests, decided_on, strict=True
            )
        ]

    def _log(
        self,
        decision: Decision,
        lane: Loaded,
        subject: Subject,
        *,
        served: bool,
        request_sha256: str,
        client: str | None,
        features: Mapping[str, object] | None = None,
    ) -> str:
        decision_id = str(uuid.uuid4())
        self.decisions.append(
            self._entry(
                decision_id,
                decision,
                lane,
                subject,
                served=served,
                digest=request_sha256,
                client=client,
                features=features,
            )
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
        client: str | None,
        features: Mapping[str, object] | None = None,
    ) -> LoggedDecision:
        """The log entry; ``features`` are what the model decided on (the request's own, or
        with history features added), default the request's."""
        return LoggedDecision.from_decision(
            decision,
            decision_id=decision_id,
            decided_at=self.ctx.clock(),
            route=lane.plan.lane,
            served=served,
            subject_id=subject.subject_id,
            features=subject.features if features is None else features,
            request_sha256=digest,
            client=client,
            environment=self.settings.environment,
        )


def check_store(settings: ServerSettings, ctx: Context) -> tuple[WorkspaceSecrets, bool]:
    """The workspace's keys for a server, and whether the store still has to be checked.

    The store's schema must be current (ConflictError naming ``riskops db upgrade``) and the
    secret must be the store's (ConfigError; recorded on first use). When the store does not
    answer, both wait — the refresher checks the schema and the flusher the secret before
    either uses the store — and the secret must already exist: a new one is never made
    without the store's word."""
    try:
        require_current(ctx.store)
        return bind_secrets(settings.workspace, ctx.store), False
    except BackendError as exc:
        log.warning(
            "The store did not answer at start (%s); its schema and the workspace secret are "
            "checked once it does",
            exc,
        )
        return load_secrets(settings.workspace, create=False), True


def preflight(settings: ServerSettings) -> None:
    """What a server would refuse, checked before it starts (``riskops serve`` runs it once
    before its workers): the schema, the secret, the environment."""
    ctx = open_context(settings.workspace, schema="skip")
    try:
        check_store(settings, ctx)
    finally:
        ctx.close()


def _reader(caller: Caller) -> Reader:
    return Reader(caller.name, caller.prefix, caller.client, auditor=caller.auditor)


def _no_decision(decision_id: str) -> NotFoundError:
    return NotFoundError(
        f"No decision with id {decision_id!r}.",
        hint="Use the decision_id returned with the decision.",
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


def decision_ids(n: int) -> list[str]:
    """``n`` new decision ids: random (version 4) UUIDs as lowercase hyphenated text, from one
    read of the system's generator (what :func:`uuid.uuid4` does per id, without building a
    UUID object for each)."""
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # the RFC 4122 variant
    text = raw.tobytes().hex()
    return [
        f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        for h in (text[k : k + 32] for k in range(0, 32 * n, 32))
    ]


def _unavailable(lane: Loaded, started: float) -> Decision:
    policy = DecisionPolicy.from_spec(lane.spec)
    return Decision(
        lane.plan.model,
        lane.plan.version,
        lane.plan.digest,
        None,
        policy.safe_outcome or "",
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
