"""A slow or dead database must not hurt scoring, and a killed flusher does not skew the
backlog: real ``riskops serve`` processes (and a decision log in process) on a real PostgreSQL
reached through a TCP proxy the test controls.
The proxy can **freeze** (keep every connection open, forward nothing: a database that stopped
answering) or **cut** (close every connection and each new one at once: a database that is
gone), and restore. The machine's PostgreSQL itself is never touched."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from riskops.audit import verify
from riskops.context import Context, open_context
from riskops.decisions import wal as wal_module
from riskops.decisions.log import DecisionLog
from riskops.decisions.sealing import verify_decisions
from riskops.errors import BackendError
from riskops.privacy.secrets import load_secrets
from riskops.serving.auth import create_key
from riskops.store import open_store
from riskops.training.pipeline import train
from riskops.workspace import init_workspace
from tests.conftest import PEOPLE, SPEC, admin_engine, approve_and_deploy
from tests.integration.test_serving_durability import (
    DRAIN_TIMEOUT_S,
    MODEL,
    _backlog,
    _decide,
    _requests,
    _stored,
    _total,
    _wait,
    servers,
)
from tests.unit.decisions.test_decision_log import entry

pytestmark = [pytest.mark.integration, pytest.mark.slow]

READ_TIMEOUT_S = 1.0  # RISKOPS_DB_READ_TIMEOUT of the servers here
GET_BOUND_S = READ_TIMEOUT_S + 3.0  # a GET's answer, however the database behaves


class Proxy:
    """A TCP proxy on 127.0.0.1 in front of ``upstream`` (threads), to freeze, cut, restore."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._cond = threading.Condition()
        self._state = "open"  # open | frozen | cut
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def freeze(self) -> None:
        """Forward nothing more; every connection stays open (a database that hangs)."""
        with self._cond:
            self._state = "frozen"

    def cut(self) -> None:
        """Close every connection, and each new one at once (a database that is gone)."""
        with self._cond:
            self._state = "cut"
            sockets, self._sockets = self._sockets, []
            self._cond.notify_all()
        for sock in sockets:
            _shut(sock)

    def restore(self) -> None:
        with self._cond:
            self._state = "open"
            self._cond.notify_all()

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _open(self) -> bool:
        """Wait while frozen; whether forwarding may go on."""
        with self._cond:
            while self._state == "frozen":
                self._cond.wait()
            return self._state == "open"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if not self._open():
            _shut(client)
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _shut(client)
            return
        upstream.settimeout(None)
        with self._cond:
            self._sockets += [client, upstream]
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        self._pump(upstream, client)

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self._open():
                    break
                target.sendall(data)
        except OSError:
            pass
        _shut(source)
        _shut(target)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already shut by the other side's pump
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@dataclass(frozen=True)
class Faulty:
    ctx: Context  # through the proxy, as the servers
    direct: Context  # straight to PostgreSQL, for the test's own checks
    proxy: Proxy
    url: str  # the store's URL through the proxy


@pytest.fixture
def faulty(postgres_url: str, clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Faulty]:
    """A workspace whose riskops store is a PostgreSQL database of its own, reached through a
    proxy (MLflow stays local); servers read decisions with a 1 s timeout."""
    name = f"riskops_faults_{uuid.uuid4().hex[:10]}"
    admin = admin_engine(postgres_url)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    base = make_url(postgres_url).set(database=name)
    proxy = Proxy((base.host or "127.0.0.1", base.port or 5432))
    url = base.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    clean_env.setenv("RISKOPS_DATABASE_URL", url)
    clean_env.setenv("RISKOPS_DB_READ_TIMEOUT", str(READ_TIMEOUT_S))
    clean_env.setenv("RISKOPS_DB_CONNECT_TIMEOUT", "2")
    contexts: list[Context] = []
    try:
        settings = init_workspace(tmp_path / "ws", people=PEOPLE)
        contexts.append(open_context(settings))
        direct = base.render_as_string(hide_password=False)
        contexts.append(open_context(_with_url(settings, direct)))
        yield Faulty(contexts[0], contexts[1], proxy, url)
    finally:
        proxy.close()
        for ctx in contexts:
            ctx.close()
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _with_url(settings: Any, url: str) -> Any:
    import dataclasses

    return dataclasses.replace(settings, database_url=url)


def _timed_get(base: str, key: str, decision_id: str) -> tuple[int, float, dict[str, str]]:
    started = time.monotonic()
    with httpx.Client(base_url=base, timeout=30.0) as client:
        answer = client.get(
            f"/v1/decisions/{decision_id}", headers={"Authorization": f"Bearer {key}"}
        )
    return answer.status_code, time.monotonic() - started, dict(answer.headers)


