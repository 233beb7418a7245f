"""No answered decision is lost: a real ``riskops serve`` process (uvicorn, 127.0.0.1, a free
port) is killed with SIGKILL before its decision log reached the store, or loses its PostgreSQL
database in the middle of traffic; afterwards every decision_id a client was answered with is in
the ``decisions`` table exactly once, and the decision log still verifies."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from riskops.audit import verify
from riskops.context import Context, open_context
from riskops.decisions.sealing import verify_decisions
from riskops.serving.auth import create_key
from riskops.spec import load_spec
from riskops.store.tables import DecisionRecord
from riskops.training.pipeline import train
from riskops.workspace import init_workspace
from tests.conftest import DATA, PEOPLE, REPO, SPEC, admin_engine, approve_and_deploy
from tests.unit.conftest import as_requests

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RISKOPS = str(Path(sys.executable).parent / "riskops")
MODEL = "credit-scoring"
READY_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 45.0
STOP_TIMEOUT_S = 20.0
BACKLOG = "riskops_decision_log_backlog"


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(ctx: Context) -> dict[str, str]:
    # os.environ carries RISKOPS_DATABASE_URL when a test set it.
    return {**os.environ, "RISKOPS_HOME": str(ctx.settings.home), "PYTHONUNBUFFERED": "1"}


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def servers(ctx: Context, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start ``riskops serve`` processes on the ctx workspace, each ready before it is handed
    out; every one still running is stopped by its PID at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> Server:
        port = _free_port()
        log = tmp_path / f"serve-{port}.log"
        command = [RISKOPS, "serve", "--host", "127.0.0.1", "--port", str(port), *extra]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                env=_env(ctx),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                start_new_session=True,  # its own process group, as a terminal would give it
            )
        started.append(process)
        server = Server(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(base_url=server.base, timeout=5.0) as client:
            while True:
                if process.poll() is not None:
                    pytest.fail(f"riskops serve exited with {process.returncode}:\n{log_text(log)}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return server
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"riskops serve not ready in {READY_TIMEOUT_S} s:\n{log_text(log)}")
                time.sleep(0.1)

    try:
        yield start
    finally:
        for process in started:
            _stop(process)


def log_text(log: Path) -> str:
    return log.read_text(errors="replace")


def _requests(count: int) -> list[dict[str, object]]:
    import pandas as pd

    return as_requests(pd.read_csv(DATA).head(count), load_spec(SPEC).spec)


def _decide(client: httpx.Client, key: str, subject: str, features: dict[str, object]) -> str:
    """One decision over HTTP; the decision_id the caller was answered with."""
    answer = client.post(
        f"/v1/models/{MODEL}/decisions",
        json={"subject_id": subject, "features": features},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 200, answer.text
    decision_id: str = answer.json()["decision_id"]
    return decision_id


def _backlog(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(BACKLOG + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {BACKLOG} in /metrics")


def _wait(check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.1)


def _stored(ctx: Context, ids: list[str]) -> dict[str, int]:
    """How many rows of the decisions table each of ``ids`` has."""
    with ctx.store.reading() as session:
        rows = session.execute(
            select(DecisionRecord.id, func.count())
            .where(DecisionRecord.id.in_(ids))
            .group_by(DecisionRecord.id)
        ).all()
    return {str(decision_id): int(count) for decision_id, count in rows}


def _total(ctx: Context) -> int:
    with ctx.store.reading() as session:
        return int(session.scalar(select(func.count()).select_from(DecisionRecord)) or 0)


def test_every_answered_decision_survives_a_killed_server(ctx: Context, tmp_path: Path) -> None:
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    key = create_key(ctx, "portal", client="acme", scopes=["score"], actor="oscar").token
    rows = _requests(60)  # fewer than the log's batch size: nothing wakes the flusher early
    answered: list[str] = []
    with servers(ctx, tmp_path) as start:
        # An hour between flushes: the answered decisions are only in the write-ahead log.
        first = start("--flush-interval", "3600")
        with httpx.Client(base_url=first.base, timeout=10.0) as client:
            for i, features in enumerate(rows):
                answered.append(_decide(client, key, f"K-{i}", features))
            assert _backlog(client) == len(rows)
        assert _stored(ctx, answered) == {}
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=STOP_TIMEOUT_S)
        assert first.process.returncode == -signal.SIGKILL

        second = start()  # the same workspace and WAL folder: it replays what was left
        with httpx.Client(base_url=second.base, timeout=10.0) as client:
            _wait(lambda: _backlog(client) == 0, "the replayed backlog's flush", DRAIN_TIMEOUT_S)
        assert "Traceback" not in second.log_text()

    assert len(set(answered)) == len(answered)
    assert _stored(ctx, answered) == dict.fromkeys(answered, 1)
    assert _total(ctx) == len(answered)
    shown = subprocess.run(
        [RISKOPS, "decisions", "show", answered[-1], "--json"],
        env=_env(ctx),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["decision_id"] == answered[-1]
    assert verify(ctx.store).ok
    assert verify_decisions(ctx.store).ok


def test_ctrl_c_stops_server_and_flusher_cleanly_with_the_backlog_stored(
    ctx: Context, tmp_path: Path
) -> None:
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    key = create_key(ctx, "portal", client="acme", scopes=["score"], actor="oscar").token
    answered: list[str] = []
    with servers(ctx, tmp_path) as start:
        server = start("--flush-interval", "3600")  # everything waits in the WAL
        with httpx.Client(base_url=server.base, timeout=10.0) as client:
            for i, features in enumerate(_requests(40)):
                answered.append(_decide(client, key, f"I-{i}", features))
            assert _backlog(client) == len(answered)
        os.killpg(server.process.pid, signal.SIGINT)  # Ctrl-C: the whole group gets it
        assert server.process.wait(timeout=STOP_TIMEOUT_S) == 0
        log = server.log_text()
        assert "Traceback" not in log
        assert "Application shutdown complete" in log
    assert _stored(ctx, answered) == dict.fromkeys(answered, 1)  # the flusher's last pass
    assert verify_decisions(ctx.store).ok


@dataclass(frozen=True)
class PgWorkspace:
    ctx: Context
    reachable: Callable[[bool], None]


@pytest.fixture
def pg_workspace(
    postgres_url: str, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[PgWorkspace]:
    """A workspace whose riskops store is a PostgreSQL database of its own (MLflow stays local),
    and a switch that makes that database unreachable: ALLOW_CONNECTIONS false plus terminating
    every session on it."""
    name = f"riskops_durability_{uuid.uuid4().hex[:10]}"
    admin = admin_engine(postgres_url)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def reachable(up: bool) -> None:
        with admin.connect() as connection:
            connection.execute(
                text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(up).lower()}')
            )
            if not up:
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                    ),
                    {"n": name},
                )

    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    clean_env.setenv("RISKOPS_DATABASE_URL", url)
    ctx: Context | None = None
    try:
        ctx = open_context(init_workspace(tmp_path / "ws", people=PEOPLE))
        yield PgWorkspace(ctx, reachable)
    finally:
        if ctx is not None:
            ctx.close()
        reachable(True)
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def test_every_answered_decision_survives_a_database_outage(
    pg_workspace: PgWorkspace, tmp_path: Path
) -> None:
    ctx = pg_workspace.ctx
    assert ctx.settings.database_url.startswith("postgresql")
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    key = create_key(ctx, "portal", client="acme", scopes=["score"], actor="oscar").token
    rows = _requests(100)
    before, during, after = rows[:20], rows[20:80], rows[80:]
    answered: list[str] = []
    with servers(ctx, tmp_path) as start:
        server = start("--refresh-seconds", "0.5")
        with httpx.Client(base_url=server.base, timeout=10.0) as client:
            answered += [_decide(client, key, f"B-{i}", f) for i, f in enumerate(before)]
            _wait(lambda: _backlog(client) == 0, "the first flush", DRAIN_TIMEOUT_S)

            pg_workspace.reachable(False)
            answered += [_decide(client, key, f"D-{i}", f) for i, f in enumerate(during)]
            # The flusher tries, fails, backs off; every decision was answered all the same.
            _wait(lambda: "flush failed" in server.log_text(), "a failed flush", 15.0)
            assert _backlog(client) == len(during)

            pg_workspace.reachable(True)
            answered += [_decide(client, key, f"A-{i}", f) for i, f in enumerate(after)]
            _wait(lambda: _backlog(client) == 0, "the backlog's drain", DRAIN_TIMEOUT_S)

    assert len(set(answered)) == len(answered) == len(rows)
    assert _stored(ctx, answered) == dict.fromkeys(answered, 1)
    assert _total(ctx) == len(answered)
    assert verify(ctx.store).ok
    assert verify_decisions(ctx.store).ok
