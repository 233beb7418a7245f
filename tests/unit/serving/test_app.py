"""The scoring app in process (FastAPI's TestClient over the real service, store, registry and
decision log): what a real uvicorn process adds is covered in tests/integration."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lightgbm as lgb
import pytest

from riskops.audit import list_events
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


@contextmanager
def serving(ctx: Context, **options: Any) -> Iterator[tuple[Any, ScoringService, str]]:
    """The app over ``ctx`` with ServerSettings ``options``, ready, its client sending the key
    of client "acme" (score, read_decisions)."""
    from fastapi.testclient import TestClient

    key = create_key(
        ctx, "portal", client="acme", scopes=["score", "read_decisions"], actor="oscar"
    ).token
    settings = ServerSettings(workspace=ctx.settings, refresh_seconds=3600, **options)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        service: ScoringService = app.state.service  # opened by the app's lifespan
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").json()
            time.sleep(0.05)
        client.headers["Authorization"] = f"Bearer {key}"
        yield client, service, key


@pytest.fixture
def served(ctx: Context) -> Iterator[tuple[Any, ScoringService, str]]:
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    with serving(ctx) as running:
        yield running


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


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("flushed", [True, False], ids=["in-the-store", "in-the-wal-backlog"])
def test_a_key_reads_only_its_client_s_decisions_and_an_auditor_every_one_on_record(
    ctx: Context, german: German, flushed: bool
) -> None:
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    # Held in the WAL backlog, or flushed at once.
    options = {"flusher": "thread", "flush_interval": 0.05 if flushed else 3600.0}
    with serving(ctx, **options) as (client, service, _):
        bank_b = create_key(
            ctx, "portal-b", client="bank-b", scopes=["score", "read_decisions"], actor="oscar"
        ).token
        admin_b = create_key(ctx, "ops-b", client="bank-b", scopes=["admin"], actor="oscar").token
        auditor = create_key(
            ctx, "exam-2026", client="examiner", scopes=["audit"], actor="oscar"
        ).token
        assert service.refresh_if_changed() is True  # the new keys
        body = {"subject_id": "s1", "features": german.requests[0]}
        mine = client.post(URL, json=body).json()["decision_id"]
        batch = client.post(URL + ":batch", json={"subjects": [body]}).json()
        mine_in_batch = batch["decisions"][0]["decision_id"]
        theirs = client.post(URL, json=body, headers=_bearer(bank_b)).json()["decision_id"]
        if flushed:
            deadline = time.monotonic() + 20
            while service.decisions.backlog():
                assert time.monotonic() < deadline, "not flushed"
                time.sleep(0.02)
        else:
            assert service.decisions.backlog() == 3

        for own in (mine, mine_in_batch):
            answer = client.get(f"/v1/decisions/{own}")
            assert answer.status_code == 200, answer.text
            assert answer.json()["client"] == "acme"
        read_b = client.get(f"/v1/decisions/{theirs}", headers=_bearer(bank_b))
        assert read_b.json()["client"] == "bank-b"

        # Another client's decision is answered exactly as one that does not exist.
        missing = str(uuid.uuid4())
        for key in (bank_b, admin_b):
            other = client.get(f"/v1/decisions/{mine}", headers=_bearer(key))
            absent = client.get(f"/v1/decisions/{missing}", headers=_bearer(key))
            assert other.status_code == absent.status_code == 404
            assert other.json() == {
                **absent.json(),
                "detail": absent.json()["detail"].replace(missing, mine),
            }
            assert sorted(other.headers) == sorted(absent.headers)
        assert client.get(f"/v1/decisions/{theirs}").status_code == 404
        assert list_events(ctx.store, action="audit.decision_read") == []

        # An auditor reads every client's, and each read is in the audit chain.
        for decision_id, owner in ((mine, "acme"), (theirs, "bank-b")):
            read = client.get(f"/v1/decisions/{decision_id}", headers=_bearer(auditor))
            assert read.status_code == 200, read.text
            assert read.json()["client"] == owner
        events = list_events(ctx.store, action="audit.decision_read")
        assert [(e.actor, e.object_id, e.payload["decision_client"]) for e in events] == [
            ("exam-2026", mine, "acme"),
            ("exam-2026", theirs, "bank-b"),
        ]
        assert client.get(f"/v1/decisions/{missing}", headers=_bearer(auditor)).status_code == 404
        forbidden = client.post(URL, json=body, headers=_bearer(auditor))
        assert forbidden.status_code == 403
        assert "lacks the scope 'score'" in forbidden.json()["detail"]
        assert service.refresh_if_changed() is False  # the auditor's reads changed nothing


def test_saturated_reads_answer_503_at_once_while_scoring_goes_on(
    ctx: Context, german: German, monkeypatch: pytest.MonkeyPatch
) -> None:
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    with serving(ctx, max_concurrent_reads=2, flusher="thread") as (client, service, _):
        body = {"subject_id": "s1", "features": german.requests[0]}
        decision_id = client.post(URL, json=body).json()["decision_id"]
        release = threading.Event()
        entered = threading.Semaphore(0)
        real = service.decisions.read

        def slow_read(*args: Any) -> dict[str, Any] | None:
            entered.release()
            assert release.wait(30)
            return real(*args)

        # A read from the store (a decision not in this server's WAL) that does not answer.
        monkeypatch.setattr(service.decisions, "read", slow_read)
        mine, decision_id = decision_id, str(uuid.uuid4())
        answers: list[Any] = []

        def read() -> None:
            answers.append(client.get(f"/v1/decisions/{decision_id}"))

        readers = [threading.Thread(target=read) for _ in range(2)]
        for reader in readers:
            reader.start()
        for _ in readers:
            assert entered.acquire(timeout=30)
        try:
            started = time.monotonic()
            busy = client.get(f"/v1/decisions/{decision_id}")
            assert time.monotonic() - started < 5  # refused at once, not queued
            assert busy.status_code == 503
            assert busy.headers["retry-after"] == "1"
            assert busy.headers["content-type"].startswith("application/problem+json")
            assert "2 decision reads already" in busy.json()["detail"]
            assert "--max-reads" in busy.json()["hint"]
            assert "riskops_decision_reads_refused_total 1.0" in client.get("/metrics").text
            # Scoring, single and batch, is not held up by the reads.
            assert client.post(URL, json=body).status_code == 200
            batch = client.post(URL + ":batch", json={"subjects": [body] * 3})
            assert batch.status_code == 200
        finally:
            release.set()
            for reader in readers:
                reader.join(30)
        assert [a.status_code for a in answers] == [404, 404]  # answered once released
        assert client.get(f"/v1/decisions/{decision_id}").status_code == 404  # slots freed
        assert client.get(f"/v1/decisions/{mine}").status_code == 200


def test_metrics_on_a_port_of_their_own_and_docs_turned_off(ctx: Context, german: German) -> None:
    import httpx

    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    with serving(ctx, metrics_port=0, docs=False, flusher="thread") as (client, _service, _):
        port = client.app.state.metrics_port
        assert port > 0
        decided = client.post(URL, json={"subject_id": "s1", "features": german.requests[0]})
        assert decided.status_code == 200
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert scraped.status_code == 200
        assert 'riskops_decisions_total{model="credit-scoring"' in scraped.text
        assert "riskops_decision_log_backlog" in scraped.text
        on_main = client.get("/metrics")
        assert on_main.status_code == 404
        assert on_main.headers["content-type"].startswith("application/problem+json")
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404, path
    with pytest.raises(httpx.ConnectError):  # closed with the app
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)


def test_by_default_metrics_and_docs_are_on_the_main_port(
    served: tuple[Any, ScoringService, str],
) -> None:
    client, _service, _ = served
    assert client.get("/metrics").status_code == 200
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 200, path
    assert not hasattr(client.app.state, "metrics_port")


def same_decision(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer without its id, its numbers to 12 significant digits."""
    return {
        **{k: v for k, v in answer.items() if k != "decision_id"},
        "score": float(f"{answer['score']:.12g}"),
        "reasons": [
            {**r, "contribution": float(f"{r['contribution']:.12g}")} for r in answer["reasons"]
        ],
    }


