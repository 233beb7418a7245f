"""The durable decision log on a real store: WAL durability and privacy, flushing and sealing,
tamper detection, a real database outage, a killed writer process, concurrency, erasure."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from riskops.audit import list_events, verify
from riskops.context import Context
from riskops.decisions.log import DecisionLog
from riskops.decisions.records import LoggedDecision
from riskops.decisions.sealing import verify_decisions
from riskops.decisions.sink import claim_decision_log
from riskops.errors import BackendError, ConfigError, ConflictError, InputError
from riskops.privacy.fingerprint import bind_secrets, check_fingerprint
from riskops.privacy.pseudonyms import pseudonym
from riskops.privacy.secrets import WorkspaceSecrets
from riskops.store import Store, open_store
from riskops.store.tables import DecisionRecord
from tests.conftest import REPO, admin_engine
from tests.insider import bypass_guards

SUBJECT = "CUSTOMER-SECRET-4242"
FEATURES = {
    "age": 37,
    "credit_amount": 98765.4321,
    "purpose": "yacht-purchase-marker",
    "duration_in_month": 48,
}
SECRET = bytes(range(32))


def clock() -> datetime:
    return datetime.now(UTC)


def entry(
    subject: str = SUBJECT, features: dict[str, Any] | None = None, **changes: Any
) -> LoggedDecision:
    values: dict[str, Any] = {
        "decision_id": str(uuid.uuid4()),
        "decided_at": clock(),
        "model_name": "credit-scoring",
        "version": 2,
        "digest": "sha256:" + "d" * 64,
        "route": "champion",
        "served": True,
        "subject_id": subject,
        "features": FEATURES if features is None else features,
        "score": 0.6125,
        "decision": "decline",
        "reasons": [
            {
                "code": "duration_in_month",
                "text": "Duration too long",
                "contribution": 0.41,
                "value": 48,
            }
        ],
        "latency_ms": 0.8,
        "fallback": False,
        "request_sha256": "e" * 64,
    }
    values.update(changes)
    return LoggedDecision(**values)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'store.db'}")


@pytest.fixture
def secrets() -> WorkspaceSecrets:
    return WorkspaceSecrets.from_secret(SECRET)


@pytest.fixture
def make_log(
    store: Store, secrets: WorkspaceSecrets, tmp_path: Path
) -> Iterator[Callable[..., DecisionLog]]:
    logs: list[DecisionLog] = []

    def make(start: bool = True, **options: Any) -> DecisionLog:
        options.setdefault("flush_interval", 0.02)
        options.setdefault("wal_dir", tmp_path / "wal")
        options.setdefault("store", store)
        log = DecisionLog(options.pop("store"), options.pop("wal_dir"), secrets, clock, **options)
        if start:
            log.start()
        logs.append(log)
        return log

    yield make
    for log in logs:
        log.close()


def stored_ids(store: Store) -> list[str]:
    with store.reading() as session:
        return list(session.scalars(select(DecisionRecord.id)))


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# -- the WAL -------------------------------------------------------------------------------------


def test_append_is_on_disk_with_no_subject_id_or_feature_value(
    make_log: Callable[..., DecisionLog], secrets: WorkspaceSecrets, tmp_path: Path
) -> None:
    log = make_log(start=False)
    logged = entry()
    log.append(logged)
    files = sorted((tmp_path / "wal").glob("wal-*.jsonl"))
    data = b"".join(f.read_bytes() for f in files)
    assert data.count(b"\n") == 1
    assert logged.decision_id.encode() in data
    assert pseudonym(secrets, SUBJECT).encode() in data
    for secret in (SUBJECT, "yacht-purchase-marker", "98765.4321", '"age":37', '"value":48'):
        assert secret.encode() not in data
    assert log.backlog() == 1
    pending = log.get(logged.decision_id)
    assert pending is not None
    assert (pending.flushed, pending.features, pending.decision) == (False, FEATURES, "decline")
    assert stored_ids(log.store) == []


def test_a_second_process_cannot_write_the_same_wal(make_log: Callable[..., DecisionLog]) -> None:
    make_log(start=False)
    with pytest.raises(ConflictError, match="Another process writes the decision log"):
        make_log(start=False)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"score": float("nan")}, "score must be finite"),
        ({"route": "side"}, "route must be one of champion, canary, shadow"),
        ({"route": "shadow", "served": True}, "a shadow decision is never served"),
        ({"decision_id": "42"}, "decision_id must be a UUID"),
        ({"decided_at": datetime(2026, 1, 1)}, "decided_at must be timezone-aware"),
        ({"features": {"when": datetime.now(UTC)}}, "features and reasons must be JSON values"),
    ],
)
def test_an_entry_the_store_could_not_hold_is_refused_before_the_wal(
    make_log: Callable[..., DecisionLog], changes: dict[str, Any], message: str
) -> None:
    log = make_log(start=False)
    with pytest.raises(InputError, match=message):
        log.append(entry(**changes))
    assert log.backlog() == 0


def test_a_torn_last_line_is_cut_and_the_rest_replayed(
    make_log: Callable[..., DecisionLog], store: Store, tmp_path: Path
) -> None:
    log = make_log(start=False)
    ids = [e.decision_id for e in (entry(), entry())]
    for decision_id in ids:
        log.append(entry(decision_id=decision_id))
    log.close()
    (segment,) = sorted((tmp_path / "wal").glob("wal-*.jsonl"))
    with segment.open("ab") as handle:
        handle.write(b'{"v":1,"id":"half-writ')  # a crash in the middle of an unacknowledged write
    reopened = make_log()
    assert reopened.backlog() == 2
    wait_for(lambda: reopened.backlog() == 0)
    assert sorted(stored_ids(store)) == sorted(ids)


def test_segments_rotate_and_flushed_ones_are_deleted(
    make_log: Callable[..., DecisionLog], store: Store, tmp_path: Path
) -> None:
    log = make_log(start=False, segment_bytes=3000, batch_size=7)
    for _ in range(40):
        log.append(entry())
    assert len(list((tmp_path / "wal").glob("wal-*.jsonl"))) > 3
    assert log.flush() == 40
    assert len(list((tmp_path / "wal").glob("wal-*.jsonl"))) == 1  # the one still written
    assert len(stored_ids(store)) == 40
    assert verify_decisions(store).ok


# -- flushing and sealing --------------------------------------------------------------------------


def test_flush_stores_and_seals(
    make_log: Callable[..., DecisionLog], store: Store, secrets: WorkspaceSecrets
) -> None:
    log = make_log(start=False, batch_size=5)
    logged = [entry(subject=f"C-{i % 3}", route="shadow", served=False) for i in range(12)]
    for e in logged:
        log.append(e)
    assert log.flush() == 12
    assert log.backlog() == 0
    with store.reading() as session:
        rows = session.scalars(select(DecisionRecord)).all()
    assert sorted(r.id for r in rows) == sorted(e.decision_id for e in logged)
    assert {r.subject for r in rows} == {pseudonym(secrets, f"C-{i}") for i in range(3)}
    assert all(r.batch_id is not None and not r.served for r in rows)
    sealed = list_events(store, action="decisions.batch_sealed")
    assert [e.payload["count"] for e in sealed] == [5, 5, 2]
    assert verify(store).ok
    report = verify_decisions(store)
    assert (report.ok, report.batches, report.decisions) == (True, 3, 12)
    found = log.get(logged[0].decision_id)
    assert found is not None
    assert (found.features, found.flushed, found.erased) == (FEATURES, True, False)
    assert found.reasons == [
        {
            "code": "duration_in_month",
            "text": "Duration too long",
            "contribution": 0.41,
            "value": 48,
        }
    ]


def test_nothing_is_flushed_under_a_secret_that_is_not_the_stores(
    make_log: Callable[..., DecisionLog], store: Store
) -> None:
    check_fingerprint(store, WorkspaceSecrets.from_secret(bytes(32)))  # the store's secret
    log = make_log(start=False)
    logged = entry()
    log.append(logged)
    with pytest.raises(ConfigError, match="is not the secret of this store"):
        log.flush()
    assert stored_ids(store) == []
    assert log.backlog() == 1  # kept in the WAL, never split into a second pseudonym


def test_processes_claim_free_wal_slots_and_a_successor_replays_its_slot(
    ctx: Context, tmp_path: Path
) -> None:
    secrets = bind_secrets(ctx.settings, ctx.store)
    base = tmp_path / "wal"
    first = claim_decision_log(ctx, base, secrets, flush_interval=3600)
    second = claim_decision_log(ctx, base, secrets, flush_interval=3600)
    try:
        assert (base / "worker-0" / "LOCK").is_file()
        assert (base / "worker-1" / "LOCK").is_file()
        left = entry()
        first.append(left)
    finally:
        second.close()
    # The first one dies without flushing: its lock goes with it (here: the WAL is closed
    # without a drain by closing its file lock alone).
    log = first._log  # type: ignore[attr-defined]
    log._stop.set()
    log.wal.close()
    successor = claim_decision_log(ctx, base, secrets, flush_interval=0.02)
    try:
        wait_for(lambda: successor.backlog() == 0)
        assert successor._log.get(left.decision_id) is not None  # type: ignore[attr-defined]
    finally:
        successor.close()
    assert stored_ids(ctx.store) == [left.decision_id]


def test_no_feature_value_is_written_outside_the_encrypted_record(
    make_log: Callable[..., DecisionLog], store: Store
) -> None:
    """Free text a client sends (a name and an IBAN where a category goes) reaches the store
    only inside the per-subject ciphertext, so erasure removes it: no table holds it in clear."""
    log = make_log(start=False)
    text = "Jane Q. Doe, IBAN DE89370400440532013000"
    for i in range(3):
        log.append(entry(subject=f"C-{i}", features={**FEATURES, "purpose": text}))
    assert log.flush() == 3
    schema = sqlalchemy.MetaData()
    schema.reflect(bind=store.engine)
    with store.reading() as session:
        dump = repr([session.execute(select(table)).all() for table in schema.sorted_tables])
    tables = set(schema.tables)
    assert "monitoring_observations" not in tables
    assert "Jane" not in dump
    assert "DE89" not in dump
    assert "yacht-purchase-marker" not in dump


def test_a_replay_after_commit_but_before_checkpoint_duplicates_nothing(
    make_log: Callable[..., DecisionLog], store: Store, tmp_path: Path
) -> None:
    log = make_log(start=False)
    for _ in range(30):
        log.append(entry())
    log.close()
    shutil.copytree(tmp_path / "wal", tmp_path / "wal-before")
    flushed = make_log(start=False)
    assert flushed.flush() == 30
    flushed.close()
    # The crash: the store committed, the checkpoint never reached the disk.
    shutil.rmtree(tmp_path / "wal")
    (tmp_path / "wal-before").rename(tmp_path / "wal")
    replayed = make_log(start=False)
    assert replayed.backlog() == 30
    assert replayed.flush() == 30
    assert replayed.backlog() == 0
    ids = stored_ids(store)
    assert len(ids) == len(set(ids)) == 30
    assert len(list_events(store, action="decisions.batch_sealed")) == 1


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda s, d: s.execute(delete(DecisionRecord).where(DecisionRecord.id == d)),
            id="delete",
        ),
        pytest.param(
            lambda s, d: s.execute(
                update(DecisionRecord).where(DecisionRecord.id == d).values(decision="approve")
            ),
            id="edit",
        ),
        pytest.param(
            lambda s, d: s.execute(
                update(DecisionRecord).where(DecisionRecord.id == d).values(score=0.1)
            ),
            id="edit-score",
        ),
        pytest.param(
            lambda s, d: s.execute(
                update(DecisionRecord).where(DecisionRecord.id == d).values(client="bank-b")
            ),
            id="move-to-another-client",
        ),
        pytest.param(
            lambda s, d: s.execute(
                update(DecisionRecord).where(DecisionRecord.id == d).values(client=None)
            ),
            id="drop-the-client",
        ),
    ],
)
def test_a_deleted_or_edited_decision_names_its_batch(
    make_log: Callable[..., DecisionLog], store: Store, tamper: Callable[..., Any]
) -> None:
    log = make_log(start=False, batch_size=4)
    for _ in range(12):
        log.append(entry(client="bank-a"))
    log.flush()
    with store.reading() as session:
        victim = session.execute(
            select(DecisionRecord.id, DecisionRecord.batch_id)
            .where(DecisionRecord.batch_id == 2)
            .order_by(DecisionRecord.id)
            .offset(1)
        ).first()
    assert victim is not None
    with store.transaction() as session:
        bypass_guards(session.connection(), "decisions")
        tamper(session, victim.id)
    report = verify_decisions(store)
    assert not report.ok
    assert report.broken_batch == 2
    assert report.batches == 1  # batch 1 still verifies
    assert "batch 2" in (report.reason or "")
    assert verify(store).ok  # the chain itself is intact: only the Merkle root tells


def test_the_client_travels_in_the_wal_to_the_store_and_old_lines_replay_without_one(
    make_log: Callable[..., DecisionLog], store: Store, tmp_path: Path
) -> None:
    log = make_log(start=False)
    mine, legacy, outside = entry(client="bank-a"), entry(), entry()
    for e in (mine, legacy, outside):
        log.append(e)
    log.close()
    (segment,) = sorted((tmp_path / "wal").glob("wal-*.jsonl"))
    lines = segment.read_bytes().splitlines()
    assert [orjson.loads(line).get("client") for line in lines] == ["bank-a", None, None]
    # A line written before clients existed has no "client" key at all.
    old = orjson.loads(lines[1])
    del old["client"]
    segment.write_bytes(b"\n".join([lines[0], orjson.dumps(old), lines[2]]) + b"\n")
    reopened = make_log(start=False)
    pending = reopened.get(mine.decision_id)
    assert pending is not None
    assert (pending.client, pending.flushed) == ("bank-a", False)
    old_pending = reopened.get(legacy.decision_id)
    assert old_pending is not None
    assert old_pending.client is None
    assert reopened.flush() == 3
    with store.reading() as session:
        clients = dict(session.execute(select(DecisionRecord.id, DecisionRecord.client)).all())
    assert clients == {
        mine.decision_id: "bank-a",
        legacy.decision_id: None,
        outside.decision_id: None,
    }
    stored = reopened.get(mine.decision_id)
    assert stored is not None
    assert (stored.client, stored.flushed, stored.as_dict()["client"]) == ("bank-a", True, "bank-a")
    assert verify_decisions(store).ok


def test_riskops_audit_verify_fails_on_a_deleted_decision(ctx: Context, tmp_path: Path) -> None:
    from riskops.cli.app import app

    log = DecisionLog.open(
        store=ctx.store, wal_dir=tmp_path / "wal", settings=ctx.settings, clock=ctx.clock
    )
    first, second = entry(), entry()
    log.append(first)
    log.append(second)
    log.close()
    env = {"RISKOPS_HOME": str(ctx.settings.home)}
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "decision log verified: 2 decisions in" in ok.output
    with ctx.store.transaction() as session:
        bypass_guards(session.connection(), "decisions")
        session.execute(delete(DecisionRecord).where(DecisionRecord.id == first.decision_id))
    broken = runner.invoke(app, ["audit", "verify"], env=env)
    assert broken.exit_code == 1
    assert "decision log BROKEN" in broken.output
    assert f"decision {first.decision_id} was deleted" in " ".join(broken.output.split())


# -- a real database outage (PostgreSQL refusing connections) -------------------------------------


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[tuple[str, Callable[[bool], None]]]:
    """A database of its own, and a switch that makes it unreachable: ALLOW_CONNECTIONS false
    plus terminating every session on it, so that connecting really fails."""
    name = f"riskops_outage_{uuid.uuid4().hex[:10]}"
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
    try:
        yield url, reachable
    finally:
        reachable(True)
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.mark.integration
def test_decisions_survive_a_database_outage(
    make_log: Callable[..., DecisionLog], pg_database: tuple[str, Callable[[bool], None]]
) -> None:
    url, reachable = pg_database
    store = open_store(url, connect_args={"connect_timeout": 2})
    log = make_log(store=store, flush_interval=0.02, max_backoff=0.2, batch_size=50)
    before = [entry() for _ in range(20)]
    for e in before:
        log.append(e)
    wait_for(lambda: log.backlog() == 0)

    reachable(False)
    during = [entry() for _ in range(150)]
    for e in during:
        log.append(e)  # serving goes on: every append is acknowledged
    wait_for(lambda: isinstance(log.last_error, BackendError))
    time.sleep(0.3)
    assert log.backlog() == 150
    assert log.get(during[0].decision_id) is not None  # still readable from the WAL

    reachable(True)
    wait_for(lambda: log.backlog() == 0)
    ids = stored_ids(store)
    assert sorted(ids) == sorted(e.decision_id for e in before + during)
    assert verify(store).ok
    assert verify_decisions(store).ok
    store.dispose()


# -- a killed writer ------------------------------------------------------------------------------

WRITER = """
import sys, uuid
from datetime import UTC, datetime
from pathlib import Path
from riskops.privacy.secrets import WorkspaceSecrets
from riskops.decisions.log import DecisionLog
from riskops.decisions.records import LoggedDecision
from riskops.store import open_store

