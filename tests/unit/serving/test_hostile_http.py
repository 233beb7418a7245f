"""The findings of the penetration-style trial, as requests to the app in process (FastAPI's
TestClient over the real service, store, registry and decision log): each one a request that
once stalled the server, answered 500, answered differently on the two decision endpoints, or
that the OpenAPI document described wrongly."""

from __future__ import annotations

import dataclasses
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from riskops.context import open_context
from riskops.serving.app import create_app
from riskops.serving.auth import create_key
from riskops.serving.routing import Route, RoutingTable
from riskops.serving.service import ScoringService, ServerSettings
from riskops.spec import ModelSpec
from riskops.training.pipeline import train
from riskops.workspace import init_workspace
from tests.conftest import PEOPLE, SPEC, approve_and_deploy
from tests.unit.conftest import German
from tests.unit.serving.test_app import served  # noqa: F401  (the fixture)
from tests.unit.serving.test_envelope import NOT_JSON

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

MODEL = "credit-scoring"
SINGLE = f"/v1/models/{MODEL}/decisions"
BATCH = SINGLE + ":batch"
JSON = {"content-type": "application/json"}
PROBLEM = "application/problem+json"

Served = tuple[Any, ScoringService, str]


def hostile_body() -> bytes:
    """The trial's body: about 35,000 names that look like a feature, 1 MB."""
    features = {f"duration_in_mont{i:06d}": 1 for i in range(35_000)}
    return orjson.dumps({"subject_id": "s", "features": features})


def test_a_megabyte_of_unknown_names_is_a_small_quick_422_from_both_endpoints(
    served: Served,  # noqa: F811
) -> None:
    client, _, _ = served
    body = hostile_body()
    assert len(body) > 900_000
    batch = orjson.dumps({"subjects": [orjson.loads(body)]})
    for url, content in ((SINGLE, body), (BATCH, batch)):
        started = time.perf_counter()
        answer = client.post(url, content=content, headers=JSON)
        took = time.perf_counter() - started
        assert answer.status_code == 422, answer.text[:300]
        assert answer.headers["content-type"].startswith(PROBLEM)
        assert len(answer.content) < 10_000  # was 4 MB
        assert took < 1.0, f"{url} took {took:.2f} s (was 2.7 s of CPU)"
        (counted,) = [p for p in answer.json()["problems"] if p["field"].endswith("(features)")]
        assert "34,980 more names" in counted["message"]


def test_a_body_that_is_not_json_is_the_same_422_from_both_endpoints(
    served: Served,  # noqa: F811
) -> None:
    client, _, _ = served
    for what, body in NOT_JSON.items():
        single = client.post(SINGLE, content=body, headers=JSON)
        batch = client.post(BATCH, content=body, headers=JSON)
        for answer in (single, batch):
            assert answer.status_code == 422, (what, answer.status_code, answer.text[:300])
            assert answer.headers["content-type"].startswith(PROBLEM)
            assert [p["field"] for p in answer.json()["problems"]] == ["(body)"], what
        assert single.json() == batch.json(), what


def test_the_batch_endpoint_checks_the_key_first_and_explain_strictly(
    served: Served,  # noqa: F811
    german: German,
) -> None:
    client, _, _ = served
    for url in (SINGLE, BATCH):
        for body in (b"{not json", NOT_JSON["1,100-deep nesting"], b"[]"):
            no_key = client.post(url, content=body, headers={**JSON, "Authorization": ""})
            assert no_key.status_code == 401, (url, no_key.text)
            assert no_key.headers["www-authenticate"] == "Bearer"
    # The trial's lone surrogate, as Python's json module would have let it through: a 422.
    surrogate = b'{"subjects":[{"subject_id":"a","features":{"\\ud83d":1}}]}'
    answer = client.post(BATCH, content=surrogate, headers=JSON)
    assert answer.status_code == 422
    assert answer.json()["problems"][0]["field"] == "(body)"
    good = {"subject_id": "a", "features": german.requests[0]}
    for explain in (0, 1, "yes", None):
        refused = client.post(BATCH, json={"subjects": [good], "explain": explain})
        assert refused.status_code == 422, explain
        assert [p["field"] for p in refused.json()["problems"]] == ["explain"]
        single = client.post(SINGLE, json={**good, "explain": explain})
        assert single.status_code == 422
    decided = client.post(BATCH, json={"subjects": [good, good], "explain": True})
    assert decided.status_code == 200
    assert [d["reasons"] != [] for d in decided.json()["decisions"]] == [True, True]


