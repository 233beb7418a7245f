"""Writing to and reading the audit chain in the store.

:func:`record` is called inside the same transaction as the state change it records, so either
both are stored or neither is. The head row is locked while appending, so concurrent writers
queue instead of forking the chain.

Example::

    with store.transaction() as session:
        ...  # the state change
        record(session, actor="rita", role="risk_officer", action="version.approved",
               object_type="model_version", object_id="credit-scoring@2",
               payload={"note": "ok"}, at=clock())
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from riskops.audit.chain import (
    ChainEvent,
    VerifyReport,
    canonical_json,
    record_bytes,
    verify_events,
)
from riskops.store import Store
from riskops.store.database import AUDIT_ACTIONS
from riskops.store.rows import insert_rows, stream_rows
from riskops.store.tables import AuditEventRecord, AuditHeadRecord

_VERIFY_BATCH = 5000


def format_time(moment: datetime) -> str:
    """The chain's time format: ISO 8601 in UTC with microseconds and a ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Entry:
    """What a caller records; the chain adds the sequence number, time format and hashes."""

    actor: str
    role: str
    action: str
    object_type: str
    object_id: str
    payload: Mapping[str, Any]


def record(
    session: Session,
    *,
    actor: str,
    role: str,
    action: str,
    object_type: str,
    object_id: str,
    payload: Mapping[str, Any],
    at: datetime,
) -> ChainEvent:
    """Append one event to the chain inside the caller's transaction and return it."""
    entry = Entry(actor, role, action, object_type, object_id, payload)
    return record_many(session, [entry], at=at)[0]


def record_many(session: Session, entries: Sequence[Entry], *, at: datetime) -> list[ChainEvent]:
    """Append several events in order with one head lock and one bulk insert.

    On PostgreSQL the database appends them (``append_events``, migration 0008): it assigns the
    sequence numbers, stamps its own clock and computes the hashes, so ``at`` is not used and
    the events returned carry the server's time. On SQLite they are sealed here at ``at``.
    """
    if not entries:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _append_on_server(session, entries)
    head = session.execute(
        select(AuditHeadRecord).where(AuditHeadRecord.id == 1).with_for_update()
    ).scalar_one()
    occurred_at = format_time(at)
    if head.seq:
        # Times never go backwards along the chain (verify checks it): a writer whose clock
        # reading was taken before another writer's append takes that append's time.
        last = session.scalar(
            select(AuditEventRecord.occurred_at).where(AuditEventRecord.seq == head.seq)
        )
        if last is not None and last > occurred_at:
            occurred_at = last
    sha256 = hashlib.sha256
    rows = []
    prev, seq = head.hash, head.seq
    for entry in entries:
        seq += 1
        payload = canonical_json(dict(entry.payload))
        digest = sha256(
            record_bytes(
                seq,
                occurred_at,
                entry.actor,
                entry.role,
                entry.action,
                entry.object_type,
                entry.object_id,
                payload,
                prev,
            )
        ).hexdigest()
        rows.append(
            (
                seq,
                occurred_at,
                entry.actor,
                entry.role,
                entry.action,
                entry.object_type,
                entry.object_id,
                payload,
                prev,
                digest,
            )
        )
        prev = digest
    insert_rows(session, "audit_events", _COLUMNS, rows)
    events = [ChainEvent(*row) for row in rows]
    head.seq = seq
    head.hash = prev
    session.flush()
    session.info.setdefault(AUDIT_ACTIONS, []).extend(e.action for e in events)
    return events


_APPEND = text(
    "SELECT seq, occurred_at, actor, role, action, object_type, object_id, payload, prev_hash, "
    "hash FROM append_events(CAST(:actors AS text[]), CAST(:roles AS text[]), "
    "CAST(:actions AS text[]), CAST(:object_types AS text[]), CAST(:object_ids AS text[]), "
    "CAST(:payloads AS text[]))"
)


