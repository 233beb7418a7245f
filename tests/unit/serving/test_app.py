"""The scoring app in process (FastAPI's TestClient over the real service, store, registry and
decision log): what a real uvicorn process adds is covered in tests/integration."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import lightgbm as lgb
import pytest

from riskops.context import Context
from riskops.scoring.scorer import Scorer
from riskops.serving.app import create_app
from riskops.serving.auth import create_key
from riskops.serving.routing import Route, RoutingTable
from riskops.serving.service import ScoringService, ServerSettings
from riskops.training.pipeline import train
from tests.conftest import SPEC, approve_and_deploy
from tests.unit.conftest import German

# Starlette deprecates its httpx-based TestClient in favour of a package this project does not
# install; the client still works as documented.
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

URL = "/v1/models/credit-scoring/decisions"


class BrokenBooster(lgb.Booster):
    """A real booster whose predict fails, as a corrupt model or a library bug would."""

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        raise lgb.basic.LightGBMError("Unknown model format or submodel type in model file")


@pytest.fixture
def served(ctx: Context) -> Iterator[tuple[Any, ScoringService, str]]:
    from fastapi.testclient import TestClient

    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    key = create_key(ctx, "portal", scopes=["score", "read_decisions"], actor="oscar").token
    settings = ServerSettings(workspace=ctx.settings, refresh_seconds=3600)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        service: ScoringService = app.state.service  # opened by the app's lifespan
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").json()
            time.sleep(0.05)
        client.headers["Authorization"] = f"Bearer {key}"
        yield client, service, key


def test_not_ready_until_loaded_and_then_decides(
    ctx: Context, served: tuple[Any, ScoringService, str], german: German
) -> None:
    client, _service, _ = served
    ready = client.get("/readyz").json()
    assert ready["ready"] is True
    assert ready["refused"] == []
    answer = client.post(URL, json={"subject_id": "s1", "features": german.requests[0]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["version"] == 1
    assert body["fallback"] is False
    stored = client.get(f"/v1/decisions/{body['decision_id']}").json()
    assert stored["score"] == body["score"]
    assert stored["served"] is True
    schema = client.get("/openapi.json").json()
    assert "/v1/models/{name}/decisions:batch" in schema["paths"]
    documented = schema["paths"]["/v1/models/{name}/decisions"]["post"]
    assert documented["requestBody"]
    assert "422" in documented["responses"]
    assert "/v1/decisions/{decision_id}" in schema["paths"]


def test_a_model_that_fails_gives_the_fallback_not_an_error(
    served: tuple[Any, ScoringService, str], german: German
) -> None:
    client, service, _ = served
    table = service.table
    route = table.routes["credit-scoring"]
    champion = route.champion
    assert champion.scorer is not None
    broken = BrokenBooster(model_str=champion.scorer.model.model_to_string())
    scorer = Scorer(champion.spec, broken, version=1, digest=champion.plan.digest)
    service.table = RoutingTable(
        routes={"credit-scoring": Route(dataclasses.replace(champion, scorer=scorer))},
        plan=table.plan,
    )
    answer = client.post(URL, json={"subject_id": "s1", "features": german.requests[0]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["fallback"] is True
    assert body["decision"] == "refer"
    assert [r["code"] for r in body["reasons"]] == ["model_unavailable"]
    batch = client.post(
        URL + ":batch",
        json={"subjects": [{"subject_id": "a", "features": f} for f in german.requests[:3]]},
    )
    assert [d["fallback"] for d in batch.json()["decisions"]] == [True, True, True]
    metrics = client.get("/metrics").text
    assert 'riskops_fallback_total{model="credit-scoring",version="1"} 4.0' in metrics
    stored = client.get(f"/v1/decisions/{body['decision_id']}").json()
    assert stored["fallback"] is True


def test_an_unexpected_error_is_a_500_problem_without_traceback(
    served: tuple[Any, ScoringService, str], german: German
) -> None:
    client, service, _ = served
    service.table = RoutingTable(routes={"credit-scoring": "corrupt"}, plan=())  # type: ignore[dict-item]
    answer = client.post(URL, json={"subject_id": "s1", "features": german.requests[0]})
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["title"] == "Internal error"
    assert "Traceback" not in answer.text
    assert "AttributeError" not in answer.text


def test_the_fast_path_refuses_like_the_rest_of_the_api(
    served: tuple[Any, ScoringService, str], german: German
) -> None:
    client, service, key = served
    body = {"subject_id": "s1", "features": german.requests[0]}
    unknown = client.post("/v1/models/no-such-model/decisions", json=body)
    assert unknown.status_code == 404
    assert "No model named 'no-such-model'" in unknown.json()["detail"]
    no_key = client.post(URL, json=body, headers={"Authorization": ""})
    assert no_key.status_code == 401
    assert no_key.headers["www-authenticate"] == "Bearer"
    by_header = client.post(URL, json=body, headers={"Authorization": "", "X-API-Key": key})
    assert by_header.status_code == 200
    envelope = client.post(URL, json={"subject_id": "", "features": [], "explain": "yes"})
    assert envelope.status_code == 422
    assert {p["field"] for p in envelope.json()["problems"]} == {
        "subject_id",
        "features",
        "explain",
    }
    not_json = client.post(URL, content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 422
    assert not_json.json()["problems"][0]["field"] == "(body)"
    limit = service.settings.max_body_bytes
    declared = client.post(URL, content=b"x" * (limit + 1))
    assert declared.status_code == 413
    assert declared.headers["connection"] == "close"

    def streamed() -> Iterator[bytes]:
        for _ in range(limit // 4096 + 2):
            yield b" " * 4096

    streaming = client.post(URL, content=streamed())
    assert streaming.status_code == 413
    wrong_method = client.get(URL)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert wrong_method.headers["content-type"].startswith("application/problem+json")
    for answer in (unknown, no_key, envelope, not_json, declared, streaming):
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "Traceback" not in answer.text


def test_a_shadow_is_scored_after_the_answer_by_the_fast_path(
    served: tuple[Any, ScoringService, str], german: German
) -> None:
    client, service, _ = served
    table = service.table
    champion = table.routes["credit-scoring"].champion
    shadow = dataclasses.replace(champion, plan=dataclasses.replace(champion.plan, lane="shadow"))
    service.table = RoutingTable(
        routes={"credit-scoring": Route(champion, shadows=(shadow,))}, plan=table.plan
    )
    answer = client.post(URL, json={"subject_id": "shadowed", "features": german.requests[3]})
    assert answer.status_code == 200
    deadline = time.monotonic() + 20
    metrics = ""
    while 'route="shadow"' not in metrics:
        assert time.monotonic() < deadline, "the shadow was not scored"
        time.sleep(0.05)
        metrics = client.get("/metrics").text
    served_line = [
        line for line in metrics.splitlines() if line.startswith("riskops_decisions_total{")
    ]
    assert any('route="shadow"' in line for line in served_line)


def test_building_the_app_does_no_io_its_lifespan_opens_and_closes_the_service(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from riskops.serving.app import app_from_env

    wal = ctx.settings.home / "wal-of-this-test"
    monkeypatch.setenv("RISKOPS_HOME", str(ctx.settings.home))
    monkeypatch.setenv("RISKOPS_WAL_DIR", str(wal))
    monkeypatch.setenv("RISKOPS_ENV", "staging")
    monkeypatch.setenv("RISKOPS_FLUSHER", "thread")
    app = app_from_env()
    assert not wal.exists()  # no WAL slot claimed, no lock taken, no flusher
    assert not hasattr(app.state, "service")
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        service: ScoringService = app.state.service
        assert service.settings.environment == "staging"
        assert (wal / "staging" / "worker-0" / "LOCK").is_file()
    # closed by the lifespan: the slot is free for the next process
    from riskops.decisions.wal import WriteAheadLog

    WriteAheadLog(wal / "staging" / "worker-0").close()


def test_a_decision_read_the_database_does_not_answer_is_a_503_with_retry_after(
    ctx: Context,
    served: tuple[Any, ScoringService, str],
    german: German,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from riskops.decisions import log as log_module

    client, service, _ = served
    service.settings = dataclasses.replace(
        service.settings, workspace=dataclasses.replace(ctx.settings, db_read_timeout=0.3)
    )
    frozen = threading.Event()

    def hangs(*args: Any) -> None:
        frozen.wait(10)  # a database that stopped answering (released at the end)

    monkeypatch.setattr(log_module, "read_stored", hangs)
    try:
        started = time.monotonic()
        answer = client.get("/v1/decisions/00000000-0000-4000-8000-000000000000")
        waited = time.monotonic() - started
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"] == "1"
        body = answer.json()
        assert "did not answer within 0.3 s" in body["detail"]
        assert "Retry-After" in body["hint"]
        assert "Traceback" not in answer.text
        assert waited < 5  # the read timeout, not the database's
        decided = client.post(URL, json={"subject_id": "s-503", "features": german.requests[0]})
        assert decided.status_code == 200  # scoring never waits on the database
    finally:
        frozen.set()
