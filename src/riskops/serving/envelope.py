"""The body of a single-decision request, read without a validation framework: this is the
scoring hot path, and its checks are few and fixed.

A body is a JSON object with exactly these fields::

    {"subject_id": "…",        # a string of 1 to 200 characters (required)
     "features": {…},          # an object, feature name → value (required; checked against
                               # the model's spec by riskops.scoring.features)
     "explain": false}         # a boolean (optional): reasons even for an approval

Every problem is named, as the rest of the API names them: a :class:`RequestInvalid` whose
problems carry the field (``subject_id``, ``features``, ``explain``, the unknown field's name, or
``(body)`` for a body that is not a JSON object).

Example::

    request = parse_decision_request(b'{"subject_id": "a-1", "features": {...}}')
    request.subject_id, request.features, request.explain
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from riskops.errors import Problem
from riskops.scoring.features import RequestInvalid

MAX_SUBJECT_ID = 200
FIELDS = ("subject_id", "features", "explain")
_HINT = "Send a JSON object as the OpenAPI schema at /docs describes."


@dataclass(frozen=True)
class DecisionRequest:
    """A parsed single-decision body."""

    subject_id: str
    features: dict[str, Any]
    explain: bool = False


def parse_decision_request(body: bytes) -> DecisionRequest:
    """The request in ``body``; RequestInvalid naming every field that is wrong."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestInvalid(
            "The request body is not valid JSON.",
            problems=[Problem("(body)", f"is not valid JSON: {exc}")],
            hint=_HINT,
        ) from None
    if not isinstance(data, dict):
        raise RequestInvalid(
            "The request body must be a JSON object.",
            problems=[Problem("(body)", f"is a JSON {_kind(data)}, not an object")],
            hint=_HINT,
        )
    subject_id = data.get("subject_id")
    features = data.get("features")
    explain = data.get("explain", False)
    if (
        type(subject_id) is str
        and 0 < len(subject_id) <= MAX_SUBJECT_ID
        and type(features) is dict
        and type(explain) is bool
        and len(data) <= 3
        and all(key in FIELDS for key in data)
    ):
        return DecisionRequest(subject_id, features, explain)
    problems = []
    if subject_id is None:
        problems.append(Problem("subject_id", "is required: the subject's key"))
    elif not isinstance(subject_id, str):
        problems.append(Problem("subject_id", f"must be a string, not a {_kind(subject_id)}"))
    elif not 0 < len(subject_id) <= MAX_SUBJECT_ID:
        problems.append(
            Problem(
                "subject_id", f"must have 1 to {MAX_SUBJECT_ID} characters, not {len(subject_id)}"
            )
        )
    if features is None:
        problems.append(Problem("features", "is required: an object of feature name → value"))
    elif not isinstance(features, dict):
        problems.append(Problem("features", f"must be an object, not a {_kind(features)}"))
    if not isinstance(explain, bool):
        problems.append(Problem("explain", f"must be true or false, not a {_kind(explain)}"))
    for key in data:
        if key not in FIELDS:
            problems.append(
                Problem(str(key), f"is not a field of this request (fields: {', '.join(FIELDS)})")
            )
    raise RequestInvalid(
        f"The request body has {len(problems)} problem(s).", problems=problems, hint=_HINT
    )


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