def _append_on_server(session: Session, entries: Sequence[Entry]) -> list[ChainEvent]:
    session.flush()  # the caller's pending rows first, as the ORM would before a query
    rows = session.execute(
        _APPEND,
        {
            "actors": [e.actor for e in entries],
            "roles": [e.role for e in entries],
            "actions": [e.action for e in entries],
            "object_types": [e.object_type for e in entries],
            "object_ids": [e.object_id for e in entries],
            "payloads": [canonical_json(dict(e.payload)) for e in entries],
        },
    )
    events = [ChainEvent(*row) for row in rows]
    session.info.setdefault(AUDIT_ACTIONS, []).extend(e.action for e in events)
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, AuditHeadRecord):  # the database moved it: reload when read
            session.expire(loaded)
    return events


_COLUMNS = ChainEvent._fields


def stored_events(session: Session) -> Iterator[ChainEvent]:
    """Every stored event in chain order, streamed in batches straight from the driver."""
    statement = f"SELECT {', '.join(_COLUMNS)} FROM audit_events ORDER BY seq"  # noqa: S608
    for row in stream_rows(session, statement, batch=_VERIFY_BATCH):
        yield ChainEvent(*row)


def activity_since(
    store: Store, after: int | None, *, ignoring: Sequence[str] = ()
) -> tuple[int, bool]:
    """The chain's head sequence number, and whether an event after ``after`` has an action
    that starts with none of ``ignoring`` (always True when ``after`` is None). Two indexed
    lookups: a cheap way to tell that something changed, since every change is audited."""
    with store.reading() as session:
        head = session.get(AuditHeadRecord, 1)
        head_seq = head.seq if head is not None else 0
        if after is None:
            return head_seq, True
        query = select(func.count()).where(AuditEventRecord.seq > after)
        for prefix in ignoring:
            query = query.where(AuditEventRecord.action.not_like(f"{prefix}%"))
        return head_seq, bool(session.scalar(query))


def verify(store: Store) -> VerifyReport:
    """Recompute the whole chain in the store and compare its end with the recorded head."""
    with store.reading() as session:
        head = session.get(AuditHeadRecord, 1)
        head_seq = head.seq if head is not None else None
        head_hash = head.hash if head is not None else None
        return verify_events(stored_events(session), head_seq=head_seq, head_hash=head_hash)


@dataclass(frozen=True)
class AuditEntry:
    """An event as shown to people: payload parsed, time as a datetime."""

    seq: int
    occurred_at: str
    actor: str
    role: str
    action: str
    object_type: str
    object_id: str
    payload: dict[str, Any]
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "occurred_at": self.occurred_at,
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "payload": self.payload,
            "hash": self.hash,
        }


def list_events(
    store: Store,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Events in chain order, filtered; ``object_id`` matches a prefix (``credit-scoring``
    matches every version of that model)."""
    query = select(AuditEventRecord).order_by(AuditEventRecord.seq)
    if actor:
        query = query.where(AuditEventRecord.actor == actor)
    if action:
        query = query.where(AuditEventRecord.action.startswith(action, autoescape=True))
    if object_id:
        query = query.where(
            (AuditEventRecord.object_id == object_id)
            | AuditEventRecord.object_id.startswith(f"{object_id}@", autoescape=True)
        )
    if since:
        query = query.where(AuditEventRecord.occurred_at >= format_time(since))
    if until:
        query = query.where(AuditEventRecord.occurred_at <= format_time(until))
    if limit:
        # The newest `limit` events, still shown oldest first.
        query = query.order_by(None).order_by(AuditEventRecord.seq.desc()).limit(limit)
    with store.reading() as session:
        rows = list(session.execute(query).scalars())
    rows.sort(key=lambda r: r.seq)
    return [
        AuditEntry(
            seq=r.seq,
            occurred_at=r.occurred_at,
            actor=r.actor,
            role=r.role,
            action=r.action,
            object_type=r.object_type,
            object_id=r.object_id,
            payload=json.loads(r.payload),
            hash=r.hash,
        )
        for r in rows
    ]