def test_a_frozen_database_neither_stops_scoring_nor_hangs_decision_reads(
    faulty: Faulty, tmp_path: Path
) -> None:
    ctx = faulty.direct
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    key = create_key(
        ctx, "portal", client="acme", scopes=["score", "read_decisions"], actor="oscar"
    ).token
    rows = _requests(60)
    answered: list[str] = []
    with servers(ctx, tmp_path) as start:
        server = start("--refresh-seconds", "0.5")
        with httpx.Client(base_url=server.base, timeout=10.0) as client:
            answered += [_decide(client, key, f"B-{i}", f) for i, f in enumerate(rows[:10])]
            _wait(lambda: _backlog(client) == 0, "the first flush", DRAIN_TIMEOUT_S)

            faulty.proxy.freeze()
            time.sleep(1.0)  # the flusher and the refresher are now stuck on the database
            stored_ids = answered[:10]
            unknown = [str(uuid.uuid4()) for _ in range(30)]
            wanted = [*(stored_ids * 3), *unknown]  # 60 reads, each needing the database
            with ThreadPoolExecutor(len(wanted)) as pool:
                reads = [pool.submit(_timed_get, server.base, key, i) for i in wanted]
                latencies: list[float] = []
                for i, features in enumerate(rows[10:40]):  # scoring goes on meanwhile
                    started = time.monotonic()
                    answered.append(_decide(client, key, f"F-{i}", features))
                    latencies.append(time.monotonic() - started)
                batch = client.post(
                    f"/v1/models/{MODEL}/decisions:batch",
                    json={
                        "subjects": [
                            {"subject_id": f"FB-{i}", "features": f}
                            for i, f in enumerate(rows[40:50])
                        ]
                    },
                    headers={"Authorization": f"Bearer {key}"},
                )
                results = [r.result() for r in reads]
            assert batch.status_code == 200, batch.text
            answered += [d["decision_id"] for d in batch.json()["decisions"]]
            assert max(latencies) < 1.0, latencies  # generous for a loaded 2-core machine
            assert {status for status, _, _ in results} <= {503}, results
            assert max(took for _, took, _ in results) < GET_BOUND_S, results
            assert all(headers["retry-after"] for _, _, headers in results)
            # A decision made during the freeze is answered from the WAL, at once.
            pending = _timed_get(server.base, key, answered[-1])
            assert pending[0] == 200
            assert pending[1] < GET_BOUND_S
            assert _backlog(client) == len(answered) - 10

            faulty.proxy.restore()
            answered += [_decide(client, key, f"A-{i}", f) for i, f in enumerate(rows[50:])]
            _wait(lambda: _backlog(client) == 0, "the backlog's drain", DRAIN_TIMEOUT_S)
            status, _, _ = _timed_get(server.base, key, stored_ids[0])
            assert status == 200
        assert "Traceback" not in server.log_text()

    assert len(set(answered)) == len(answered) == len(rows)
    assert _stored(ctx, answered) == dict.fromkeys(answered, 1)
    assert _total(ctx) == len(answered)
    assert verify(ctx.store).ok
    assert verify_decisions(ctx.store).ok


