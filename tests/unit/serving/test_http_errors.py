"""The one table from error codes to HTTP statuses, and the problem+json body."""

from __future__ import annotations

import json

import orjson
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st

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
    MAX_DETAIL,
    MAX_PROBLEMS,
    PROBLEM_JSON,
    MethodNotAllowed,
    PayloadTooLarge,
    error_answer,
    install,
    problem_body,
    problem_response,
    safe_text,
    status_of,
)

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

# Every code point, lone surrogates included (Python's json.loads lets "\ud83d" through).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=300)


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


@given(detail=any_text, hint=st.none() | any_text, field=any_text, message=any_text)
def test_any_text_makes_a_problem_body_that_can_be_written(
    detail: str, hint: str | None, field: str, message: str
) -> None:
    body = problem_body(422, detail, hint=hint, problems=[Problem(field, message)])
    written = orjson.loads(orjson.dumps(body))
    assert written["status"] == 422
    assert written["problems"][0]["field"] == safe_text(field, 200)
    response = problem_response(422, detail, hint=hint, problems=[Problem(field, message)])
    assert json.loads(bytes(response.body))["detail"] == safe_text(detail, MAX_DETAIL)


def test_a_lone_surrogate_is_echoed_escaped() -> None:
    assert safe_text("\ud83d", 100) == "\\ud83d"
    assert safe_text("a\ud83d\ude00b", 100) == "a\\ud83d\\ude00b"  # a pair split in two
    assert safe_text("é😀", 100) == "é😀"  # whole characters stay as they are
    assert safe_text("x" * 500, 100) == "x" * 100 + "…"


def test_the_batch_problem_of_the_trial_is_a_422_not_a_500() -> None:
    # {"subjects":[{"subject_id":"a","features":{"\ud83d":1}}]} read by Python's json.
    error = RequestInvalid("bad", problems=[Problem("subjects[0].\ud83d", "is not a feature")])
    status, body, _ = error_answer(error)
    assert status == 422
    assert orjson.loads(orjson.dumps(body))["problems"][0]["field"] == "subjects[0].\\ud83d"


def test_an_answer_lists_at_most_a_hundred_problems_and_counts_the_rest() -> None:
    problems = [Problem(f"f{i}", "x" * 10_000) for i in range(35_000)]
    body = problem_body(422, "d" * 1_000_000, hint="h" * 1_000_000, problems=problems)
    assert len(body["problems"]) == MAX_PROBLEMS + 1
    assert body["problems"][-1] == {
        "field": "(more)",
        "message": f"and {35_000 - MAX_PROBLEMS:,} more problems (not listed)",
        "code": "more",
    }
    assert len(orjson.dumps(body)) < 150_000


def test_fastapi_s_own_405_carries_allow_and_is_a_problem() -> None:
    from fastapi.testclient import TestClient

    app = FastAPI()
    install(app)

    @app.get("/thing")
    def thing() -> dict[str, str]:
        return {}

    with TestClient(app) as client:
        answer = client.delete("/thing")
        missing = client.get("/nowhere")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET"
    assert answer.headers["content-type"].startswith(PROBLEM_JSON)
    assert answer.json()["hint"] == "This path takes: GET."
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM_JSON)