url, wal, interval = sys.argv[1:]
log = DecisionLog.open(store=open_store(url), wal_dir=Path(wal),
                       secrets=WorkspaceSecrets.from_secret(bytes(range(32))),
                       clock=lambda: datetime.now(UTC), flush_interval=float(interval))
i = 0
while True:
    decision_id = str(uuid.uuid4())
    log.append(LoggedDecision(decision_id, datetime.now(UTC), "credit-scoring", 2, "sha256:x",
                              "champion", True, f"C-{i}", {"age": i}, 0.5, "approve", [], 0.5,
                              False, "e" * 64))
    print(decision_id, flush=True)  # acknowledged: the caller got its answer
    i += 1
"""


@pytest.mark.parametrize("flush_interval", [3600.0, 0.005], ids=["never-flushed", "flushing"])
def test_every_acknowledged_decision_survives_sigkill(
    make_log: Callable[..., DecisionLog], store: Store, tmp_path: Path, flush_interval: float
) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    url = store.engine.url.render_as_string(hide_password=False)
    process = subprocess.Popen(
        [sys.executable, str(script), url, str(tmp_path / "wal"), str(flush_interval)],
        stdout=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert process.stdout is not None
    acknowledged = []
    while len(acknowledged) < 300:
        line = process.stdout.readline()
        assert line, "the writer died"
        acknowledged.append(line.decode().strip())
    process.send_signal(signal.SIGKILL)
    process.wait()
    acknowledged += [line.decode().strip() for line in process.stdout.readlines()]
    process.stdout.close()

    log = make_log(start=False)
    log.flush()
    ids = stored_ids(store)
    assert len(ids) == len(set(ids))  # nothing twice
    assert set(acknowledged) <= set(ids)  # nothing acknowledged is missing
    assert verify(store).ok
    assert verify_decisions(store).ok


GROUP_WRITER = """
import sys, uuid
from datetime import UTC, datetime
from pathlib import Path
from riskops.privacy.secrets import WorkspaceSecrets
from riskops.decisions.log import DecisionLog
from riskops.decisions.records import LoggedDecision
from riskops.store import open_store