def test_a_decision_id_that_is_not_a_uuid_never_reaches_the_store(
    served: Served,  # noqa: F811
    german: German,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, service, _ = served
    made = client.post(SINGLE, json={"subject_id": "s", "features": german.requests[0]})
    decision_id = made.json()["decision_id"]
    asked: list[str] = []
    read, pending = service.decisions.read, service.decisions.pending

    def spy_read(wanted: str, reader: Any) -> dict[str, Any] | None:
        asked.append(wanted)
        return read(wanted, reader)

    def spy_pending(wanted: str, reader: Any) -> dict[str, Any] | None:
        asked.append(wanted)
        return pending(wanted, reader)

    monkeypatch.setattr(service.decisions, "read", spy_read)
    monkeypatch.setattr(service.decisions, "pending", spy_pending)
    for bad in ("%00", "nope", "1'%20OR%20'1'='1", "x" * 5_000, decision_id + "0", "%ED%A0%BD"):
        answer = client.get(f"/v1/decisions/{bad}")
        assert answer.status_code == 404, (bad, answer.text[:200])
        assert answer.headers["content-type"].startswith(PROBLEM)
        assert "a decision id is a UUID" in answer.json()["detail"]
    assert asked == []
    assert client.get(f"/v1/decisions/{uuid.uuid4()}").status_code == 404
    found = client.get(f"/v1/decisions/{decision_id.upper()}")
    assert found.status_code == 200
    assert found.json()["decision_id"] == decision_id
    assert asked  # only well-formed ids reached the log
    assert all(str(uuid.UUID(wanted)) == wanted for wanted in asked)


def test_every_405_names_the_methods_in_allow(served: Served) -> None:  # noqa: F811
    client, _, _ = served
    for method, url, allowed in (
        ("GET", SINGLE, "POST"),
        ("PUT", BATCH, "POST"),
        ("DELETE", "/v1/models/anything/decisions:batch", "POST"),
        ("POST", f"/v1/decisions/{uuid.uuid4()}", "GET"),
        ("DELETE", "/healthz", "GET"),
        ("PATCH", "/readyz", "GET"),
        ("POST", "/metrics", "GET"),
    ):
        answer = client.request(method, url)
        assert answer.status_code == 405, (method, url, answer.status_code)
        assert answer.headers["allow"] == allowed, (method, url)
        assert answer.headers["content-type"].startswith(PROBLEM)


def _error_media_types(doc: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {
        (method, path, status, media)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400
        for media in response.get("content", {})
    }


def test_the_openapi_document_has_each_model_s_schema_and_errors_as_sent(
    served: Served,  # noqa: F811
    german: German,
) -> None:
    client, service, _ = served
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    request = schemas["CreditScoringDecisionRequest"]
    assert request["required"] == ["subject_id", "features"]
    assert request["additionalProperties"] is False
    assert request["properties"]["explain"]["type"] == "boolean"
    assert request["properties"]["features"] == {
        "$ref": "#/components/schemas/CreditScoringFeatures"
    }
    features = schemas["CreditScoringFeatures"]
    assert features["additionalProperties"] is False
    assert set(features["required"]) == set(german.spec.feature_names)
    duration = features["properties"]["duration_in_month"]
    assert (duration["type"], duration["minimum"], duration["maximum"]) == ("number", 1, 120)
    purpose = features["properties"]["purpose"]
    assert purpose["enum"][0] == "car (new)"
    batch = schemas["CreditScoringBatchRequest"]["properties"]["subjects"]
    assert batch["maxItems"] == service.settings.max_batch
    assert schemas["BatchRequest"]["properties"]["explain"]["type"] == "boolean"
    own = doc["paths"][SINGLE]["post"]
    assert own["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreditScoringDecisionRequest"
    }
    assert "parameters" not in own
    assert BATCH in doc["paths"]
    # Every error as it is sent: problem+json, except /readyz's 503 (the readiness JSON).
    media = _error_media_types(doc)
    assert {m for *_, m in media} == {PROBLEM, "application/json"}
    assert [x for x in media if x[3] == "application/json"] == [
        ("get", "/readyz", "503", "application/json")
    ]
    for path in (SINGLE, BATCH, "/v1/models/{name}/decisions"):
        assert set(doc["paths"][path]["post"]["responses"]) == {
            "200",
            "401",
            "403",
            "404",
            "413",
            "422",
            "500",
            "503",
        }
    read = doc["paths"]["/v1/decisions/{decision_id}"]["get"]["responses"]
    assert set(read) == {"200", "401", "403", "404", "500", "503"}
    assert read["401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert "text/plain" in doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert "HTTPValidationError" not in schemas
    assert doc["components"]["responses"]["MethodNotAllowed"]["headers"]["Allow"]


def _other_spec(spec: ModelSpec) -> ModelSpec:
    raw = spec.model_dump()
    raw["features"] = [
        {**f, "allow_missing": True} if f["name"] == "purpose" else f for f in raw["features"]
    ]
    return ModelSpec.model_validate(raw)


def test_the_openapi_document_follows_the_routing_table(served: Served) -> None:  # noqa: F811
    client, service, _ = served
    table = service.table
    champion = table.routes[MODEL].champion
    assert SINGLE in client.get("/openapi.json").json()["paths"]

    # Nothing deployed: only the templated paths remain.
    service.table = RoutingTable(routes={}, plan=())
    doc = client.get("/openapi.json").json()
    assert SINGLE not in doc["paths"]
    assert "CreditScoringFeatures" not in doc["components"]["schemas"]
    assert "/v1/models/{name}/decisions" in doc["paths"]

    # A canary whose spec lets `purpose` be missing: either spec may check a subject.
    canary_plan = dataclasses.replace(champion.plan, version=2, lane="canary", share=0.5)
    canary = dataclasses.replace(champion, plan=canary_plan, spec=_other_spec(champion.spec))
    service.table = RoutingTable(
        routes={MODEL: Route(champion, canary=canary)}, plan=(champion.plan, canary_plan)
    )
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert set(schemas) >= {"CreditScoringFeaturesV1", "CreditScoringFeaturesV2"}
    assert "purpose" in schemas["CreditScoringFeaturesV1"]["required"]
    assert "purpose" not in schemas["CreditScoringFeaturesV2"]["required"]
    assert schemas["CreditScoringFeaturesV2"]["properties"]["purpose"]["anyOf"][1] == {
        "type": "null"
    }
    features = schemas["CreditScoringDecisionRequest"]["properties"]["features"]
    assert [ref["$ref"].rsplit("/", 1)[1] for ref in features["anyOf"]] == [
        "CreditScoringFeaturesV1",
        "CreditScoringFeaturesV2",
    ]

    service.table = table
    assert "CreditScoringFeatures" in client.get("/openapi.json").json()["components"]["schemas"]


@pytest.mark.integration
def test_a_nul_byte_in_a_decision_id_is_a_404_on_postgresql(
    tmp_path: Path,
    clean_env: pytest.MonkeyPatch,
    pg_schema_url: str,
    german: German,
) -> None:
    from fastapi.testclient import TestClient

    clean_env.setenv("RISKOPS_DATABASE_URL", pg_schema_url)
    ctx = open_context(init_workspace(tmp_path / "ws", people=PEOPLE))
    try:
        approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
        key = create_key(
            ctx, "support", client="acme", scopes=["read_decisions"], actor="oscar"
        ).token
        app = create_app(ServerSettings(workspace=ctx.settings, refresh_seconds=3600))
        with TestClient(app, raise_server_exceptions=False) as client:
            service: ScoringService = app.state.service  # opened by the app's lifespan
            deadline = time.monotonic() + 60
            while client.get("/readyz").status_code != 200:  # keys and models are in
                assert time.monotonic() < deadline, client.get("/readyz").json()
                time.sleep(0.05)
            client.headers["Authorization"] = f"Bearer {key}"
            # PostgreSQL itself refuses a NUL byte in text: the id must not get that far.
            caller = service.keys.authorise(key, scope="read_decisions")
            with pytest.raises(Exception, match="NUL"):
                service.get_decision("\x00", caller)
            for bad in ("%00", "a%00b", f"{uuid.uuid4()}%00"):
                answer = client.get(f"/v1/decisions/{bad}")
                assert answer.status_code == 404, (bad, answer.text[:300])
                assert answer.headers["content-type"].startswith(PROBLEM)
            assert client.get(f"/v1/decisions/{uuid.uuid4()}").status_code == 404
    finally:
        ctx.close()
