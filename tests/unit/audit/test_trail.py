"""The audit trail on a real store, SQLite and PostgreSQL alike."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from sqlalchemy import text

from riskops.audit import list_events, record, verify
from riskops.store import Store, open_store
from tests.insider import bypass_guards

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.dispose()


def append(store: Store, n: int, *, actor: str = "alice", start: int = 0) -> None:
    for i in range(n):
        with store.transaction() as session:
            record(
                session,
                actor=actor,
                role="developer",
                action="version.registered" if i % 2 == 0 else "deployment.deployed",
                object_type="model_version",
                object_id=f"credit-scoring@{start + i + 1}",
                payload={"n": start + i, "score": 0.1 * i, "text": "Zürich"},
                at=T0 + timedelta(minutes=start + i),
            )


def test_appended_events_verify(store: Store) -> None:
    append(store, 5)
    report = verify(store)
    assert report.ok
    assert report.events == 5
    assert report.head_seq == 5


def test_an_empty_trail_verifies(store: Store) -> None:
    report = verify(store)
    assert report.ok
    assert report.events == 0


def test_event_and_state_change_commit_or_fail_together(store: Store) -> None:
    append(store, 1)

    def failing_change() -> None:
        with store.transaction() as session:
            record(
                session,
                actor="bob",
                role="operator",
                action="deployment.deployed",
                object_type="model_version",
                object_id="credit-scoring@9",
                payload={},
                at=T0,
            )
            raise RuntimeError("state change failed")

    with pytest.raises(RuntimeError, match="state change failed"):
        failing_change()
    assert [e.actor for e in list_events(store)] == ["alice"]
    assert verify(store).ok


def test_the_store_refuses_update_and_delete_of_events(store: Store) -> None:
    append(store, 2)
    for statement in (
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 2",
    ):
        with (
            pytest.raises(sqlalchemy.exc.DatabaseError, match="append-only"),
            store.engine.begin() as c,
        ):
            c.execute(text(statement))
    assert verify(store).ok


def test_an_edit_that_bypasses_the_trigger_is_named(store: Store) -> None:
    append(store, 4)
    with store.engine.begin() as c:
        bypass_guards(c, "audit_events")
        c.execute(text("UPDATE audit_events SET payload = :p WHERE seq = 3"), {"p": '{"n":99}'})
    report = verify(store)
    assert not report.ok
    assert report.first_broken_seq == 3
    assert report.events == 2


def test_a_deleted_tail_is_detected_through_the_head(store: Store) -> None:
    append(store, 4)
    with store.engine.begin() as c:
        bypass_guards(c, "audit_events")
        c.execute(text("DELETE FROM audit_events WHERE seq >= 3"))
    report = verify(store)
    assert not report.ok
    assert report.first_broken_seq == 3
    append(store, 2, start=10)  # later appends continue from the recorded head: still caught
    assert verify(store).first_broken_seq == 3


def test_listing_filters_by_actor_action_model_and_time(store: Store) -> None:
    append(store, 4, actor="alice")
    append(store, 2, actor="oscar", start=4)
    assert [e.seq for e in list_events(store, actor="oscar")] == [5, 6]
    assert [e.seq for e in list_events(store, action="deployment")] == [2, 4, 6]
    assert [e.seq for e in list_events(store, object_id="credit-scoring@3")] == [3]
    assert len(list_events(store, object_id="credit-scoring")) == 6
    # PostgreSQL stamps its own clock (append_events), SQLite the caller's: filter by the
    # times stored either way.
    times = [datetime.fromisoformat(e.occurred_at) for e in list_events(store)]
    assert [e.seq for e in list_events(store, since=times[4])] == [5, 6]
    assert [e.seq for e in list_events(store, until=times[1])] == [1, 2]
    assert [e.seq for e in list_events(store, limit=2)] == [5, 6]
    first = list_events(store)[0]
    assert first.payload == {"n": 0, "score": 0.0, "text": "Zürich"}
    if store.dialect == "sqlite":
        assert first.occurred_at == "2026-11-29T09:00:00.000000Z"
    else:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", first.occurred_at)


def test_concurrent_writers_never_fork_the_chain(store_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    stores = [open_store(store_url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda s: append(s, 10), stores))
        report = verify(stores[0])
        assert report.ok
        assert report.events == 40
    finally:
        for s in stores:
            s.dispose()
