"""Replicas on one store: real ``riskops serve`` processes with homes and WAL folders of their
own, on one PostgreSQL store, one MLflow registry and one workspace secret.

A client alternates between two servers: one subject gets one pseudonym whichever server
decided; decisions from both are sealed and the audit chain verifies; one server killed with
SIGKILL mid-load and started again loses nothing. A server with another secret, or with none,
refuses to start. ``--workers 2`` runs two workers with a WAL slot each, and a worker killed
with SIGKILL is replaced by one that replays its slot."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from riskops.audit import verify
from riskops.context import Context, open_context
from riskops.decisions.sealing import verify_decisions
from riskops.privacy.pseudonyms import pseudonym
from riskops.privacy.secrets import WorkspaceSecrets
from riskops.serving.auth import create_key
from riskops.store.tables import DecisionRecord
from riskops.training.pipeline import train
from riskops.workspace import init_workspace
from tests.conftest import PEOPLE, REPO, SPEC, approve_and_deploy
from tests.integration.test_serving_durability import (
    READY_TIMEOUT_S,
    RISKOPS,
    STOP_TIMEOUT_S,
    Server,
    _backlog,
    _decide,
    _free_port,
    _requests,
    _stop,
    _stored,
    _total,
    _wait,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "5e" * 32
OTHER_SECRET = "a1" * 32
DRAIN_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Fleet:
    """The workspace the servers share, seen from the first home."""

    ctx: Context
    key: str
    env: dict[str, str]  # what every replica's environment has in common
    tmp: Path

    def home_env(self, home: Path, **extra: str) -> dict[str, str]:
        return {**self.env, "RISKOPS_HOME": str(home), **extra}


@pytest.fixture
def fleet(pg_schema_url: str, clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Fleet]:
    shared = tmp_path / "shared"
    shared.mkdir()
    common = {
        "RISKOPS_DATABASE_URL": pg_schema_url,
        "MLFLOW_TRACKING_URI": f"sqlite:///{shared / 'mlflow.db'}",
        "RISKOPS_ARTIFACT_ROOT": (shared / "mlartifacts").as_uri(),
        "RISKOPS_SECRET_KEY": SECRET,
    }
    for name, value in common.items():
        clean_env.setenv(name, value)
    ctx = open_context(init_workspace(tmp_path / "home-a", people=PEOPLE))
    try:
        approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
        key = create_key(
            ctx, "portal", client="acme", scopes=["score", "read_decisions"], actor="oscar"
        ).token
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RISKOPS_", "MLFLOW_")) or k == "MLFLOW_DISABLE_TELEMETRY"
        }
        yield Fleet(ctx, key, {**env, **common, "PYTHONUNBUFFERED": "1"}, tmp_path)
    finally:
        ctx.close()


@pytest.fixture
def start(fleet: Fleet) -> Iterator[Callable[..., Server]]:
    """Start ``riskops serve`` with the given environment; ready before it is handed out.
    Every process still running is stopped by its PID at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def run(env: dict[str, str], *extra: str, port: int | None = None) -> Server:
        port = port or _free_port()
        log = fleet.tmp / f"serve-{port}-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [RISKOPS, "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                start_new_session=True,
            )
        started.append(process)
        server = Server(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(base_url=server.base, timeout=5.0) as client:
            while True:
                if process.poll() is not None:
                    pytest.fail(
                        f"riskops serve exited with {process.returncode}:\n{server.log_text()}"
                    )
                try:
                    if client.get("/readyz").status_code == 200:
                        return server
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"riskops serve not ready in {READY_TIMEOUT_S} s:\n{server.log_text()}"
                    )
                time.sleep(0.1)

    yield run
    for process in started:
        _stop(process)


def _subjects_of(ctx: Context, ids: list[str]) -> dict[str, str]:
    with ctx.store.reading() as session:
        rows = session.execute(
            select(DecisionRecord.id, DecisionRecord.subject).where(DecisionRecord.id.in_(ids))
        ).all()
    return {str(i): str(s) for i, s in rows}