def test_a_batch_is_one_wal_fsync_decides_as_single_requests_do_and_shadows_after(
    served: tuple[Any, ScoringService, str], german: German, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, service, _ = served
    log = service.decisions._log  # type: ignore[attr-defined]  # the durable log behind the sink
    wal_dir = str(log.wal.directory)
    subjects = [{"subject_id": f"b-{i}", "features": f} for i, f in enumerate(german.requests[:60])]
    for explain in (False, True):
        singles = [client.post(URL, json={**s, "explain": explain}).json() for s in subjects]
        syncs: list[str] = []
        for name in ("fsync", "fdatasync"):
            real = getattr(os, name)

            def counted(fd: int, real: Any = real, syncs: list[str] = syncs) -> None:
                path = os.readlink(f"/proc/self/fd/{fd}")
                if path.startswith(wal_dir):  # the WAL's syncs, not the store's
                    syncs.append(path)
                real(fd)

            monkeypatch.setattr(os, name, counted)
        answer = client.post(URL + ":batch", json={"subjects": subjects, "explain": explain})
        monkeypatch.undo()
        assert answer.status_code == 200
        assert len(syncs) == 1  # 60 subjects, one group commit
        batch = answer.json()["decisions"]
        assert {d["decision"] for d in batch} == {"approve", "refer", "decline"}
        for one, many in zip(singles, batch, strict=True):
            # The single row goes through LightGBM's single-row API, the batch through one
            # matrix: the same trees, summed in another order.
            assert same_decision(many) == same_decision(one)
            if not explain and many["decision"] == "approve":
                assert many["reasons"] == []
        logged = [log.get(d["decision_id"]) for d in (singles[7], batch[7])]
        assert logged[0] is not None
        assert logged[1] is not None
        assert logged[0].request_sha256 == logged[1].request_sha256  # the same request
        assert (logged[1].served, logged[1].route) == (True, "champion")
        assert len({d["decision_id"] for d in batch}) == len(subjects)

    # A shadow decides the same batch after the answer, also with one group commit.
    table = service.table
    champion = table.routes["credit-scoring"].champion
    shadow = dataclasses.replace(champion, plan=dataclasses.replace(champion.plan, lane="shadow"))
    service.table = RoutingTable(
        routes={"credit-scoring": Route(champion, shadows=(shadow,))}, plan=table.plan
    )
    answer = client.post(URL + ":batch", json={"subjects": subjects[:9]})
    assert answer.status_code == 200
    deadline = time.monotonic() + 20
    while 'route="shadow"' not in (metrics := client.get("/metrics").text):
        assert time.monotonic() < deadline, "the shadow was not scored"
        time.sleep(0.05)
    shadowed = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("riskops_decisions_total{") and 'route="shadow"' in line
    )
    assert shadowed == 9
