"""The scoring hot path as plain ASGI: ``POST /v1/models/{name}/decisions`` answered before
FastAPI's middleware and routing (:class:`riskops.serving.app.ScoringApp` hands it over).

Every other request (the batch and read endpoints, health, metrics, the OpenAPI documents)
goes through FastAPI, which also documents this endpoint. A single decision is the one
request a lender sends thousands of times a second; for it, FastAPI's routing, dependency
resolution and response classes cost about as much server time as the decision itself
(validation, score, reasons, durable log), so this handler does exactly what the endpoint
needs and no more:

1. a body over the limit is refused (413) from its Content-Length, or as it streams;
2. the API key is checked (``Authorization: Bearer …`` or ``X-API-Key``; 401, 403); its
   client is the decision's;
3. the body is read and checked (:mod:`riskops.serving.envelope`, 422 naming each field);
4. the service decides and awaits the decision log's group commit
   (:meth:`riskops.serving.service.ScoringService.decide_async`);
5. the answer is one ``orjson`` serialisation; shadows are scored after it, in a thread.

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
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.types import Receive, Scope, Send

from riskops.serving.envelope import parse_decision_request
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
_JSON = [(b"content-type", b"application/json")]


class _Disconnected(Exception):
    """The client went away before its body was in: nobody to answer."""


class DecisionFastPath:
    """The handler of single decisions: :meth:`matches` tells whether a request is one,
    :meth:`handle` answers it (always, with a decision or a problem+json error)."""

    def __init__(self, service: ScoringService, max_body_bytes: int) -> None:
        self.service = service
        self.limit = max_body_bytes

    @staticmethod
    def matches(scope: Scope) -> bool:
        """Whether ``scope`` is a request for ``/v1/models/{name}/decisions`` (any method)."""
        if scope["type"] != "http":
            return False
        path: str = scope["path"]
        return (
            path.startswith(PREFIX)
            and path.endswith(SUFFIX)
            and len(path) > len(PREFIX) + len(SUFFIX)
            and "/" not in path[len(PREFIX) : -len(SUFFIX)]
        )

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        name = unquote(path[len(PREFIX) : -len(SUFFIX)])
        shadows = None
        close = False
        try:
            if scope["method"] != "POST":
                raise MethodNotAllowed(
                    f"{scope['method']} {path}: this endpoint takes POST.",
                    hint="POST a JSON body with subject_id and features.",
                )
            headers = _headers(scope)
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.limit:
                close = True
                raise self._too_large(int(length))
            caller = self.service.keys.authorise(_token(headers), scope="score")
            body = await self._body(receive)
            request = parse_decision_request(body)
            outcome, shadows = await self.service.decide_async(
                name,
                Subject(request.subject_id, request.features),
                explain=request.explain,
                client=caller.client,
            )
            status, content, extra = 200, orjson.dumps(answer(outcome)), _JSON
        except _Disconnected:
            return
        except Exception as exc:  # every failure is a problem+json answer, never a traceback
            close = close or isinstance(exc, PayloadTooLarge)
            code, problem, more = error_answer(exc)
            status, content = code, orjson.dumps(problem)
            extra = [(b"content-type", PROBLEM_JSON.encode())]
            extra += [(k.lower().encode(), v.encode()) for k, v in more.items()]
            if isinstance(exc, MethodNotAllowed):
                extra.append((b"allow", b"POST"))
            if close:
                extra.append((b"connection", b"close"))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*extra, (b"content-length", str(len(content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": content})
        if shadows is not None:
            asyncio.get_running_loop().run_in_executor(None, shadows)

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


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return dict(scope["headers"])


def _token(headers: dict[bytes, bytes]) -> str | None:
    """The API key: ``Authorization: Bearer …`` or ``X-API-Key``."""
    authorization = headers.get(b"authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    key = headers.get(b"x-api-key")
    return None if key is None else key.decode("latin-1")
