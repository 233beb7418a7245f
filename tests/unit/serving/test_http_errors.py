"""The one table from error codes to HTTP statuses, and the problem+json body."""

from __future__ import annotations

import pytest

from riskops.errors import (
    BackendError,
    ConfigError,
    ConflictError,
    DataSchemaError,
    InputError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    RiskopsError,
)
from riskops.scoring.features import RequestInvalid
from riskops.serving.auth import ApiKeyMissing
from riskops.serving.http_errors import (
    MethodNotAllowed,
    PayloadTooLarge,
    error_answer,
    problem_body,
    status_of,
)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (RequestInvalid("bad"), 422),
        (DataSchemaError("bad"), 422),
        (InputError("bad"), 422),
        (PayloadTooLarge("big"), 413),
        (MethodNotAllowed("GET"), 405),
        (ApiKeyMissing("no key"), 401),
        (PermissionDeniedError("no"), 403),
        (NotFoundError("none"), 404),
        (ConflictError("no"), 409),
        (BackendError("down"), 503),
        (IntegrityError("broken"), 500),
        (ConfigError("wrong"), 500),
        (RiskopsError("other"), 500),
    ],
)
def test_the_status_follows_the_code(error: RiskopsError, status: int) -> None:
    assert status_of(error) == status


def test_the_status_is_looked_up_by_code_not_by_class_or_message() -> None:
    class Refined(ConflictError):
        code = "version_retired"

    class Unrefined(BackendError):
        pass

    # A refined code falls back to the code it refines; the message plays no part.
    assert status_of(Refined("not found at all")) == 409
    assert status_of(Unrefined("Conflict")) == 503


def test_the_body_carries_the_error_code_and_each_problem_s_code() -> None:
    error = RequestInvalid(
        "The request for credit-scoring has 2 problem(s):",
        problems=[
            Problem("age_in_years", "is required: send a value", "missing"),
            Problem("purpose", "'x' is not an allowed category", "unknown_category"),
        ],
        hint="Fix each field.",
    )
    status, body, headers = error_answer(error)
    assert (status, headers) == (422, {})
    assert body["code"] == "request_invalid"
    assert body["problems"] == [
        {"field": "age_in_years", "message": "is required: send a value", "code": "missing"},
        {
            "field": "purpose",
            "message": "'x' is not an allowed category",
            "code": "unknown_category",
        },
    ]
    assert body["hint"] == "Fix each field."


def test_a_401_asks_for_a_bearer_token_and_says_why_by_code() -> None:
    status, body, headers = error_answer(ApiKeyMissing("No API key."))
    assert (status, body["code"], headers) == (
        401,
        "api_key_missing",
        {"WWW-Authenticate": "Bearer"},
    )


def test_an_unexpected_error_is_a_bare_500_coded_internal(caplog: pytest.LogCaptureFixture) -> None:
    status, body, _ = error_answer(ValueError("secret internals"))
    assert (status, body["code"]) == (500, "internal")
    assert "secret internals" not in str(body)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (404, "not_found"),
        (405, "method_not_allowed"),
        (413, "payload_too_large"),
        (422, "input_invalid"),
    ],
)
def test_an_answer_without_an_error_gets_its_status_s_code(status: int, code: str) -> None:
    assert problem_body(status, "framework answer")["code"] == code