url, wal = sys.argv[1:]
log = DecisionLog.open(store=open_store(url), wal_dir=Path(wal),
                       secrets=WorkspaceSecrets.from_secret(bytes(range(32))),
                       clock=lambda: datetime.now(UTC), flush_interval=0.005)
i = 0
while True:
    ids = [str(uuid.uuid4()) for _ in range(50)]
    print("begin", *ids, flush=True)
    log.append_many([LoggedDecision(d, datetime.now(UTC), "credit-scoring", 2, "sha256:x",
                                    "champion", True, f"C-{i}-{k}", {"age": k}, 0.5, "approve",
                                    [], 0.5, False, "e" * 64) for k, d in enumerate(ids)])
    print("done", flush=True)  # acknowledged: the batch request got its answer
    i += 1
"""


def test_every_acknowledged_batch_survives_sigkill_whole(
    make_log: Callable[..., DecisionLog], store: Store, tmp_path: Path
) -> None:
    script = tmp_path / "group_writer.py"
    script.write_text(GROUP_WRITER)
    url = store.engine.url.render_as_string(hide_password=False)
    process = subprocess.Popen(
        [sys.executable, str(script), url, str(tmp_path / "wal")],
        stdout=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])},
    )
    assert process.stdout is not None
    begun: list[list[str]] = []
    acknowledged: list[str] = []
    while len(acknowledged) < 20 * 50:
        words = process.stdout.readline().decode().split()
        assert words, "the writer died"
        if words[0] == "begin":
            begun.append(words[1:])
        else:
            acknowledged += begun[-1]
    process.send_signal(signal.SIGKILL)
    process.wait()
    for words in (line.decode().split() for line in process.stdout.readlines()):
        if words and words[0] == "begin":
            begun.append(words[1:])
        elif words:
            acknowledged += begun[-1]
    process.stdout.close()

    log = make_log(start=False)
    log.flush()
    ids = stored_ids(store)
    assert len(ids) == len(set(ids))  # nothing twice
    assert set(acknowledged) <= set(ids)  # nothing acknowledged is missing
    stored = set(ids)
    for batch in begun:  # a batch is in the log whole, or not at all
        assert len(stored.intersection(batch)) in (0, len(batch))
    assert verify(store).ok
    assert verify_decisions(store).ok


def test_append_many_is_one_fsync_and_each_entry_reads_back_and_is_stored(
    make_log: Callable[..., DecisionLog], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = make_log(start=False, batch_size=64)
    log.append(entry())  # the segment exists: the group's write is all that is synced
    syncs = 0
    real_sync = os.fdatasync

    def counting_sync(fd: int) -> None:
        nonlocal syncs
        syncs += 1
        real_sync(fd)

    monkeypatch.setattr(os, "fdatasync", counting_sync)
    entries = [
        entry(subject=f"B-{i}", decision="refer" if i % 3 else "approve") for i in range(200)
    ]
    log.append_many(entries)
    assert syncs == 1
    assert log.backlog() == 201
    pending = log.get(entries[137].decision_id)
    assert pending is not None
    assert (pending.flushed, pending.features, pending.decision) == (False, FEATURES, "refer")
    with pytest.raises(InputError, match="route must be one of"):
        log.append_many([entry(), entry(route="side")])  # refused before anything is written
    assert log.backlog() == 201
    assert log.flush() == 201
    assert set(stored_ids(store)) >= {e.decision_id for e in entries}
    assert verify_decisions(store).ok


# -- concurrency and erasure ----------------------------------------------------------------------


def test_eight_threads_each_decision_stored_once(
    make_log: Callable[..., DecisionLog], store: Store
) -> None:
    log = make_log(flush_interval=0.01, batch_size=100)
    ids: list[list[str]] = [[] for _ in range(8)]

    def work(n: int) -> None:
        for i in range(200):
            e = entry(subject=f"T{n}-{i % 20}")
            log.append(e)
            ids[n].append(e.decision_id)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_for(lambda: log.backlog() == 0)
    with store.reading() as session:
        count = session.scalar(select(func.count()).select_from(DecisionRecord))
    assert count == 1600
    assert sorted(stored_ids(store)) == sorted(i for chunk in ids for i in chunk)
    assert verify(store).ok
    assert verify_decisions(store).ok


def test_erasure_shreds_features_and_everything_still_verifies(
    make_log: Callable[..., DecisionLog], store: Store, secrets: WorkspaceSecrets
) -> None:
    log = make_log(start=False)
    erased, kept = entry(subject="C-1"), entry(subject="C-2")
    later = entry(subject="C-1")
    log.append(erased)
    log.append(kept)
    log.append(later)  # still in the backlog: erasure flushes it first
    assert log.erase_subject("C-1", actor="oscar", role="operator") is True
    for decision_id in (erased.decision_id, later.decision_id):
        found = log.get(decision_id)
        assert found is not None
        assert (found.erased, found.features, found.decision) == (True, None, "decline")
    still = log.get(kept.decision_id)
    assert still is not None
    assert (still.erased, still.features) == (False, FEATURES)
    (event,) = list_events(store, action="subject.erased")
    assert event.object_id == pseudonym(secrets, "C-1")
    assert verify(store).ok
    assert verify_decisions(store).ok


# -- the writer thread and the flusher process ---------------------------------------------------


def test_async_appends_share_group_commits_and_are_durable_on_return(
    make_log: Callable[..., DecisionLog], store: Store, tmp_path: Path
) -> None:
    log = make_log(start=False)
    entries = [entry(subject=f"A-{i}") for i in range(64)]
    syncs = 0
    real_sync = os.fdatasync

    def counting_sync(fd: int) -> None:
        nonlocal syncs
        syncs += 1
        real_sync(fd)

    async def append_all() -> None:
        await asyncio.gather(*(log.append_async(e) for e in entries))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fdatasync", counting_sync)
        asyncio.run(append_all())
    data = b"".join(f.read_bytes() for f in sorted((tmp_path / "wal").glob("wal-*.jsonl")))
    assert data.count(b"\n") == 64
    assert all(e.decision_id.encode() in data for e in entries)
    assert 1 <= syncs < 64  # grouped: far fewer fsyncs than appends
    assert log.backlog() == 64
    assert log.flush() == 64
    assert sorted(stored_ids(store)) == sorted(e.decision_id for e in entries)


def test_a_failed_fsync_fails_the_append_and_every_later_one(
    make_log: Callable[..., DecisionLog],
) -> None:
    log = make_log(start=False)
    log.append(entry())

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fdatasync", broken)
        with pytest.raises(BackendError, match=r"could not write its WAL.*Input/output error"):
            log.append(entry())

        async def one() -> None:
            await log.append_async(entry())

        with pytest.raises(BackendError, match="could not write its WAL") as failed:
            asyncio.run(one())
        assert failed.value.hint is not None
        assert "restart the server" in failed.value.hint
    with pytest.raises(BackendError):  # the disk is not trusted again until a restart
        log.append(entry())


def test_a_flusher_process_stores_what_the_server_synced(
    make_log: Callable[..., DecisionLog], store: Store
) -> None:
    log = make_log(flusher="process", batch_size=50)
    assert log.mode == "process"
    entries = [entry(subject=f"P-{i % 30}") for i in range(120)]
    for e in entries:
        log.append(e)
    assert log.flush(timeout=60) == 120  # waits for the other process
    assert log.backlog() == 0
    assert sorted(stored_ids(store)) == sorted(e.decision_id for e in entries)
    assert verify(store).ok
    assert verify_decisions(store).ok
    found = log.get(entries[0].decision_id)
    assert found is not None
    assert (found.flushed, found.features) == (True, FEATURES)


def test_a_flusher_process_that_dies_is_started_again(
    make_log: Callable[..., DecisionLog], store: Store
) -> None:
    log = make_log(flusher="process")
    restarts: list[int] = []
    log.on_flusher_restart = lambda: restarts.append(1)
    assert log.check_flusher() is True
    assert restarts == []  # alive: no restart counted
    first = log._process
    assert first is not None
    first.kill()
    first.join(10)
    pending = entry()
    log.append(pending)
    assert log.check_flusher() is False  # it was gone; another one runs now
    assert log._process is not None
    assert log._process.pid != first.pid
    assert restarts == [1]  # the server counts it (riskops_decision_log_flusher_restarts_total)
    log.flush(timeout=60)
    assert stored_ids(store) == [pending.decision_id]


EXITS_WITHOUT_CLOSE = """
import sys, uuid
from datetime import UTC, datetime
from pathlib import Path
from riskops.privacy.secrets import WorkspaceSecrets
from riskops.decisions.log import DecisionLog
from riskops.decisions.records import LoggedDecision
from riskops.store import open_store

