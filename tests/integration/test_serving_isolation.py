"""Client isolation and the operations endpoints against a real ``riskops serve`` (uvicorn on a
free 127.0.0.1 port) on a PostgreSQL store: a client's key reads only its own client's decisions,
an auditor's key reads every one and each read is in the audit chain; saturated decision reads
are refused at once while scoring goes on; metrics are on a port of their own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from riskops.audit import list_events, verify
from riskops.context import Context, open_context
from riskops.decisions.sealing import verify_decisions
from riskops.serving.auth import create_key
from riskops.spec import load_spec
from riskops.store.tables import DecisionRecord
from riskops.training.pipeline import train
from riskops.workspace import init_workspace
from tests.conftest import DATA, PEOPLE, REPO, SPEC, approve_and_deploy
from tests.unit.conftest import as_requests

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RISKOPS = str(Path(sys.executable).parent / "riskops")
MODEL = "credit-scoring"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
WAIT_S = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pg_ctx(pg_schema_url: str, clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Context]:
    """A workspace whose riskops store is a fresh PostgreSQL schema (MLflow stays local)."""
    clean_env.setenv("RISKOPS_DATABASE_URL", pg_schema_url)
    ctx = open_context(init_workspace(tmp_path / "ws", people=PEOPLE))
    try:
        yield ctx
    finally:
        ctx.close()


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _wait(check: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def _backlog(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("riskops_decision_log_backlog "):
            return float(line.split()[1])
    raise AssertionError("no riskops_decision_log_backlog in the metrics")


def test_isolation_audited_reads_read_limit_and_metrics_port_on_a_real_server(
    pg_ctx: Context, tmp_path: Path
) -> None:
    import pandas as pd

    ctx = pg_ctx
    assert ctx.settings.database_url.startswith("postgresql")
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    both = ["score", "read_decisions"]
    key_a = create_key(ctx, "portal-a", client="bank-a", scopes=both, actor="oscar").token
    key_b = create_key(ctx, "portal-b", client="bank-b", scopes=both, actor="oscar").token
    auditor = create_key(ctx, "exam-2026", client="examiner", scopes=["audit"], actor="oscar")
    features = as_requests(pd.read_csv(DATA).head(5), load_spec(SPEC).spec)

    port, metrics_port = _free_port(), _free_port()
    log = tmp_path / "serve.log"
    command = [
        RISKOPS, "serve", "--host", "127.0.0.1", "--port", str(port),
        "--metrics-port", str(metrics_port), "--max-reads", "1", "--no-docs",
        "--refresh-seconds", "0.5",
    ]  # fmt: skip
    env = {**os.environ, "RISKOPS_HOME": str(ctx.settings.home), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
            start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    scrape = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        with httpx.Client(base_url=base, timeout=10.0) as client:

            def ready() -> bool:
                if process.poll() is not None:
                    pytest.fail(f"riskops serve exited {process.returncode}:\n{log.read_text()}")
                try:
                    return client.get("/readyz").status_code == 200
                except httpx.TransportError:
                    return False

            _wait(ready, "readiness", READY_TIMEOUT_S)

            def decide(key: str, subject: str) -> str:
                body = {"subject_id": subject, "features": features[0]}
                answer = client.post(
                    f"/v1/models/{MODEL}/decisions", json=body, headers=_bearer(key)
                )
                assert answer.status_code == 200, answer.text
                decision_id: str = answer.json()["decision_id"]
                return decision_id

            def read(decision_id: str, key: str) -> httpx.Response:
                return client.get(f"/v1/decisions/{decision_id}", headers=_bearer(key))

            mine, theirs = decide(key_a, "A-1"), decide(key_b, "B-1")
            _wait(lambda: _backlog(httpx.get(scrape, timeout=5).text) == 0, "the flush")
            with ctx.store.reading() as session:
                rows = session.execute(select(DecisionRecord.id, DecisionRecord.client)).all()
            stored = {str(i): c for i, c in rows}
            assert stored == {mine: "bank-a", theirs: "bank-b"}

            # Each client reads its own decision; the other's is a 404 like a missing one.
            assert read(mine, key_a).json()["client"] == "bank-a"
            assert read(theirs, key_b).json()["client"] == "bank-b"
            missing = str(uuid.uuid4())
            other, absent = read(theirs, key_a), read(missing, key_a)
            assert other.status_code == absent.status_code == 404
            assert other.json() == {
                **absent.json(),
                "detail": absent.json()["detail"].replace(missing, theirs),
            }

            # The auditor reads both, and the chain records each read.
            for decision_id, owner in ((mine, "bank-a"), (theirs, "bank-b")):
                answer = read(decision_id, auditor.token)
                assert answer.status_code == 200, answer.text
                assert answer.json()["client"] == owner
            events = list_events(ctx.store, action="audit.decision_read")
            assert [(e.actor, e.role, e.object_id) for e in events] == [
                ("exam-2026", "auditor", mine),
                ("exam-2026", "auditor", theirs),
            ]
            assert [e.payload["key"] for e in events] == [auditor.key.prefix] * 2
            assert [e.payload["decision_client"] for e in events] == ["bank-a", "bank-b"]

            # Reads saturated (--max-reads 1): an auditor's read waits on the audit chain's
            # head, locked here; every other read is refused at once, and scoring goes on.
            held: list[httpx.Response] = []
            with ctx.store.engine.connect() as connection, connection.begin():
                connection.execute(text("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"))
                waiting = threading.Thread(target=lambda: held.append(read(mine, auditor.token)))
                waiting.start()
                refused: list[httpx.Response] = []

                def busy() -> bool:
                    answer = read(theirs, key_b)
                    if answer.status_code == 503:
                        refused.append(answer)
                        return True
                    assert answer.status_code == 200, answer.text
                    return False

                _wait(busy, "a 503 for a read over the limit")
                answer = refused[0]
                assert answer.headers["retry-after"] == "1"
                assert answer.headers["content-type"].startswith("application/problem+json")
                assert "decision reads already" in answer.json()["detail"]
                started = time.monotonic()
                assert read(theirs, key_b).status_code == 503
                assert time.monotonic() - started < 2.0  # at once, not queued
                for i in range(5):
                    decide(key_a, f"A-load-{i}")
                batch: dict[str, Any] = {
                    "subjects": [
                        {"subject_id": f"A-b{i}", "features": f} for i, f in enumerate(features)
                    ]
                }
                answer = client.post(
                    f"/v1/models/{MODEL}/decisions:batch", json=batch, headers=_bearer(key_a)
                )
                assert answer.status_code == 200, answer.text
                assert not held  # still waiting on the lock
            waiting.join(WAIT_S)
            assert [a.status_code for a in held] == [200]
            assert read(theirs, key_b).status_code == 200  # the slot is free again

            # Metrics on their own port only; no OpenAPI documents.
            scraped = httpx.get(scrape, timeout=5)
            assert scraped.status_code == 200
            assert 'riskops_decisions_total{model="credit-scoring"' in scraped.text
            assert client.get("/metrics").status_code == 404
            for path in ("/docs", "/redoc", "/openapi.json"):
                assert client.get(path).status_code == 404, path
            _wait(lambda: _backlog(httpx.get(scrape, timeout=5).text) == 0, "the last flush")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT_S)
    output = log.read_text(errors="replace")
    assert "Traceback" not in output
    assert len(list_events(ctx.store, action="audit.decision_read")) == 3
    assert verify(ctx.store).ok
    assert verify_decisions(ctx.store).ok
