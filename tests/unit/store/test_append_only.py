"""Migration 0008's refusing triggers, on SQLite and PostgreSQL alike: the head moves only to
the newest stored event, decisions and the Merkle log's tables are append-only, a sealed
batch's row changes once (its ``audit_seq``, from 0) and never again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError

from riskops.audit import record, verify
from riskops.store import Store, open_store
from riskops.store.tables import (
    AuditCheckpointRecord,
    AuditTreeNode,
    DecisionBatchRecord,
    DecisionRecord,
    table_of,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    yield from _seeded(store_url)


@pytest.fixture
def pg_store(pg_schema_url: str) -> Iterator[Store]:
    """PostgreSQL only: SQLite has no TRUNCATE (an unqualified DELETE is one, refused above)."""
    yield from _seeded(pg_schema_url)


def _seeded(url: str) -> Iterator[Store]:
    s = open_store(url)
    with s.transaction() as session:
        for i in range(3):
            record(
                session,
                actor="alice",
                role="developer",
                action="version.registered",
                object_type="model_version",
                object_id=f"m@{i}",
                payload={"i": i},
                at=T0,
            )
        session.execute(
            insert(table_of(DecisionBatchRecord)),
            [
                {
                    "id": 1,
                    "merkle_root": "a" * 64,
                    "count": 1,
                    "first_decided_at": T0,
                    "last_decided_at": T0,
                    "audit_seq": 0,
                    "created_at": T0,
                }
            ],
        )
        session.execute(
            insert(table_of(DecisionRecord)),
            [
                {
                    "id": "d-1",
                    "decided_at": T0,
                    "model_name": "m",
                    "version": 1,
                    "digest": "sha256:" + "0" * 64,
                    "route": "champion",
                    "served": True,
                    "subject": "s",
                    "score": 0.5,
                    "decision": "approve",
                    "reasons": [],
                    "latency_ms": 1.0,
                    "fallback": False,
                    "request_sha256": "0" * 64,
                    "batch_id": 1,
                }
            ],
        )
        session.execute(
            insert(table_of(AuditTreeNode)), [{"level": 0, "idx": 0, "hash": b"h" * 32}]
        )
        session.execute(
            insert(table_of(AuditCheckpointRecord)),
            [
                {
                    "origin": "o",
                    "size": 3,
                    "root": "r" * 64,
                    "frontier": [],
                    "note": "n",
                    "reason": "test",
                    "anchored": [],
                    "failures": {},
                    "created_at": T0,
                }
            ],
        )
    yield s
    s.dispose()


def _refused(store: Store, statement: str, message: str) -> None:
    with pytest.raises(DBAPIError, match=message), store.engine.begin() as connection:
        connection.execute(text(statement))


HEAD = r"audit_head may only move forward to the newest stored event"
SEALED = r"decision_batches rows are sealed: only audit_seq may change, once, from 0"


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("DELETE FROM audit_head", r"audit_head rows are kept: DELETE and TRUNCATE are refused"),
        (
            "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_events WHERE seq = 2)",
            HEAD,
        ),
        ("UPDATE audit_head SET seq = 4", HEAD),
        ("UPDATE audit_head SET hash = '" + "f" * 64 + "'", HEAD),
        ("UPDATE audit_head SET id = 2", HEAD),
        ("UPDATE decisions SET decision = 'decline'", r"decisions is append-only"),
        ("DELETE FROM decisions", r"decisions is append-only"),
        ("DELETE FROM decision_batches", r"decision_batches rows are kept"),
        ("UPDATE decision_batches SET merkle_root = '" + "b" * 64 + "'", SEALED),
        ("UPDATE decision_batches SET audit_seq = 3, count = 2", SEALED),
        ("UPDATE decision_batches SET audit_seq = -1", SEALED),
        ("UPDATE audit_tree SET hash = hash", r"audit_tree is append-only"),
        ("DELETE FROM audit_tree", r"audit_tree is append-only"),
        ("UPDATE audit_checkpoints SET anchored = '[]'", r"audit_checkpoints is append-only"),
        ("DELETE FROM audit_checkpoints", r"audit_checkpoints is append-only"),
    ],
)
def test_the_store_refuses(store: Store, statement: str, message: str) -> None:
    _refused(store, statement, message)
    assert verify(store).ok


@pytest.mark.parametrize(
    "table",
    ["audit_head", "decisions", "decision_batches", "audit_tree", "audit_checkpoints"],
)
@pytest.mark.integration
def test_postgresql_refuses_truncate_even_to_the_owner(pg_store: Store, table: str) -> None:
    _refused(pg_store, f"TRUNCATE {table} CASCADE", r"(is append-only|rows are kept)")


def test_a_batch_is_sealed_once(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE decision_batches SET audit_seq = 3 WHERE id = 1"))
    _refused(store, "UPDATE decision_batches SET audit_seq = 2", SEALED)


def test_the_head_moves_with_appends_only(store: Store) -> None:
    with store.transaction() as session:
        event = record(
            session,
            actor="bob",
            role="operator",
            action="deployment.deployed",
            object_type="model_version",
            object_id="m@1",
            payload={},
            at=T0,
        )
    assert event.seq == 4
    report = verify(store)
    assert report.ok
    assert report.head_seq == 4
    with store.engine.begin() as connection:  # moving it to where it is already is harmless
        connection.execute(text("UPDATE audit_head SET seq = seq"))