def _readyz(client: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/readyz").json()
    return body


def test_a_server_started_while_the_database_is_gone_serves_its_snapshot_then_drains(
    faulty: Faulty, tmp_path: Path
) -> None:
    ctx = faulty.direct
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    key = create_key(
        ctx, "portal", client="acme", scopes=["score", "read_decisions"], actor="oscar"
    ).token
    rows = _requests(50)
    answered: list[str] = []
    with servers(ctx, tmp_path) as start:
        first = start("--refresh-seconds", "0.5")  # verifies the deployments: the snapshot
        with httpx.Client(base_url=first.base, timeout=10.0) as client:
            assert _readyz(client)["source"] == "store"
            answered += [_decide(client, key, f"S-{i}", f) for i, f in enumerate(rows[:10])]
            _wait(lambda: _backlog(client) == 0, "the first flush", DRAIN_TIMEOUT_S)
        os.kill(first.process.pid, 15)
        first.process.wait(timeout=30)

        faulty.proxy.cut()
        second = start("--refresh-seconds", "0.5")  # ready (200) although the store is gone
        with httpx.Client(base_url=second.base, timeout=10.0) as client:
            ready = _readyz(client)
            assert (ready["ready"], ready["source"]) == (True, "snapshot")
            assert ready["snapshot_at"]
            assert [x["version"] for x in ready["loaded"]] == [1]
            metrics = client.get("/metrics").text
            assert 'riskops_routing_source{source="snapshot"} 1.0' in metrics
            during = [_decide(client, key, f"D-{i}", f) for i, f in enumerate(rows[10:40])]
            answered += during
            assert _backlog(client) == len(during)
            shown = client.get(
                f"/v1/decisions/{during[0]}", headers={"Authorization": f"Bearer {key}"}
            )
            assert shown.status_code == 200  # from the WAL, without the store
            assert shown.json()["decision_id"] == during[0]

            faulty.proxy.restore()
            _wait(lambda: _readyz(client)["source"] == "store", "the switch to the store", 30.0)
            answered += [_decide(client, key, f"A-{i}", f) for i, f in enumerate(rows[40:])]
            _wait(lambda: _backlog(client) == 0, "the backlog's drain", DRAIN_TIMEOUT_S)
            assert 'riskops_routing_source{source="store"} 1.0' in client.get("/metrics").text
        assert "Could not migrate" not in second.log_text()

    assert len(set(answered)) == len(answered) == len(rows)
    assert _stored(ctx, answered) == dict.fromkeys(answered, 1)
    assert _total(ctx) == len(answered)
    assert verify(ctx.store).ok
    assert verify_decisions(ctx.store).ok


def test_reading_a_pending_decision_during_an_outage_reads_one_line_not_the_wal(
    faulty: Faulty, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(faulty.url, migrate=False, connect_timeout=2, statement_timeout=5)
    log = DecisionLog(
        store,
        tmp_path / "wal",
        load_secrets(faulty.ctx.settings),
        faulty.ctx.clock,
        flush_interval=0.05,
        segment_bytes=512 * 1024,
    )
    log.start()
    try:
        faulty.proxy.cut()
        entries = [entry(subject=f"O-{i % 97}") for i in range(4000)]
        for e in entries:
            log.append(e)
        assert log.backlog() == len(entries)
        scanned: list[int] = []
        real = wal_module._read_lines
        reader = threading.get_ident()  # the flusher thread reads its batches: not counted

        def counted(*args: Any) -> Any:
            if threading.get_ident() == reader:
                scanned.append(1)
            return real(*args)

        monkeypatch.setattr(wal_module, "_read_lines", counted)
        monkeypatch.setattr(wal_module.WalReader, "unflushed", None)  # any scan would fail
        for wanted in (entries[0], entries[2222], entries[-1]):
            found = log.get(wanted.decision_id)
            assert found is not None
            assert (found.decision_id, found.flushed) == (wanted.decision_id, False)
        with pytest.raises(BackendError, match="riskops database"):
            log.get(str(uuid.uuid4()))  # not pending: only the store could say, and it is gone
        assert scanned == []  # not one segment read for the reads
        monkeypatch.undo()

        faulty.proxy.restore()
        assert log.flush(timeout=60) >= 0
        _wait(lambda: log.backlog() == 0, "the drain", DRAIN_TIMEOUT_S)
        stored = _stored(faulty.direct, [e.decision_id for e in entries])
        assert stored == {e.decision_id: 1 for e in entries}
        again = log.get(entries[2222].decision_id)
        assert again is not None
        assert again.flushed is True
    finally:
        log.close()
        store.dispose()


def _flusher_pid(server_pid: int) -> int | None:
    """The PID of the server's flusher process (a spawned child that is not the resource
    tracker), or None while there is none."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == server_pid and "spawn_main" in cmdline and "resource_tracker" not in cmdline:
            return int(proc.name)
    return None


def test_the_backlog_gauge_stays_the_real_backlog_across_killed_flushers(
    faulty: Faulty, tmp_path: Path
) -> None:
    ctx = faulty.direct
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    key = create_key(ctx, "portal", client="acme", scopes=["score"], actor="oscar").token
    rows = _requests(40)
    answered: list[str] = []
    with servers(ctx, tmp_path) as start:
        server = start("--refresh-seconds", "0.5")
        with httpx.Client(base_url=server.base, timeout=10.0) as client:
            for round_ in range(4):
                chunk = rows[10 * round_ : 10 * round_ + 10]
                answered += [_decide(client, key, f"K{round_}-{i}", f) for i, f in enumerate(chunk)]
                _wait(lambda: _backlog(client) == 0, "the flush", DRAIN_TIMEOUT_S)
                assert len(_stored(ctx, answered)) == len(answered)
                if round_ == 3:
                    break
                killed = _flusher_pid(server.process.pid)
                assert killed is not None
                os.kill(killed, 9)
                _wait(
                    lambda: _flusher_pid(server.process.pid) not in (None, killed),  # noqa: B023
                    "a new flusher",
                    30.0,
                )
            assert _backlog(client) == 0
        assert "the flusher process is gone" in server.log_text()
    assert _stored(ctx, answered) == dict.fromkeys(answered, 1)
    assert verify_decisions(ctx.store).ok
