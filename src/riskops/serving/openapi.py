"""The OpenAPI document of the scoring API, made to say what the server does.

FastAPI generates a first draft from the routes (the decision endpoints' documentation-only
routes included, see :mod:`riskops.serving.app`); :func:`honest` then corrects it:

- **A named request schema per deployed model**, generated from the spec of each version that
  answers it (champion and canary): feature types (a numeric feature is a JSON number, a
  ``double``, within its ``min``/``max``; a categorical one a string from its ``categories``, as
  an ``enum`` unless the server scores an unknown category as missing), required unless the spec
  allows it to be missing (then it may also be ``null``), no other name. For ``credit-scoring``:
  ``CreditScoringFeatures``, ``CreditScoringDecisionRequest`` and
  ``CreditScoringBatchRequest``, referenced by explicit paths
  ``/v1/models/credit-scoring/decisions`` and ``…/decisions:batch``. Where a canary's spec
  differs from its champion's, the features are ``anyOf`` the two, each named with its version
  (``CreditScoringFeaturesV2``). The templated paths ``/v1/models/{name}/decisions`` stay, for a
  model deployed after the document was read. OpenAPI matches a concrete path before a
  templated one, so a client generator picks the model's own schema.
- **Regenerated when the routing table changes**: the document is cached per routing-table plan
  (model, version, digest, lane of every deployed version), so a deployment, a canary or a
  rollback shows in ``/openapi.json`` as soon as the server serves it.
- **Errors as sent**: every error status an operation can answer is documented with
  ``application/problem+json`` content (the ``Problem`` schema); FastAPI's generated 422
  (``HTTPValidationError``, which this API never sends) is dropped; a 401 documents its
  ``WWW-Authenticate`` header. ``/readyz`` documents its 503 as the readiness JSON it is, and
  ``/metrics`` its Prometheus text. A 405 (any method a path does not list) carries ``Allow``:
  it is described in ``components/responses/MethodNotAllowed``.
- ``explain`` is a boolean everywhere, as both endpoints enforce it.

Example::

    install(app, service, routes=[decision_route, batch_route])
    app.openapi()["components"]["schemas"]["CreditScoringDecisionRequest"]
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from riskops.scoring.features import UnknownCategory
from riskops.serving.envelope import MAX_SUBJECT_ID
from riskops.serving.http_errors import PROBLEM_JSON
from riskops.serving.routing import RoutingTable
from riskops.spec import Feature, ModelSpec

__all__ = ["error_responses", "features_schema", "honest", "install", "schema_name"]

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

ERROR_TEXT: dict[int, str] = {
    401: "No valid API key (none, malformed, unknown or revoked).",
    403: "The key lacks the scope this endpoint needs.",
    404: "No such model serving here, no such decision, or no such path.",
    405: "The path does not take this method; `Allow` lists the ones it takes.",
    413: "The body is over the server's limit (--max-body-bytes).",
    422: "The request is invalid; `problems` names each field (`(body)` for a body that is "
    "not a JSON object).",
    500: "An unexpected error; logged on the server, never a traceback.",
    503: "A backend (the store, the decision log) does not answer in time, or the server is at "
    "a limit it keeps (decision reads); `Retry-After` says when to ask again.",
}

PROBLEM_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "title": "Problem",
        "type": "object",
        "description": "An error, as RFC 9457 problem details with riskops' `hint` and `problems`.",
        "required": ["type", "title", "status", "code", "detail", "hint", "problems"],
        "properties": {
            "type": {"type": "string", "description": "A URI naming the kind of problem."},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "code": {
                "type": "string",
                "description": "The error's stable machine-readable code (`not_found`, "
                "`request_invalid`, `busy`, …): match on it, not on the text.",
            },
            "detail": {"type": "string"},
            "hint": {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "description": "What to do next.",
            },
            "problems": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/ProblemField"},
                "description": "Each bad field; past 100, one `(more)` entry counts the rest.",
            },
        },
        "additionalProperties": False,
    },
    "ProblemField": {
        "title": "ProblemField",
        "type": "object",
        "required": ["field", "message", "code"],
        "properties": {
            "code": {
                "type": "string",
                "description": "What is wrong with the field: `missing`, `out_of_range`, "
                "`wrong_type`, `unknown_category`, `unknown_field`, `invalid`, …",
            },
            "field": {
                "type": "string",
                "description": "Where: `subject_id`, `features`, a feature's name, "
                "`subjects[3].features`, or `(body)`.",
            },
            "message": {"type": "string"},
        },
        "additionalProperties": False,
    },
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses=`` for ``statuses``, each as the problem+json it is sent as."""
    return {status: _error_response(status) for status in statuses}


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": ERROR_TEXT.get(status, "An error."),
        "content": {PROBLEM_JSON: {"schema": dict(_PROBLEM_REF)}},
    }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {
                "description": "`Bearer`: send the key as `Authorization: Bearer rk_…` or "
                "`X-API-Key: rk_…`.",
                "required": True,
                "schema": {"type": "string"},
            }
        }
    if status == 405:
        response["headers"] = {
            "Allow": {
                "description": "The methods this path takes.",
                "required": True,
                "schema": {"type": "string"},
            }
        }
    return response


