"""The HTTP scoring API: a thin FastAPI shell over :class:`riskops.serving.service.ScoringService`.

Endpoints (OpenAPI at ``/docs`` and ``/openapi.json``):

- ``POST /v1/models/{name}/decisions`` — one subject's decision with its reason codes (scope
  ``score``);
- ``POST /v1/models/{name}/decisions:batch`` — up to ``max_batch`` subjects (scope ``score``);
- ``GET /v1/decisions/{id}`` — a stored decision and its reasons: the key's own client's
  (scope ``read_decisions``), or any client's (scope ``audit``, each read recorded in the audit
  chain); another client's decision is a 404 like a missing one. At most
  ``max_concurrent_reads`` run at once, on threads of their own; one more is a 503 with
  ``Retry-After`` at once (:mod:`riskops.serving.limits`);
- ``/healthz`` (the process answers), ``/readyz`` (every deployed version loaded and its digest
  verified), ``/metrics`` (Prometheus; with ``metrics_port`` on a listener of its own instead,
  and a 404 here) — no key needed. ``docs=False`` turns off ``/docs``, ``/redoc`` and
  ``/openapi.json``.

The decision endpoints are the hot path: :class:`ScoringApp` hands both to
:class:`riskops.serving.fastpath.DecisionFastPath` before FastAPI's middleware and routing. It
checks the key first, then the body (:mod:`riskops.serving.envelope`, the same reader for
both), decides a single decision on the event loop's thread and awaits the decision log's group
commit, so that concurrent requests share one fsync; a batch, or a large body, is parsed and
decided in a worker thread. FastAPI documents both through routes that only describe them
(:func:`_decision_route`, :func:`_batch_route`). The read endpoint refuses an id that is not a
UUID (404) before asking the store, and runs its reads under
:class:`riskops.serving.limits.ReadLimit`. All state lives on ``app.state.service``.

The OpenAPI document (:mod:`riskops.serving.openapi`) has a request schema per deployed model,
generated from its spec and regenerated when the deployments change, and documents every error
as the ``application/problem+json`` it is.

Building the app does no I/O: its lifespan opens the service (store, WAL slot, flusher) when
the server starts and closes it when the server stops. :func:`app_from_env` builds it from the
environment, for ``uvicorn --factory`` and for each of ``riskops serve --workers N``'s worker
processes.

Example::

    app = create_app(ServerSettings(workspace=load_settings(), environment="production"))
    uvicorn.run(app, host="127.0.0.1", port=8080)

    # or: RISKOPS_ENV=production uvicorn --factory riskops.serving.app:app_from_env
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast

from fastapi import Depends, FastAPI, Path, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riskops import __version__
from riskops.config import load_settings
from riskops.errors import NotFoundError
from riskops.scoring.features import shown
from riskops.serving import openapi
from riskops.serving.auth import Caller
from riskops.serving.auth import Scope as KeyScope
from riskops.serving.envelope import MAX_SUBJECT_ID
from riskops.serving.fastpath import DecisionFastPath
from riskops.serving.http_errors import install, problem_bytes
from riskops.serving.limits import ReadLimit
from riskops.serving.metrics import CONTENT_TYPE
from riskops.serving.service import ScoringService, ServerSettings

__all__ = ["ScoringApp", "ServerSettings", "app_from_env", "create_app"]

log = logging.getLogger(__name__)

# -- request and response bodies ---------------------------------------------------------------
# The request models only document the decision endpoints: riskops.serving.envelope reads the
# bodies. Each deployed model also gets its own schema, from its spec (riskops.serving.openapi).

_FEATURES = (
    "Feature name → value, as the model's spec lists them (a number, one of the categories, "
    "or null where the spec allows a missing value). The paths /v1/models/<model>/decisions "
    "of each deployed model give its own schema."
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DecisionRequest(_Body):
    subject_id: str = Field(
        min_length=1, max_length=MAX_SUBJECT_ID, description="The subject's key."
    )
    features: dict[str, float | str | None] = Field(description=_FEATURES)
    explain: bool = Field(False, description="Give reasons even for an approval.")


class BatchItem(_Body):
    subject_id: str = Field(min_length=1, max_length=MAX_SUBJECT_ID)
    features: dict[str, float | str | None] = Field(description=_FEATURES)


class BatchRequest(_Body):
    subjects: list[BatchItem] = Field(description="The subjects, each decided independently.")
    explain: bool = Field(False, description="Give reasons even for an approval.")


class ReasonOut(BaseModel):
    code: str
    text: str
    contribution: float | None
    value: Any


class DecisionOut(BaseModel):
    decision_id: str
    model: str
    version: int
    digest: str
    score: float | None
    decision: str
    reasons: list[ReasonOut]
    fallback: bool


class BatchOut(BaseModel):
    decisions: list[DecisionOut]


class StoredDecisionOut(BaseModel):
    decision_id: str
    decided_at: str | None
    model: str | None
    version: int | None
    digest: str | None
    route: str | None
    served: bool | None
    score: float | None
    decision: str | None
    reasons: list[dict[str, Any]]
    fallback: bool | None
    client: str | None = Field(None, description="The client whose key asked for it.")


# Every error is application/problem+json (riskops.serving.openapi documents it so).
_ERRORS = openapi.error_responses(401, 403, 404, 413, 422, 500, 503)
_READ_ERRORS = openapi.error_responses(401, 403, 404, 500, 503)
_DECISION_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)

# -- auth --------------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


def _requires(*scopes: KeyScope) -> Any:
    """The caller, whose key must hold one of ``scopes``."""

    async def check(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        header: Annotated[str | None, Depends(_api_key)],
    ) -> Caller:
        token = bearer.credentials if bearer is not None else header
        service: ScoringService = request.app.state.service
        return service.keys.authorise(token, scope=scopes)

    return Depends(check)


# -- body size ---------------------------------------------------------------------------------


class BodyLimit:
    """Refuses a body over ``limit`` bytes: at once from Content-Length, or while it streams."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = 0
                if length > self.limit:
                    await self._refuse(send, length)
                    return
        # A streamed body is counted as it arrives. Past the limit the app is told the client
        # left (so it stops reading), and whatever it answers is replaced by the 413.
        seen = 0
        over = False
        refused = False

        async def counted() -> Message:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def answer(message: Message) -> None:
            nonlocal refused
            if not over:
                await send(message)
            elif not refused:
                refused = True
                await self._refuse(send, seen)

        try:
            await self.app(scope, counted, answer)
        except Exception:
            # The app may fail on the cut-off body (a client "disconnect" mid-read); past the
            # limit, that is the 413's doing and the 413 is the answer.
            if not over:
                raise
        if over and not refused:
            await self._refuse(send, seen)

    async def _refuse(self, send: Send, length: int) -> None:
        body = problem_bytes(
            413,
            f"The request body is over {self.limit} bytes (at least {length}); at most "
            f"{self.limit} are accepted.",
            hint="Split a large batch into smaller requests.",
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# -- the app -----------------------------------------------------------------------------------


class ScoringApp(FastAPI):
    """FastAPI, with decisions (single and batch) answered before its middleware and routing
    (see :mod:`riskops.serving.fastpath`); everything else, lifespan included, goes through
    it."""

    fast_path: DecisionFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_path
        if fast is not None and fast.matches(scope):
            await fast.handle(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _decision_route() -> APIRoute:
    """The OpenAPI description of ``POST /v1/models/{name}/decisions``, which
    :class:`riskops.serving.fastpath.DecisionFastPath` answers before FastAPI's routing."""

    def decide(
        name: str, body: DecisionRequest, _key: Annotated[Caller, _requires("score")]
    ) -> DecisionOut:
        """One subject's decision: score, outcome from the spec's policy, principal reasons
        (for refer and decline, or all with ``explain``), and the model version that gave it.
        Logged durably before it is returned."""
        raise AssertionError("answered by riskops.serving.fastpath.DecisionFastPath")

    return APIRoute(
        "/v1/models/{name}/decisions",
        decide,
        methods=["POST"],
        response_model=DecisionOut,
        responses=_ERRORS,
        tags=["decisions"],
    )


def _batch_route() -> APIRoute:
    """The OpenAPI description of ``POST /v1/models/{name}/decisions:batch``, which
    :class:`riskops.serving.fastpath.DecisionFastPath` answers before FastAPI's routing."""

    def decide_batch(
        name: str, body: BatchRequest, _key: Annotated[str, _requires("score")]
    ) -> BatchOut:
        """Decisions for up to the configured number of subjects, in order, each logged
        durably. If any subject is invalid, none is decided: the 422 names every problem as
        ``subjects[i].feature``."""
        raise AssertionError("answered by riskops.serving.fastpath.DecisionFastPath")

    return APIRoute(
        "/v1/models/{name}/decisions:batch",
        decide_batch,
        methods=["POST"],
        response_model=BatchOut,
        responses=_ERRORS,
        tags=["decisions"],
    )


class _Opened:
    """The app's service as its lifespan opened it (``app.state.service``): the routes hold
    this, so that they can be declared before the service exists."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app.state.service, name)


def create_app(settings: ServerSettings, *, service: ScoringService | None = None) -> ScoringApp:
    """The scoring app for ``settings``. Building it does no I/O: the service (or ``service``,
    when given) opens and starts in the app's lifespan, and its models load in the background
    after start-up (``/readyz`` says when they are in)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        opened = service or ScoringService.open(settings)
        _attach(app, opened)
        opened.start()
        listener = None
        try:
            if settings.metrics_port is not None:
                listener = opened.metrics.listen(settings.metrics_host, settings.metrics_port)
                app.state.metrics_port = listener.port
                log.info("Metrics at http://%s:%d/metrics", settings.metrics_host, listener.port)
            yield
        finally:
            if listener is not None:
                listener.close()
            opened.close()

    docs = settings.docs
    app = ScoringApp(
        title="riskops scoring",
        version=__version__,
        description="Decisions with reason codes from approved, digest-verified model versions.",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    if service is not None:
        _attach(app, service)
    running = cast(ScoringService, _Opened(app))
    reads = ReadLimit(
        settings.max_concurrent_reads, on_refused=lambda: running.metrics.reads_refused.inc()
    )
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    install(app)
    openapi.install(
        app,
        lambda: running.table,
        routes=[_decision_route(), _batch_route()],
        unknown_category=settings.unknown_category,
        max_batch=settings.max_batch,
    )

    @app.get(
        "/v1/decisions/{decision_id}",
        response_model=StoredDecisionOut,
        responses=_READ_ERRORS,
        tags=["decisions"],
    )
    async def stored_decision(
        decision_id: Annotated[
            str,
            Path(
                description="The decision_id given with the decision (a UUID).",
                json_schema_extra={"format": "uuid"},
            ),
        ],
        caller: Annotated[Caller, _requires("read_decisions", "audit")],
    ) -> StoredDecisionOut:
        """A stored decision with its reasons (GDPR Art. 15: the logic involved): one of the
        key's own client (``read_decisions``), or of any client (``audit``, recorded in the
        audit chain). Another client's decision is a 404, as a missing one is. 503 with
        Retry-After when the server is at its read limit or the database does not answer
        within the read timeout."""
        # Checked before the store is asked: PostgreSQL refuses a NUL byte in text outright.
        if _DECISION_ID.fullmatch(decision_id) is None:
            raise NotFoundError(
                f"No decision with id {shown(decision_id)}: a decision id is a UUID, such as "
                "467547ec-4f45-465f-9b2f-291ff3517e18.",
                hint="Use the decision_id returned with the decision.",
            )
        async with reads.admitted():
            found = await running.get_decision_async(decision_id.lower(), caller)
        return StoredDecisionOut(**found)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz(response: Response) -> dict[str, Any]:
        """200 once every deployed version is loaded with its digest verified; 503 otherwise,
        saying which is missing and why."""
        ready, body = running.readiness()
        response.status_code = 200 if ready else 503
        return body

    if settings.metrics_port is None:

        @app.get("/metrics", tags=["operations"])
        async def metrics() -> Response:
            """Prometheus metrics of this process."""
            return Response(running.metrics.exposition(), media_type=CONTENT_TYPE)

    return app


def _attach(app: ScoringApp, service: ScoringService) -> None:
    app.state.service = service
    app.fast_path = DecisionFastPath(service, max_body_bytes=service.settings.max_body_bytes)


def app_from_env() -> ScoringApp:
    """The scoring app of the workspace and server options in the environment (see
    :mod:`riskops.config`): ``uvicorn --factory riskops.serving.app:app_from_env``."""
    workspace = load_settings()
    return create_app(ServerSettings.from_environment(workspace))