def test_two_replicas_one_pseudonym_nothing_lost_when_one_is_killed(
    fleet: Fleet, start: Callable[..., Server]
) -> None:
    home_b = fleet.tmp / "home-b"
    init_workspace(home_b, people=PEOPLE)  # its own riskops.toml; the store is already current
    a = start(fleet.home_env(fleet.ctx.settings.home))
    # B keeps its WAL outside its home, and flushes only when told: what it answered before
    # the kill is only in its WAL.
    env_b = fleet.home_env(home_b, RISKOPS_WAL_DIR=str(fleet.tmp / "wal-b"))
    port_b = _free_port()
    b = start(env_b, "--flush-interval", "3600", port=port_b)
    rows = _requests(120)
    answered: list[str] = []
    by_server: dict[str, list[str]] = {"a": [], "b": []}
    same_subject: list[str] = []
    with (
        httpx.Client(base_url=a.base, timeout=10.0) as client_a,
        httpx.Client(base_url=b.base, timeout=10.0) as client_b,
    ):
        for i, features in enumerate(rows[:60]):
            name, client = ("a", client_a) if i % 2 == 0 else ("b", client_b)
            decision_id = _decide(client, fleet.key, f"R-{i // 2}", features)
            answered.append(decision_id)
            by_server[name].append(decision_id)
            if i // 2 == 0:
                same_subject.append(decision_id)
        assert _backlog(client_b) == 30

        os.kill(b.process.pid, signal.SIGKILL)  # mid-load: B's answers are only in its WAL
        b.process.wait(timeout=STOP_TIMEOUT_S)
        for i, features in enumerate(rows[60:90]):  # A goes on alone
            answered.append(_decide(client_a, fleet.key, f"S-{i}", features))

    b = start(env_b, port=port_b)  # the same home and WAL folder: it replays what was left
    with (
        httpx.Client(base_url=a.base, timeout=10.0) as client_a,
        httpx.Client(base_url=b.base, timeout=10.0) as client_b,
    ):
        for i, features in enumerate(rows[90:]):
            client = client_a if i % 2 == 0 else client_b
            answered.append(_decide(client, fleet.key, f"T-{i}", features))
        answered.append(_decide(client_b, fleet.key, "R-0", rows[0]))  # R-0 again, on B
        same_subject.append(answered[-1])
        _wait(lambda: _backlog(client_a) == 0, "A's flush", DRAIN_TIMEOUT_S)
        _wait(lambda: _backlog(client_b) == 0, "B's replay and flush", DRAIN_TIMEOUT_S)
        # Either server reads a decision the other one made.
        shown = client_a.get(
            f"/v1/decisions/{by_server['b'][0]}", headers={"Authorization": f"Bearer {fleet.key}"}
        )
        assert shown.status_code == 200, shown.text
    assert "Traceback" not in b.log_text()

    assert len(set(answered)) == len(answered)
    assert _stored(fleet.ctx, answered) == dict.fromkeys(answered, 1)
    assert _total(fleet.ctx) == len(answered)
    # One subject, one pseudonym, whichever server decided: R-0 on A, on B, and on B again
    # after its restart.
    expected = pseudonym(WorkspaceSecrets.from_secret(bytes.fromhex(SECRET)), "R-0")
    subjects = _subjects_of(fleet.ctx, same_subject)
    assert len(subjects) == 3
    assert set(subjects.values()) == {expected}
    assert verify(fleet.ctx.store).ok
    assert verify_decisions(fleet.ctx.store).ok
    audit = subprocess.run(
        [RISKOPS, "audit", "verify"],
        env=fleet.home_env(home_b),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_a_replica_with_another_secret_or_none_refuses_to_start(
    fleet: Fleet, start: Callable[..., Server]
) -> None:
    start(fleet.home_env(fleet.ctx.settings.home))  # records the workspace's fingerprint
    other = fleet.tmp / "home-other"
    init_workspace(other, people=PEOPLE)
    refused = subprocess.run(
        [RISKOPS, "serve", "--port", str(_free_port())],
        env=fleet.home_env(other, RISKOPS_SECRET_KEY=OTHER_SECRET),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "is not the secret of this store" in refused.stderr
    assert "Hint: Set RISKOPS_SECRET_KEY to the workspace's secret" in refused.stderr
    assert "Traceback" not in refused.stderr

    no_secret = {k: v for k, v in fleet.home_env(other).items() if k != "RISKOPS_SECRET_KEY"}
    refused = subprocess.run(
        [RISKOPS, "serve", "--port", str(_free_port())],
        env=no_secret,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "this process has none" in refused.stderr
    assert not (other / "secret.key").exists()  # refused before it made one


def _workers(supervisor: int) -> list[int]:
    """The uvicorn worker processes of a ``riskops serve --workers N`` supervisor."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    found = []
    for pid in map(int, children):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"resource_tracker" not in command:
            found.append(pid)
    return found


def _holder(workers: list[int], lock: Path) -> int | None:
    """The worker that has ``lock`` open (the WAL slot it claimed)."""
    for pid in workers:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except FileNotFoundError:
            continue
        for fd in fds:
            try:
                if Path(os.readlink(fd)) == lock:
                    return pid
            except OSError:
                continue
    return None


def _wal_lines(folder: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in folder.glob("wal-*.jsonl"))


def test_two_workers_each_with_a_wal_slot_and_a_killed_worker_replays(
    fleet: Fleet, start: Callable[..., Server]
) -> None:
    home = fleet.ctx.settings.home
    wal = fleet.tmp / "wal"
    server = start(
        fleet.home_env(home, RISKOPS_WAL_DIR=str(wal)), "--workers", "2", "--flush-interval", "3600"
    )
    _wait(lambda: len(_workers(server.process.pid)) == 2, "two workers", 30.0)
    slots = wal / "production"
    _wait(
        lambda: (slots / "worker-0" / "LOCK").exists() and (slots / "worker-1" / "LOCK").exists(),
        "a WAL slot per worker",
        READY_TIMEOUT_S,
    )
    rows = _requests(80)
    answered: list[str] = []

    def send_until(count: int) -> None:
        """Send the next rows until ``count`` are answered. A new connection per request: the
        kernel spreads them over both workers. A worker still loading its models answers 503
        (or refuses the connection): that request was not answered, and is sent again."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while len(answered) < count:
            try:
                with httpx.Client(base_url=server.base, timeout=10.0) as one:
                    answered.append(
                        _decide(one, fleet.key, f"W-{len(answered)}", rows[len(answered)])
                    )
            except (httpx.TransportError, AssertionError):
                assert time.monotonic() < deadline
                time.sleep(0.2)

    with httpx.Client(base_url=server.base, timeout=10.0) as client:
        send_until(40)
        victim = _workers(server.process.pid)[0]
        os.kill(victim, signal.SIGKILL)
        _wait(
            lambda: (
                victim not in _workers(server.process.pid)
                and len(_workers(server.process.pid)) == 2
            ),
            "uvicorn's replacement worker",
            60.0,
        )
        send_until(len(rows))  # the replacement may still be loading its models
        assert client.get("/healthz").status_code == 200
    os.kill(server.process.pid, signal.SIGTERM)  # each worker drains its WAL as it stops
    assert server.process.wait(timeout=60) == 0
    assert "Traceback" not in server.log_text()
    assert _stored(fleet.ctx, answered) == dict.fromkeys(answered, 1)
    assert _total(fleet.ctx) == len(answered)
    assert verify_decisions(fleet.ctx.store).ok
