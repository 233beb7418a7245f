"""The one table that maps riskops errors to HTTP statuses, and the problem+json body they get.

Every error answer is ``application/problem+json`` (RFC 9457) with ``type``, ``title``,
``status`` and ``detail``, plus riskops' ``code`` (the error's stable code, see
:mod:`riskops.errors`), ``hint`` (what to do next) and ``problems`` (each bad field:
``{"field": ..., "message": ..., "code": ...}``). No answer ever carries a traceback: an unexpected
exception is logged here, server-side, and the caller gets a 500 problem naming no internals.

Whatever a client sent, its problem body can be written and stays small: every text is cut to
a bounded length and a character UTF-8 cannot carry (a lone surrogate, which Python's ``json``
lets through) is escaped as its code point, U+D83D as ``\\ud83d`` (:func:`safe_text`); at most
``MAX_PROBLEMS`` problems are listed, then one ``(more)`` entry counts the rest. A 405 carries
``Allow``, FastAPI's own included.

The status is looked up by the error's code, then by each code it refines
(:meth:`riskops.errors.RiskopsError.codes`), never by message text:

==========================================  ======
code                                        status
==========================================  ======
input_invalid (request_invalid, ...)        422
payload_too_large                           413
method_not_allowed                          405
api_key_missing                             401
permission_denied                           403
not_found                                   404
conflict                                    409
backend_unavailable (busy)                  503
integrity, config_invalid, others           500
==========================================  ======

A 503 carries ``Retry-After`` (the error's ``retry_after``, else 5 seconds); a BusyError is a
server at one of its own limits (the read limit), not logged as a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from riskops.errors import (
    BackendError,
    BusyError,
    ConfigError,
    ConflictError,
    InputError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    RiskopsError,
)
from riskops.serving.auth import ApiKeyMissing

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 5  # a 503 whose error does not say when to ask again
TYPE_BASE = "https://riskops.dev/problems/"
MAX_PROBLEMS = 100  # problems listed in one answer; the rest are counted
MAX_DETAIL = 2_000  # characters of a detail or a hint
MAX_FIELD = 200  # characters of a problem's field
MAX_MESSAGE = 1_000  # characters of a problem's message


class PayloadTooLarge(InputError):
    """A request body larger than the server accepts."""

    code = "payload_too_large"


class MethodNotAllowed(InputError):
    """A method the endpoint does not take."""

    code = "method_not_allowed"


STATUS: dict[str, int] = {
    PayloadTooLarge.code: 413,
    MethodNotAllowed.code: 405,
    InputError.code: 422,
    ApiKeyMissing.code: 401,
    PermissionDeniedError.code: 403,
    NotFoundError.code: 404,
    ConflictError.code: 409,
    BackendError.code: 503,
    IntegrityError.code: 500,
    ConfigError.code: 500,
}

# The code of an answer that no RiskopsError produced (the framework's own 404, 405, 422, and
# an unexpected failure), by status.
_STATUS_CODES: dict[int, str] = {
    **{status: code for code, status in STATUS.items() if status != 500},
    500: "internal",
}

TITLES: dict[int, str] = {
    401: "API key required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    422: "Invalid request",
    500: "Internal error",
    503: "Service unavailable",
}


def status_of(error: RiskopsError) -> int:
    for code in error.codes():
        if code in STATUS:
            return STATUS[code]
    return 500


def safe_text(text: object, limit: int) -> str:
    """``text`` as a problem may carry it: at most ``limit`` characters (then "…"), and any
    character UTF-8 cannot encode (a lone surrogate) escaped as its code point (U+D83D as
    ``\\ud83d``)."""
    value = text if isinstance(text, str) else str(text)
    if len(value) > limit:
        value = value[:limit] + "…"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def problem_body(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    hint: str | None = None,
    problems: Iterable[Problem] = (),
) -> dict[str, Any]:
    """The problem+json object of an error answer, safe to encode whatever the texts hold;
    ``code`` defaults to the status's."""
    title = TITLES.get(status, "Error")
    listed: list[dict[str, str]] = []
    more = 0
    for p in problems:
        if len(listed) < MAX_PROBLEMS:
            listed.append(
                {
                    "field": safe_text(p.location, MAX_FIELD),
                    "message": safe_text(p.message, MAX_MESSAGE),
                    "code": p.code,
                }
            )
        else:
            more += 1
    if more:
        listed.append(
            {
                "field": "(more)",
                "message": f"and {more:,} more problems (not listed)",
                "code": "more",
            }
        )
    return {
        "type": TYPE_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "code": code or _STATUS_CODES.get(status, "error"),
        "detail": safe_text(detail, MAX_DETAIL),
        "hint": None if hint is None else safe_text(hint, MAX_DETAIL),
        "problems": listed,
    }


def problem_response(
    status: int,
    detail: str,
    *,
    hint: str | None = None,
    problems: Iterable[Problem] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json answer."""
    body = problem_body(status, detail, hint=hint, problems=problems)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_bytes(status: int, detail: str, *, hint: str | None = None) -> bytes:
    """The body of :func:`problem_response`, for an ASGI layer that answers by itself."""
    return bytes(problem_response(status, detail, hint=hint).body)


def error_answer(error: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, problem+json object and extra headers for ``error``; an error that is not a
    RiskopsError is logged with its traceback and answered as a bare 500."""
    if not isinstance(error, RiskopsError):
        log.error("Unexpected error answering a request", exc_info=error)
        return (
            500,
            problem_body(
                500,
                "The server could not answer this request.",
                hint="Retry; if it persists, report it to the operator with the time of the "
                "request.",
            ),
            {},
        )
    status = status_of(error)
    if status >= 500 and not isinstance(error, BusyError):  # a busy refusal is by design
        log.error("A request failed: %s", error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if status == 503:
        retry_after = getattr(error, "retry_after", None) or RETRY_AFTER_SECONDS
        headers["Retry-After"] = str(retry_after)
    body = problem_body(
        status,
        error.message,
        code=error.code,
        hint=error.hint,
        problems=getattr(error, "problems", ()),
    )
    return status, body, headers


async def _riskops_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RiskopsError)
    status, body, headers = error_answer(exc)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [_problem(e) for e in exc.errors()]
    return problem_response(
        422,
        f"The request body has {len(problems)} problem(s).",
        hint="Send a JSON object as the OpenAPI schema at /docs describes.",
        problems=problems,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # Starlette's 405 names the methods the path takes in `Allow` (RFC 9110): kept.
    headers = dict(exc.headers or {})
    hint = None
    if exc.status_code == 405:
        hint = f"This path takes: {headers.get('Allow', 'see /openapi.json')}."
    elif exc.status_code == 404:
        hint = "The paths and methods of this API are listed at /openapi.json."
    return problem_response(exc.status_code, str(exc.detail), hint=hint, headers=headers or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("Unexpected error answering %s %s", request.method, request.url.path)
    return problem_response(
        500,
        "The server could not answer this request.",
        hint="Retry; if it persists, report it to the operator with the time of the request.",
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(RiskopsError, _riskops_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def _problem(error: Any) -> Problem:
    loc: Sequence[Any] = error.get("loc", ())
    parts = [str(p) for p in loc if p != "body"]
    where = ".".join(parts) or "(body)"
    return Problem(where, str(error.get("msg", "is invalid")))