def schema_name(model: str) -> str:
    """``credit-scoring`` → ``CreditScoring``: the prefix of a model's schema names."""
    return "".join(
        part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", model) if part
    )


def features_schema(spec: ModelSpec, unknown_category: UnknownCategory) -> dict[str, Any]:
    """The JSON schema of ``spec``'s features, as :class:`riskops.scoring.features.
    FeatureEncoder` checks them."""
    history = spec.history
    computed = {f.name for f in history.features} if history else set()
    sent = [f for f in spec.features if f.name not in computed]
    properties = {f.name: _feature_schema(f, unknown_category) for f in sent}
    required = [f.name for f in sent if not f.allow_missing]
    description = (
        f"The features of {spec.name}, by name, as its spec lists them: every one not marked "
        "nullable is required; no other name is accepted."
    )
    if history is not None:
        # The transaction: the server looks its history up and computes the history features.
        key = {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 200}, {"type": "integer"}]}
        fields: dict[str, dict[str, Any]] = {
            history.event_id: {**key, "description": "The transaction's id."},
            history.time_column: {
                "type": "string",
                "description": "The transaction's time, ISO 8601 (UTC when it has no zone).",
                "examples": ["2018-04-01 00:00:31"],
            },
            **{
                column: {**key, "description": f"The {entity}'s key."}
                for entity, column in history.entities.items()
            },
        }
        if history.amount_column not in properties:
            fields[history.amount_column] = {"type": "number", "description": "The amount."}
        properties.update(fields)
        required += list(fields)
        description += (
            " The history features (" + ", ".join(sorted(computed)) + ") are computed by the "
            "server from the transaction's history and must not be sent."
        )
    return {
        "title": f"{spec.name} features",
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _feature_schema(feature: Feature, unknown_category: UnknownCategory) -> dict[str, Any]:
    schema: dict[str, Any]
    if feature.type == "numeric":
        schema = {"type": "number", "format": "double"}
        if feature.min is not None:
            schema["minimum"] = feature.min
        if feature.max is not None:
            schema["maximum"] = feature.max
    elif feature.category_kind != "text":
        # Integer/boolean codes: the JSON value itself (the server also takes their text).
        json_type = "integer" if feature.category_kind == "integer" else "boolean"
        schema = {"type": json_type, "enum": list(feature.category_codes)}
        if unknown_category != "reject":
            schema = {
                "type": json_type,
                "examples": list(feature.category_codes),
                "description": "One of the codes listed in `examples`; this server scores "
                "any other code as a missing value.",
            }
    elif unknown_category == "reject":
        schema = {"type": "string", "enum": list(feature.categories or ())}
    else:
        schema = {
            "type": "string",
            "examples": list(feature.categories or ()),
            "description": "One of the categories listed in `examples`; this server scores "
            "any other string as a missing value.",
        }
    reason = f"Reason text when it drives an adverse decision: {feature.reason}"
    if feature.allow_missing:
        return {
            "anyOf": [schema, {"type": "null"}],
            "description": f"{reason}. May be null or left out (scored as missing).",
        }
    return {**schema, "description": (schema.get("description", "") + " " + reason).strip()}


def _model_schemas(
    table: RoutingTable, unknown_category: UnknownCategory, max_batch: int
) -> tuple[dict[str, Any], dict[str, str]]:
    """Components for every model in ``table`` and, per model, its schema-name prefix."""
    schemas: dict[str, Any] = {}
    prefixes: dict[str, str] = {}
    for model in sorted(table.routes):
        route = table.routes[model]
        prefix = schema_name(model) or "Model"
        while prefix in prefixes.values():  # two names that read the same in PascalCase
            prefix += "_"
        prefixes[model] = prefix
        answering = [route.champion, *((route.canary,) if route.canary else ())]
        distinct: dict[str, tuple[int, dict[str, Any]]] = {}
        for lane in answering:
            schema = features_schema(lane.spec, unknown_category)
            distinct.setdefault(repr(schema), (lane.plan.version, schema))
        features_ref: dict[str, Any]
        if len(distinct) == 1:
            ((_, schema),) = distinct.values()
            schemas[f"{prefix}Features"] = schema
            features_ref = {"$ref": f"#/components/schemas/{prefix}Features"}
        else:
            refs = []
            for version, schema in distinct.values():
                schemas[f"{prefix}FeaturesV{version}"] = schema
                refs.append({"$ref": f"#/components/schemas/{prefix}FeaturesV{version}"})
            features_ref = {
                "anyOf": refs,
                "description": "The champion's and the canary's specs differ: which one "
                "checks a subject's features depends on the subject (its sticky bucket).",
            }
        schemas[f"{prefix}DecisionRequest"] = {
            "title": f"{model} decision request",
            "type": "object",
            "required": ["subject_id", "features"],
            "properties": {
                "subject_id": _subject_id(),
                "features": features_ref,
                "explain": _explain(),
            },
            "additionalProperties": False,
        }
        schemas[f"{prefix}BatchRequest"] = {
            "title": f"{model} batch request",
            "type": "object",
            "required": ["subjects"],
            "properties": {
                "subjects": {
                    "type": "array",
                    "maxItems": max_batch,
                    "items": {
                        "type": "object",
                        "required": ["subject_id", "features"],
                        "properties": {"subject_id": _subject_id(), "features": features_ref},
                        "additionalProperties": False,
                    },
                    "description": "The subjects, each decided independently, in order.",
                },
                "explain": _explain(),
            },
            "additionalProperties": False,
        }
    return schemas, prefixes


def _subject_id() -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_SUBJECT_ID,
        "description": "The caller's key for the subject; never stored as sent.",
    }


