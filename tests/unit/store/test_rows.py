"""The driver-level bulk helpers: what they insert and stream equals what the ORM reads back,
on SQLite and PostgreSQL, whatever the text (any Unicode scalar, quotes, percent signs)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from riskops.audit.trail import Entry, record_many, stored_events
from riskops.store import Store, open_store
from riskops.store.rows import insert_rows, placeholder, stream_rows
from riskops.store.tables import AuditTreeNode

# Text a database stores: every Unicode scalar except NUL (PostgreSQL text refuses it) and
# the lone surrogates UTF-8 cannot carry.
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.dispose()


def test_tree_nodes_round_trip_through_the_orm(store: Store) -> None:
    rows = [
        (level, index, bytes([level, index % 256]) * 16)
        for level in range(3)
        for index in range(700)
    ]
    with store.transaction() as session:
        insert_rows(session, "audit_tree", ("level", "idx", "hash"), rows)
    with store.reading() as session:
        stored = session.execute(
            select(AuditTreeNode.level, AuditTreeNode.idx, AuditTreeNode.hash).order_by(
                AuditTreeNode.level, AuditTreeNode.idx
            )
        ).all()
        mark = placeholder(session)
        streamed = list(
            stream_rows(
                session,
                f"SELECT level, idx, hash FROM audit_tree WHERE level = {mark} ORDER BY idx",  # noqa: S608
                (2,),
                batch=64,
            )
        )
    assert [(lv, ix, bytes(h)) for lv, ix, h in stored] == rows
    assert [(lv, ix, bytes(h)) for lv, ix, h in streamed] == rows[1400:]


def test_nothing_to_insert_touches_nothing(store: Store) -> None:
    with store.transaction() as session:
        insert_rows(session, "audit_tree", ("level", "idx", "hash"), [])
    with store.reading() as session:
        assert session.scalars(select(AuditTreeNode)).all() == []


def test_a_failed_insert_rolls_back_with_its_transaction(store: Store) -> None:
    row = (0, 1, b"\x01" * 32)
    with (
        pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"),
        store.transaction() as session,
    ):
        insert_rows(session, "audit_tree", ("level", "idx", "hash"), [row, row])
    with store.reading() as session:
        assert session.scalars(select(AuditTreeNode)).all() == []


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=st.lists(TEXT, min_size=1, max_size=30))
def test_any_text_is_stored_verbatim(store: Store, texts: list[str]) -> None:
    with store.transaction() as session:
        written = record_many(
            session,
            [Entry(t, "operator", "note.added", "note", t[::-1], {"text": t}) for t in texts],
            at=datetime(2026, 12, 8, tzinfo=UTC),
        )
    with store.reading() as session:
        stored = list(stored_events(session))[-len(texts) :]
    assert stored == written
    assert [e.actor for e in stored] == texts
