"""The decision endpoints as plain ASGI: ``POST /v1/models/{name}/decisions`` and
``POST /v1/models/{name}/decisions:batch``, answered before FastAPI's middleware and routing
(:class:`riskops.serving.app.ScoringApp` hands them over).

Every other request (reading a decision, health, metrics, the OpenAPI documents) goes through
FastAPI, which also documents these two. A single decision is the one request a lender sends
thousands of times a second; for it, FastAPI's routing, dependency resolution and response
classes cost about as much server time as the decision itself (validation, score, reasons,
durable log), so this handler does exactly what the endpoints need and no more. Both endpoints
go through the same steps, so the same fault gets the same answer from either:

1. a method other than POST is refused (405, with ``Allow: POST``);
2. a body over the limit is refused (413) from its Content-Length;
3. the API key is checked (``Authorization: Bearer …`` or ``X-API-Key``; 401, 403), before the
   body is read: a request without a key is a 401 whatever its body; the key's client is
   the decision's;
4. the body is read (413 if it grows past the limit as it streams) and parsed by
   :mod:`riskops.serving.envelope` (422 naming each field; a body that is not JSON, invalid
   UTF-8, nested deeper than 1,024 levels or holding a number too large for a double is a 422
   naming ``(body)``);
5. the service decides: a single decision with a small body on the event loop's thread,
   awaiting the decision log's group commit
   (:meth:`riskops.serving.service.ScoringService.decide_async`); a batch, or a single body
   over ``INLINE_BODY_BYTES``, is parsed, checked and decided in a worker thread, so that a
   large hostile body never holds the event loop for more than the one C call that parses it;
6. the answer is one ``orjson`` serialisation; shadows are scored after it, in a thread.

Errors are the same problem+json answers as the rest of the API
(:func:`riskops.serving.http_errors.error_answer`): no traceback ever reaches a caller.

Example::

    fast = DecisionFastPath(service, max_body_bytes=1_048_576)
    if fast.matches(scope):
        await fast.handle(scope, receive, send)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import orjson
from starlette.types import Receive, Scope, Send

from riskops.serving.envelope import parse_batch_request, parse_decision_request
from riskops.serving.http_errors import (
    PROBLEM_JSON,
    MethodNotAllowed,
    PayloadTooLarge,
    error_answer,
)
from riskops.serving.service import Outcome, ScoringService, Subject

log = logging.getLogger(__name__)

PREFIX = "/v1/models/"
SUFFIX = "/decisions"
BATCH_SUFFIX = "/decisions:batch"
# A single decision's body is about 1 KB. One over this is parsed, checked and decided in a
# worker thread: orjson reads 16 KiB of the worst shape in about a millisecond.
INLINE_BODY_BYTES = 16_384
_JSON = [(b"content-type", b"application/json")]
_PROBLEM = [(b"content-type", PROBLEM_JSON.encode())]


class _Disconnected(Exception):
    """The client went away before its body was in: nobody to answer."""


@dataclass(frozen=True)
class _Answer:
    status: int
    content: bytes
    headers: list[tuple[bytes, bytes]]
    shadows: Callable[[], None] | None = None


def route_of(scope: Scope) -> tuple[str, bool] | None:
    """``(model name, is a batch)`` when ``scope`` is a request for one of the decision
    endpoints (any method), else None."""
    if scope["type"] != "http":
        return None
    path: str = scope["path"]  # already percent-decoded by the server
    if not path.startswith(PREFIX):
        return None
    if path.endswith(SUFFIX):
        name, batch = path[len(PREFIX) : -len(SUFFIX)], False
    elif path.endswith(BATCH_SUFFIX):
        name, batch = path[len(PREFIX) : -len(BATCH_SUFFIX)], True
    else:
        return None
    if not name or "/" in name:
        return None
    return name, batch


class DecisionFastPath:
    """The handler of the decision endpoints: :meth:`matches` tells whether a request is for
    one, :meth:`handle` answers it (always, with decisions or a problem+json error)."""

    def __init__(self, service: ScoringService, max_body_bytes: int) -> None:
        self.service = service
        self.limit = max_body_bytes

    @staticmethod
    def matches(scope: Scope) -> bool:
        """Whether ``scope`` is a request for ``/v1/models/{name}/decisions`` or
        ``…/decisions:batch`` (any method)."""
        return route_of(scope) is not None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = route_of(scope)
        assert found is not None, "handle() is only called where matches() said so"
        name, batch = found
        try:
            if scope["method"] != "POST":
                raise MethodNotAllowed(
                    f"{scope['method']} {scope['path']}: this endpoint takes POST.",
                    hint="POST a JSON body as the OpenAPI schema at /openapi.json describes.",
                )
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.limit:
                raise self._too_large(int(length))
            caller = self.service.keys.authorise(_token(headers), scope="score")
            body = await self._body(receive)
            if batch or len(body) > INLINE_BODY_BYTES:
                answered = await anyio.to_thread.run_sync(
                    self._decide_in_thread, name, body, batch, caller.client
                )
            else:
                request = parse_decision_request(body)
                outcome, shadows = await self.service.decide_async(
                    name,
                    Subject(request.subject_id, request.features),
                    explain=request.explain,
                    client=caller.client,
                )
                answered = _Answer(200, orjson.dumps(answer(outcome)), _JSON, shadows)
        except _Disconnected:
            return
        except Exception as exc:  # every failure is a problem+json answer, never a traceback
            answered = _refusal(exc)
        await send(
            {
                "type": "http.response.start",
                "status": answered.status,
                "headers": [
                    *answered.headers,
                    (b"content-length", str(len(answered.content)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answered.content})
        self.service.metrics.request("batch" if batch else "decision", answered.status)
        if answered.shadows is not None:
            asyncio.get_running_loop().run_in_executor(None, answered.shadows)

    def _decide_in_thread(self, name: str, body: bytes, batch: bool, client: str | None) -> _Answer:
        """Parse, check and decide off the event loop. A refusal is built here too, so that
        the parsed body (perhaps a megabyte of objects) is also freed here, not on the loop."""
        try:
            if batch:
                parsed = parse_batch_request(body, max_batch=self.service.settings.max_batch)
                outcomes, shadows = self.service.decide_batch(
                    name,
                    [Subject(s.subject_id, s.features) for s in parsed.subjects],
                    explain=parsed.explain,
                    client=client,
                )
                content = orjson.dumps({"decisions": [answer(o) for o in outcomes]})
                return _Answer(200, content, _JSON, shadows)
            request = parse_decision_request(body)
            outcome, shadows = self.service.decide(
                name,
                Subject(request.subject_id, request.features),
                explain=request.explain,
                client=client,
            )
            return _Answer(200, orjson.dumps(answer(outcome)), _JSON, shadows)
        except Exception as exc:
            return _refusal(exc)

    async def _body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                raise self._too_large(seen)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _too_large(self, length: int) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"The request body is over {self.limit} bytes (at least {length}); at most "
            f"{self.limit} are accepted.",
            hint="Split a large batch into smaller requests.",
        )


def _refusal(error: Exception) -> _Answer:
    """The problem+json answer of ``error``; a 405 names the method it takes, a 413 closes the
    connection (the rest of the body is not read)."""
    code, problem, more = error_answer(error)
    headers = [*_PROBLEM, *((k.lower().encode(), v.encode()) for k, v in more.items())]
    if isinstance(error, MethodNotAllowed):
        headers.append((b"allow", b"POST"))
    if isinstance(error, PayloadTooLarge):
        headers.append((b"connection", b"close"))
    return _Answer(code, orjson.dumps(problem), headers)


def answer(outcome: Outcome) -> dict[str, Any]:
    """The JSON answer of one decision (the shape of the OpenAPI ``DecisionOut``)."""
    d = outcome.decision
    return {
        "decision_id": outcome.decision_id,
        "model": d.model,
        "version": d.version,
        "digest": d.digest,
        "score": d.score,
        "decision": d.decision,
        "reasons": [r.as_dict() for r in d.reasons],
        "fallback": d.fallback,
    }


def _token(headers: dict[bytes, bytes]) -> str | None:
    """The API key: ``Authorization: Bearer …`` or ``X-API-Key``."""
    authorization = headers.get(b"authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    key = headers.get(b"x-api-key")
    return None if key is None else key.decode("latin-1")
