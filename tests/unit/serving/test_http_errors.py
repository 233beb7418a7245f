"""Problem answers: whatever text a client made the server echo, the problem body can be written
(orjson and Starlette's JSON alike) and stays small; FastAPI's own 405 keeps its Allow."""

from __future__ import annotations

import json

import orjson
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st

from riskops.errors import Problem
from riskops.scoring.features import RequestInvalid
from riskops.serving.http_errors import (
    MAX_DETAIL,
    MAX_PROBLEMS,
    PROBLEM_JSON,
    error_answer,
    install,
    problem_body,
    problem_response,
    safe_text,
)

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

# Every code point, lone surrogates included (Python's json.loads lets "\ud83d" through).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=300)


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