if __name__ == "__main__":
    url, wal = sys.argv[1:]
    log = DecisionLog.open(store=open_store(url), wal_dir=Path(wal),
                           secrets=WorkspaceSecrets.from_secret(bytes(range(32))),
                           clock=lambda: datetime.now(UTC), flush_interval=3600.0,
                           flusher="process")
    for i in range(3):
        decision_id = str(uuid.uuid4())
        log.append(LoggedDecision(decision_id, datetime.now(UTC), "credit-scoring", 2,
                                  "sha256:x", "champion", True, f"X-{i}", {"age": i}, 0.5,
                                  "approve", [], 0.5, False, "e" * 64))
        print(decision_id, flush=True)
    raise RuntimeError("the program fails before it closes its log")
"""


def test_a_program_that_exits_without_closing_drains_its_flusher_and_ends(
    store: Store, tmp_path: Path
) -> None:
    """multiprocessing's exit hook waits for its children after a SIGTERM, which the flusher
    ignores: without the log's own hook such a program never ended."""
    script = tmp_path / "exits.py"
    script.write_text(EXITS_WITHOUT_CLOSE)
    url = store.engine.url.render_as_string(hide_password=False)
    finished = subprocess.run(
        [sys.executable, str(script), url, str(tmp_path / "wal")],
        capture_output=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert finished.returncode == 1
    assert b"the program fails before it closes its log" in finished.stderr
    acknowledged = finished.stdout.decode().split()
    assert len(acknowledged) == 3
    assert sorted(stored_ids(store)) == sorted(acknowledged)  # drained at exit


def test_a_background_pass_seals_full_batches_and_leaves_late_arrivals_for_the_next(
    make_log: Callable[..., DecisionLog], store: Store
) -> None:
    """Entries synced during a pass's commits wait for the next pass, so a steady trickle is
    sealed in batches of what arrived in a flush interval, not of what arrived in one commit."""
    log = make_log(start=False, batch_size=50)
    for _ in range(120):
        log.append(entry())
    sizes: list[int] = []

    def trickle() -> None:  # three more arrive during each batch's commit
        with store.reading() as session:
            sizes.append(session.scalar(select(func.count()).select_from(DecisionRecord)))
        for _ in range(3):
            log.append(entry())

    assert log._flusher.flush_due(trickle) == 126
    assert sizes == [50, 100, 126]  # 50, 50, then all 26 durable: one partial batch, no more
    assert log.backlog() == 3  # for the next pass
    assert log.flush() == 3
    assert verify_decisions(store).ok


def test_a_store_in_memory_keeps_the_flusher_in_a_thread(
    secrets: WorkspaceSecrets, tmp_path: Path
) -> None:
    memory = open_store("sqlite://")
    log = DecisionLog(memory, tmp_path / "wal", secrets, clock, flusher="process")
    try:
        assert log.mode == "thread"
    finally:
        log.close()


def test_an_unknown_flusher_mode_is_refused(
    store: Store, secrets: WorkspaceSecrets, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="flusher one of thread, process"):
        DecisionLog(store, tmp_path / "wal", secrets, clock, flusher="cron")  # type: ignore[arg-type]


def test_a_lone_append_syncs_on_its_own_thread_and_a_busy_log_groups(
    make_log: Callable[..., DecisionLog],
) -> None:
    log = make_log(start=False)
    log.append(entry())
    assert log.wal._writer is None  # no hand-off: nothing else was being written
    release = threading.Event()
    real_sync = os.fdatasync

    def slow_sync(fd: int) -> None:
        release.wait(5)
        real_sync(fd)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fdatasync", slow_sync)
        first = threading.Thread(target=log.append, args=(entry(),))
        first.start()  # writes on its own thread, held in fsync
        deadline = time.monotonic() + 5
        while not log.wal._busy:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        others = [threading.Thread(target=log.append, args=(entry(),)) for _ in range(5)]
        for thread in others:
            thread.start()
        while len(log.wal._pending) < 5:  # queued behind the busy write, for the writer thread
            assert time.monotonic() < deadline
            time.sleep(0.001)
        release.set()
        for thread in [first, *others]:
            thread.join(10)
    assert log.backlog() == 7
    assert log.wal._writer is not None


def test_a_flusher_process_that_keeps_dying_is_restarted_after_a_pause(
    make_log: Callable[..., DecisionLog], store: Store
) -> None:
    log = make_log(flusher="process")

    def kill() -> Any:
        process = log._process
        assert process is not None
        process.kill()
        process.join(10)
        return process

    kill()
    assert log.check_flusher() is False  # died soon after its start: restarted at once,
    assert log._restart_delay == 2.0  # and the next restart waits 2 s
    second = kill()
    assert log.check_flusher() is False  # within the pause: not started again yet
    assert log._process is second
    log._restart_at = 0.0  # the pause is over
    assert log.check_flusher() is False
    assert log._process is not second
    assert log._restart_delay == 4.0  # doubling, up to max_backoff
    pending = entry()
    log.append(pending)
    log.flush(timeout=60)
    assert stored_ids(store) == [pending.decision_id]
