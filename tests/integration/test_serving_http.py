"""The scoring service as a client meets it: a real ``riskops serve`` (uvicorn) process on a free
127.0.0.1 port, serving a temporary workspace with trained, approved and deployed versions, and
driven over HTTP with httpx. Deployments, promotions and rollbacks are made from other
processes (the CLI) or through the service functions, and must reach the running server
through the store alone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pytest
from sqlalchemy import select

from riskops.context import Context
from riskops.governance.approvals import approve
from riskops.governance.deployments import deploy
from riskops.registry.versions import ModelRef, get_version
from riskops.serving.auth import create_key
from riskops.serving.routing import BUCKETS, bucket
from riskops.spec import load_spec
from riskops.store.tables import DecisionRecord
from riskops.training.pipeline import train
from riskops.validation.run import validate
from tests.conftest import OPINION, SPEC, approve_and_deploy
from tests.unit.conftest import as_requests

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RISKOPS = str(Path(sys.executable).parent / "riskops")
MODEL = "credit-scoring"
READY_TIMEOUT_S = 60.0
SWITCH_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    log: Path
    score_key: str
    read_key: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=10.0)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _env(ctx: Context) -> dict[str, str]:
    return {**os.environ, "RISKOPS_HOME": str(ctx.settings.home), "PYTHONUNBUFFERED": "1"}


def _run_cli(ctx: Context, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RISKOPS, *args], env=_env(ctx), capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def serve(ctx: Context, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start ``riskops serve`` on the ctx workspace; wait until /healthz answers (and /readyz
    says ready unless ``ready=False``); stop it by its PID afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*, ready: bool = True, max_body_bytes: int = 65_536) -> Server:
        score_key = create_key(ctx, "portal", client="acme", scopes=["score"], actor="oscar").token
        read_key = create_key(
            ctx, "support", client="acme", scopes=["read_decisions"], actor="oscar"
        ).token
        port = _free_port()
        log = tmp_path / f"serve-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    RISKOPS,
                    "serve",
                    "--env",
                    "production",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--refresh-seconds",
                    "0.5",
                    "--max-batch",
                    "50",
                    "--max-body-bytes",
                    str(max_body_bytes),
                ],
                env=_env(ctx),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        server = Server(f"http://127.0.0.1:{port}", process, log, score_key, read_key)
        deadline = time.monotonic() + READY_TIMEOUT_S
        with server.client() as client:
            while True:
                if process.poll() is not None:
                    pytest.fail(
                        f"riskops serve exited with {process.returncode}:\n{server.log_text()}"
                    )
                try:
                    answer = client.get("/readyz" if ready else "/healthz")
                    if answer.status_code == 200:
                        return server
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"riskops serve not ready in {READY_TIMEOUT_S} s:\n{server.log_text()}"
                    )
                time.sleep(0.1)

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)


@pytest.fixture
def requests_() -> list[dict[str, object]]:
    import pandas as pd

    from tests.conftest import DATA

    spec = load_spec(SPEC).spec
    return as_requests(pd.read_csv(DATA).head(200), spec)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _decide(
    client: httpx.Client, key: str, subject: str, features: dict[str, object], **extra: Any
) -> httpx.Response:
    body = {"subject_id": subject, "features": features, **extra}
    return client.post(f"/v1/models/{MODEL}/decisions", json=body, headers=_bearer(key))


def _wait_until(check: Callable[[], bool], what: str, timeout: float = SWITCH_TIMEOUT_S) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def _approve(ctx: Context, ref: ModelRef) -> None:
    assert validate(ctx, ref, actor="victor").passed
    approve(ctx, ref, actor="victor", opinion=OPINION)
    approve(ctx, ref, actor="rita")


def test_decisions_reasons_and_every_refusal_over_http(
    ctx: Context, serve: Callable[..., Server], requests_: list[dict[str, object]]
) -> None:
    v1 = train(ctx, SPEC, actor="alice").ref
    approve_and_deploy(ctx, v1)
    server = serve()
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert [(x["version"], x["lane"]) for x in ready["loaded"]] == [(1, "champion")]

        # A decision with reason codes, end to end; adverse decisions always carry reasons.
        answers = [
            _decide(client, server.score_key, f"s{i}", f).json()
            for i, f in enumerate(requests_[:40])
        ]
        adverse = [a for a in answers if a["decision"] != "approve"]
        assert adverse, "the first 40 applicants include a refer or decline"
        for a in answers:
            assert a["model"] == MODEL
            assert a["version"] == 1
            assert a["digest"].startswith("sha256:")
            assert a["fallback"] is False
        for a in adverse:
            assert 1 <= len(a["reasons"]) <= 4
            assert all(r["text"] and r["contribution"] > 0 for r in a["reasons"])
        explained = _decide(client, server.score_key, "s0", requests_[0], explain=True).json()
        assert explained["reasons"]

        # Every kind of bad input gets a 422 naming each field.
        good = requests_[0]
        missing = {k: v for k, v in good.items() if k != "duration_in_month"}
        cases: list[tuple[dict[str, object], str]] = [
            (missing, "duration_in_month"),
            ({**good, "favourite_colour": "blue"}, "favourite_colour"),
            ({**good, "credit_amount": "1000"}, "credit_amount"),
            ({**good, "credit_amount": True}, "credit_amount"),
            ({**good, "duration_in_month": 500}, "duration_in_month"),
            ({**good, "purpose": "yacht"}, "purpose"),
            ({**good, "purpose": 3}, "purpose"),
        ]
        for features, field in cases:
            answer = _decide(client, server.score_key, "bad", features)
            assert answer.status_code == 422, (field, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            body = answer.json()
            assert field in [p["field"] for p in body["problems"]], body
            assert body["hint"]
            assert "Traceback" not in answer.text
        several = _decide(
            client, server.score_key, "bad", {**missing, "credit_amount": "x", "extra": 1}
        ).json()
        assert {"duration_in_month", "credit_amount", "extra"} <= {
            p["field"] for p in several["problems"]
        }
        for body, field in (
            ({"features": good}, "subject_id"),
            ({"subject_id": "s", "features": [1, 2]}, "features"),
            ({"subject_id": "s", "features": good, "surprise": 1}, "surprise"),
        ):
            answer = client.post(
                f"/v1/models/{MODEL}/decisions", json=body, headers=_bearer(server.score_key)
            )
            assert answer.status_code == 422
            assert field in [p["field"] for p in answer.json()["problems"]]
        not_json = client.post(
            f"/v1/models/{MODEL}/decisions",
            content=b"{not json",
            headers={**_bearer(server.score_key), "content-type": "application/json"},
        )
        assert not_json.status_code == 422

        # Keys and scopes.
        no_key = client.post(
            f"/v1/models/{MODEL}/decisions", json={"subject_id": "s", "features": good}
        )
        assert no_key.status_code == 401
        assert no_key.json()["hint"]
        assert _decide(client, "rk_00000000_forged", "s", good).status_code == 401
        assert _decide(client, server.read_key, "s", good).status_code == 403
        decision_id = answers[0]["decision_id"]
        assert (
            client.get(
                f"/v1/decisions/{decision_id}", headers=_bearer(server.score_key)
            ).status_code
            == 403
        )
        assert client.get(f"/v1/decisions/{decision_id}").status_code == 401

        # Oversized bodies: by Content-Length, and streamed without one.
        big = {"subject_id": "s", "features": {**good, "pad": "x" * 100_000}}
        too_big = client.post(
            f"/v1/models/{MODEL}/decisions", json=big, headers=_bearer(server.score_key)
        )
        assert too_big.status_code == 413
        assert too_big.json()["status"] == 413

        def chunks() -> Iterator[bytes]:
            yield b'{"subject_id": "s", "features": {"pad": "'
            for _ in range(100):
                yield b"x" * 1000
            yield b'"}}'

        streamed = client.post(
            f"/v1/models/{MODEL}/decisions",
            content=chunks(),
            headers={**_bearer(server.score_key), "content-type": "application/json"},
        )
        assert streamed.status_code == 413

        # Unknown model, batch, batch limit.
        assert _decide(client, server.score_key, "s", good).status_code == 200
        unknown = client.post(
            "/v1/models/no-such-model/decisions",
            json={"subject_id": "s", "features": good},
            headers=_bearer(server.score_key),
        )
        assert unknown.status_code == 404
        batch = client.post(
            f"/v1/models/{MODEL}/decisions:batch",
            json={
                "subjects": [
                    {"subject_id": f"b{i}", "features": f} for i, f in enumerate(requests_[:20])
                ]
            },
            headers=_bearer(server.score_key),
        )
        assert batch.status_code == 200
        assert [d["score"] for d in batch.json()["decisions"]] == pytest.approx(
            [a["score"] for a in answers[:20]]
        )
        bad_batch = client.post(
            f"/v1/models/{MODEL}/decisions:batch",
            json={
                "subjects": [
                    {"subject_id": "b", "features": good},
                    {"subject_id": "c", "features": missing},
                ]
            },
            headers=_bearer(server.score_key),
        )
        assert bad_batch.status_code == 422
        assert [p["field"] for p in bad_batch.json()["problems"]] == [
            "subjects[1].duration_in_month"
        ]
        over = client.post(
            f"/v1/models/{MODEL}/decisions:batch",
            json={"subjects": [{"subject_id": "b", "features": good}] * 51},
            headers=_bearer(server.score_key),
        )
        assert over.status_code == 422

        # The stored decision and its reasons (GDPR Art. 15), through the decision log.
        stored = client.get(
            f"/v1/decisions/{adverse[0]['decision_id']}", headers=_bearer(server.read_key)
        )
        assert stored.status_code == 200, stored.text
        assert stored.json()["reasons"] == adverse[0]["reasons"]
        assert stored.json()["version"] == 1
        assert client.get("/v1/decisions/nope", headers=_bearer(server.read_key)).status_code == 404

        metrics = client.get("/metrics").text
        assert 'riskops_decisions_total{model="credit-scoring",outcome=' in metrics
        assert "riskops_request_latency_seconds_bucket" in metrics
        assert 'riskops_feature_missing_total{feature="duration_in_month"' in metrics
        assert 'riskops_feature_out_of_range_total{feature="duration_in_month"' in metrics
        assert 'riskops_model_info{digest="' in metrics
        assert "riskops_decision_log_backlog" in metrics
    assert "Traceback" not in server.log_text()


def test_a_tampered_artifact_is_refused_and_its_requests_fall_back(
    ctx: Context, serve: Callable[..., Server], requests_: list[dict[str, object]]
) -> None:
    v1 = train(ctx, SPEC, actor="alice").ref
    approve_and_deploy(ctx, v1)
    with ctx.store.reading() as session:
        run_id = get_version(session, v1).mlflow_run_id
    artifacts = Path(ctx.settings.home) / "mlartifacts"
    files = [p for p in artifacts.rglob("model.lgb") if run_id in str(p)]
    assert files, f"no model.lgb of run {run_id} under {artifacts}"
    for path in files:
        text = path.read_text()
        path.write_text(text.replace("learning_rate", "learning_rate ", 1) + "\n")

    server = serve(ready=False)
    with server.client() as client:
        _wait_until(lambda: client.get("/readyz").json().get("refused") != [], "refusal")
        readiness = client.get("/readyz")
        assert readiness.status_code == 503
        refused = readiness.json()["refused"]
        assert [(r["model"], r["version"]) for r in refused] == [(MODEL, 1)]
        assert "digest mismatch" in refused[0]["reason"]
        answer = _decide(client, server.score_key, "s1", requests_[0])
        assert answer.status_code == 200
        body = answer.json()
        assert body["fallback"] is True
        assert body["decision"] == "refer"
        assert body["score"] is None
        assert [r["text"] for r in body["reasons"]] == ["model unavailable"]
        # A bad request is still a bad request.
        assert _decide(client, server.score_key, "s1", {}).status_code == 422
        metrics = client.get("/metrics").text
        assert (
            'riskops_artifact_digest_mismatch_total{model="credit-scoring",version="1"} 1.0'
            in metrics
        )
        assert 'riskops_fallback_total{model="credit-scoring",version="1"} 1.0' in metrics
    assert "digest mismatch" in server.log_text()


def test_shadow_canary_promotion_and_a_hand_moved_alias(
    ctx: Context, serve: Callable[..., Server], requests_: list[dict[str, object]]
) -> None:
    v1 = train(ctx, SPEC, actor="alice").ref
    approve_and_deploy(ctx, v1)
    v2 = train(ctx, SPEC, actor="alice", params={"num_leaves": 6}).ref
    server = serve()
    subjects = [f"subject-{i}" for i in range(60)]
    features = {s: requests_[i] for i, s in enumerate(subjects)}

    def versions(client: httpx.Client) -> dict[str, int]:
        return {
            s: _decide(client, server.score_key, s, features[s]).json()["version"] for s in subjects
        }

    with server.client() as client:
        # Someone moves MLflow's champion alias to the unapproved v2 by hand: nothing changes.
        mlflow.MlflowClient(
            tracking_uri=ctx.settings.mlflow_tracking_uri,
            registry_uri=ctx.settings.mlflow_registry_uri,
        ).set_registered_model_alias(MODEL, "champion", "2")
        time.sleep(1.5)  # three refresh intervals
        assert set(versions(client).values()) == {1}

        # v2, approved, in shadow: scored and logged, never returned.
        _approve(ctx, v2)
        deploy(ctx, v2, environment="production", actor="oscar", mode="shadow")
        _wait_until(
            lambda: any(x["lane"] == "shadow" for x in client.get("/readyz").json()["loaded"]),
            "shadow load",
        )
        assert set(versions(client).values()) == {1}
        _wait_until(
            lambda: 'route="shadow",version="2"' in client.get("/metrics").text, "shadow scoring"
        )

        # v2 as a canary for 30% of subjects, sticky by subject.
        done = _run_cli(
            ctx, "deploy", f"{MODEL}@2", "--mode", "canary", "--share", "0.3", "--as", "oscar"
        )
        assert done.returncode == 0, done.stderr
        _wait_until(
            lambda: any(x["lane"] == "canary" for x in client.get("/readyz").json()["loaded"]),
            "canary load",
        )
        first, again = versions(client), versions(client)
        assert first == again
        expected = {s: 2 if bucket(MODEL, s) < 0.3 * BUCKETS else 1 for s in subjects}
        assert first == expected
        assert 0 < sum(v == 2 for v in first.values()) < len(subjects)

        # Promote: the canary's version in full.
        done = _run_cli(ctx, "deploy", f"{MODEL}@2", "--mode", "full", "--as", "oscar")
        assert done.returncode == 0, done.stderr
        _wait_until(lambda: set(versions(client).values()) == {2}, "promotion")

    # Shadow decisions reach the store marked as not served (through the decision log).
    def shadow_rows() -> list[DecisionRecord]:
        with ctx.store.reading() as session:
            return list(
                session.execute(
                    select(DecisionRecord).where(DecisionRecord.served.is_(False))
                ).scalars()
            )

    _wait_until(lambda: bool(shadow_rows()), "shadow decisions in the store", timeout=30)
    assert {(r.version, r.route) for r in shadow_rows()} == {(2, "shadow")}


def test_rollback_under_load_fails_no_request(
    ctx: Context, serve: Callable[..., Server], requests_: list[dict[str, object]]
) -> None:
    v1 = train(ctx, SPEC, actor="alice").ref
    approve_and_deploy(ctx, v1)
    v2 = train(ctx, SPEC, actor="alice", params={"num_leaves": 6}).ref
    approve_and_deploy(ctx, v2)
    server = serve()
    most_per_thread = 3_000  # bounded: the load stops soon after the switch, or at this count
    seen: list[tuple[float, int]] = []
    failures: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(offset: int) -> None:
        with server.client() as client:
            for i in range(most_per_thread):
                if stop.is_set():
                    return
                features = requests_[i % len(requests_)]
                try:
                    answer = _decide(client, server.score_key, f"load-{offset}-{i}", features)
                except httpx.HTTPError as exc:
                    with lock:
                        failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    if answer.status_code != 200 or answer.json()["fallback"]:
                        failures.append(f"{answer.status_code}: {answer.text[:200]}")
                    else:
                        seen.append((time.monotonic(), answer.json()["version"]))

    threads = [threading.Thread(target=load, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    _wait_until(lambda: len(seen) >= 100, "first answers", timeout=60)
    rolled_at = time.monotonic()
    done = _run_cli(
        ctx, "rollback", MODEL, "--env", "production", "--as", "oscar", "--reason", "load test"
    )
    finished_at = time.monotonic()
    assert done.returncode == 0, done.stderr
    _wait_until(lambda: any(v == 1 for _, v in seen), "the switch to v1")
    time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert len(seen) >= 200
    assert {v for t, v in seen if t < rolled_at} == {2}
    switched = min(t for t, v in seen if v == 1)
    assert switched - finished_at < 5.0
    assert {v for t, v in seen if t > switched + 0.5} == {1}
