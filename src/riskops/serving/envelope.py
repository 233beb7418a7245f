"""The bodies of the decision requests, read without a validation framework: this is the scoring
hot path, and its checks are few and fixed. The single and the batch endpoint read their bodies
here, with the same JSON reader and the same rules, so the same fault gets the same answer.

A single decision's body is a JSON object with exactly these fields::

    {"subject_id": "…",        # a string of 1 to 200 characters (required)
     "features": {…},          # an object, feature name → value (required; checked against
                               # the model's spec by riskops.scoring.features)
     "explain": false}         # a boolean (optional): reasons even for an approval

A batch's body::

    {"subjects": [{"subject_id": "…", "features": {…}}, …],   # at most max_batch (required)
     "explain": false}                                         # a boolean (optional)

``explain`` is a JSON boolean in both: ``0``, ``"yes"`` or ``null`` are refused.

Every problem is named, as the rest of the API names them: a :class:`RequestInvalid` whose
problems carry the field (``subject_id``, ``features``, ``explain``, ``subjects[3].features``,
an unknown field's name, or ``(body)`` for a body that is not a JSON object). A body that is not
JSON at all (invalid UTF-8, nesting deeper than orjson's 1,024 levels, a number too large for a
double, a lone surrogate in a ``\\u`` escape, ...) is a ``(body)`` problem of either endpoint.
Past ``MAX_UNKNOWN_LISTED`` unknown fields, the rest are counted, not listed, so the refusal of
a body of a million unknown fields stays small.

The cyclic garbage collector is paused while orjson parses (:func:`collector_paused`): orjson
builds a tree, which has no cycle to collect, and a megabyte of small arrays otherwise set off
collection after collection over the growing tree, which doubled the time the parse holds the
interpreter lock (about 30 ms instead of 15 for 340,000 empty arrays, measured by
benchmarks/hostile_bodies.py).

Example::

    request = parse_decision_request(b'{"subject_id": "a-1", "features": {...}}')
    request.subject_id, request.features, request.explain
    batch = parse_batch_request(b'{"subjects": [...]}', max_batch=1000)
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from riskops.errors import Problem
from riskops.scoring.features import MAX_UNKNOWN_LISTED, RequestInvalid, shown_name

MAX_SUBJECT_ID = 200
FIELDS = ("subject_id", "features", "explain")
BATCH_FIELDS = ("subjects", "explain")
ITEM_FIELDS = ("subject_id", "features")
_HINT = "Send a JSON object as the OpenAPI schema at /openapi.json describes."


@dataclass(frozen=True)
class DecisionRequest:
    """A parsed single-decision body (or one subject of a batch, with the batch's explain)."""

    subject_id: str
    features: dict[str, Any]
    explain: bool = False


@dataclass(frozen=True)
class BatchRequest:
    """A parsed batch body: its subjects in order."""

    subjects: tuple[DecisionRequest, ...]
    explain: bool = False


def load_object(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body``; RequestInvalid naming ``(body)`` when it is not JSON (of
    any kind orjson refuses) or not an object."""
    try:
        with collector_paused():
            data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestInvalid(
            "The request body is not valid JSON.",
            problems=[Problem("(body)", f"is not valid JSON: {_reason(exc)}")],
            hint=_HINT,
        ) from None
    if type(data) is not dict:
        raise RequestInvalid(
            "The request body must be a JSON object.",
            problems=[Problem("(body)", f"is a JSON {_kind(data)}, not an object")],
            hint=_HINT,
        )
    return data


_paused = threading.Lock()
_parsing = 0  # parses in progress, in every thread
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while any thread parses, then as it was."""
    global _parsing, _was_enabled
    with _paused:
        if _parsing == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _parsing += 1
    try:
        yield
    finally:
        with _paused:
            _parsing -= 1
            if _parsing == 0 and _was_enabled:
                gc.enable()


def parse_decision_request(body: bytes) -> DecisionRequest:
    """The request in ``body``; RequestInvalid naming every field that is wrong."""
    data = load_object(body)
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
    problems: list[Problem] = []
    _check_subject(data, "", problems)
    _check_explain(data, problems)
    _unknown(data, FIELDS, "", problems)
    raise _invalid(problems)


def parse_batch_request(body: bytes, *, max_batch: int) -> BatchRequest:
    """The batch in ``body``; RequestInvalid naming every field that is wrong, a subject's
    as ``subjects[i].field``. More than ``max_batch`` subjects are refused before any is
    looked at."""
    data = load_object(body)
    subjects = data.get("subjects")
    explain = data.get("explain", False)
    if (
        type(subjects) is list
        and len(subjects) <= max_batch
        and type(explain) is bool
        and all(key in BATCH_FIELDS for key in data)
    ):
        items = [_well_formed(item, explain) for item in subjects]
        if None not in items:
            return BatchRequest(tuple(items), explain)  # type: ignore[arg-type]
    problems: list[Problem] = []
    if subjects is None:
        problems.append(Problem("subjects", "is required: a list of {subject_id, features}"))
    elif type(subjects) is not list:
        problems.append(Problem("subjects", f"must be an array, not a {_kind(subjects)}"))
    elif len(subjects) > max_batch:
        problems.append(
            Problem("subjects", f"has {len(subjects):,} items, more than {max_batch:,}")
        )
    else:
        listed = [0]  # unknown fields listed so far, over every subject
        for i, item in enumerate(subjects):
            where = f"subjects[{i}]"
            if type(item) is not dict:
                problems.append(
                    Problem(
                        where, f"must be an object {{subject_id, features}}, not a {_kind(item)}"
                    )
                )
                continue
            _check_subject(item, where + ".", problems)
            _unknown(item, ITEM_FIELDS, where + ".", problems, listed)
    _check_explain(data, problems)
    _unknown(data, BATCH_FIELDS, "", problems)
    raise _invalid(problems)


def _well_formed(item: object, explain: bool) -> DecisionRequest | None:
    if type(item) is not dict or len(item) != 2:
        return None
    subject_id = item.get("subject_id")
    features = item.get("features")
    if type(subject_id) is str and 0 < len(subject_id) <= MAX_SUBJECT_ID and type(features) is dict:
        return DecisionRequest(subject_id, features, explain)
    return None


def _check_subject(data: dict[str, Any], prefix: str, problems: list[Problem]) -> None:
    subject_id = data.get("subject_id")
    features = data.get("features")
    if subject_id is None:
        problems.append(Problem(prefix + "subject_id", "is required: the subject's key"))
    elif not isinstance(subject_id, str):
        problems.append(
            Problem(prefix + "subject_id", f"must be a string, not a {_kind(subject_id)}")
        )
    elif not 0 < len(subject_id) <= MAX_SUBJECT_ID:
        problems.append(
            Problem(
                prefix + "subject_id",
                f"must have 1 to {MAX_SUBJECT_ID} characters, not {len(subject_id):,}",
            )
        )
    if features is None:
        problems.append(
            Problem(prefix + "features", "is required: an object of feature name → value")
        )
    elif not isinstance(features, dict):
        problems.append(Problem(prefix + "features", f"must be an object, not a {_kind(features)}"))


def _check_explain(data: dict[str, Any], problems: list[Problem]) -> None:
    explain = data.get("explain", False)
    if type(explain) is not bool:
        problems.append(Problem("explain", f"must be true or false, not a {_kind(explain)}"))


def _unknown(
    data: dict[str, Any],
    fields: tuple[str, ...],
    prefix: str,
    problems: list[Problem],
    listed: list[int] | None = None,
) -> None:
    """Name the fields of ``data`` not in ``fields``: the first ``MAX_UNKNOWN_LISTED`` (counted
    in ``listed`` across calls, when given), then how many more."""
    unknown = len(data) - sum(1 for f in fields if f in data)
    if not unknown:
        return
    seen = listed if listed is not None else [0]
    named = 0
    for key in data:
        if seen[0] >= MAX_UNKNOWN_LISTED:
            break
        if key not in fields:
            problems.append(
                Problem(
                    prefix + shown_name(key),
                    f"is not a field of this request (fields: {', '.join(fields)})",
                )
            )
            named += 1
            seen[0] += 1
    if unknown > named:
        more = "more " if named else ""
        problems.append(
            Problem(
                prefix + "(fields)",
                f"{'and ' if named else ''}{unknown - named:,} {more}fields that are not fields "
                f"of this request (not listed; fields: {', '.join(fields)})",
            )
        )


def _invalid(problems: list[Problem]) -> RequestInvalid:
    return RequestInvalid(
        f"The request body has {len(problems)} problem(s).", problems=problems, hint=_HINT
    )


def _reason(error: orjson.JSONDecodeError) -> str:
    """orjson's reason, in the words a client needs (it never quotes the body)."""
    text = str(error)
    if text.startswith("depth limit exceeded"):
        return f"it nests arrays and objects deeper than 1,024 levels ({text})"
    if text.startswith("number is infinity"):
        return f"it holds a number too large for a double ({text})"
    if "UTF-8" in text or "surrogate" in text:
        return f"it is not UTF-8 text with whole characters ({text})"
    return text[:200]


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