def _explain() -> dict[str, Any]:
    return {
        "type": "boolean",
        "default": False,
        "description": 'Give reasons even for an approval. A JSON boolean: 0, 1, "yes" or '
        "null are refused.",
    }


def honest(
    doc: dict[str, Any],
    *,
    table: RoutingTable,
    unknown_category: UnknownCategory,
    max_batch: int,
) -> dict[str, Any]:
    """``doc`` (FastAPI's draft) corrected as the module says; a new dict."""
    doc = copy.deepcopy(doc)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(copy.deepcopy(PROBLEM_SCHEMAS))
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    components["responses"] = {"MethodNotAllowed": _error_response(405)}
    for generic in ("DecisionRequest", "BatchRequest"):
        explain = schemas.get(generic, {}).get("properties", {}).get("explain")
        if explain is not None:
            explain.clear()
            explain.update(_explain())
    subjects = schemas.get("BatchRequest", {}).get("properties", {}).get("subjects")
    if subjects is not None:
        subjects["maxItems"] = max_batch

    paths: dict[str, Any] = doc.get("paths", {})
    for path, item in paths.items():
        for method, operation in item.items():
            _errors_as_sent(path, method, operation)

    model_schemas, prefixes = _model_schemas(table, unknown_category, max_batch)
    schemas.update(model_schemas)
    for suffix, kind in (("/decisions", "DecisionRequest"), ("/decisions:batch", "BatchRequest")):
        generic = paths.get("/v1/models/{name}" + suffix, {}).get("post")
        if generic is None:
            continue
        for model, prefix in prefixes.items():
            operation = copy.deepcopy(generic)
            operation["parameters"] = [
                p for p in operation.get("parameters", []) if p.get("name") != "name"
            ]
            if not operation["parameters"]:
                del operation["parameters"]
            operation["operationId"] = f"{generic.get('operationId', kind)}_{prefix}"
            operation["summary"] = f"{generic.get('summary', kind)} ({model})"
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{prefix}{kind}"}}
                },
            }
            paths[f"/v1/models/{model}{suffix}"] = {"post": operation}
    _describe(doc, sorted(prefixes.values()))
    return doc


def _errors_as_sent(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in list(responses):
        code = int(status) if status.isdigit() else 0
        if code < 400:
            continue
        content = responses[status].get("content", {})
        if any("HTTPValidationError" in str(c.get("schema", "")) for c in content.values()):
            del responses[status]  # FastAPI's own 422, which this API never sends
    responses.setdefault("500", _error_response(500))
    if path == "/readyz":
        ok = responses.get("200", {}).get("content")
        responses["503"] = {
            "description": "Not ready: some deployed version is not loaded; `refused` says "
            "which and why.",
            "content": copy.deepcopy(ok) if ok else {"application/json": {"schema": {}}},
        }
    elif path == "/metrics":
        responses["200"] = {
            "description": "Prometheus metrics of this process, in the text format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    for status in list(responses):
        code = int(status) if status.isdigit() else 0
        if code >= 400 and not (path == "/readyz" and code == 503):
            described = responses[status].get("description")
            responses[status] = _error_response(code)
            if described and code not in ERROR_TEXT:
                responses[status]["description"] = described


def _describe(doc: dict[str, Any], prefixes: Sequence[str]) -> None:
    info = doc.setdefault("info", {})
    models = ", ".join(f"`{p}DecisionRequest`" for p in prefixes) or "none yet"
    info["description"] = (
        info.get("description", "")
        + "\n\nEach deployed model has its own paths and request schema, generated from its "
        f"spec ({models}); this document follows the deployments. Every error is "
        "`application/problem+json` (`Problem`); a method a path does not take is a 405 with "
        "`Allow`."
    ).strip()


def install(
    app: FastAPI,
    table: Callable[[], RoutingTable],
    *,
    routes: Sequence[APIRoute],
    unknown_category: UnknownCategory,
    max_batch: int,
) -> None:
    """Make ``app.openapi()`` the honest document of ``app.routes`` plus ``routes`` (routes
    answered outside FastAPI's router), regenerated whenever ``table()`` changes plan."""
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        current = table()
        if cache.get("plan") != current.plan or "doc" not in cache:
            draft = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=[*routes, *app.routes],
            )
            cache["doc"] = honest(
                draft, table=current, unknown_category=unknown_category, max_batch=max_batch
            )
            cache["plan"] = current.plan
        app.openapi_schema = cache["doc"]
        doc: dict[str, Any] = cache["doc"]
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
