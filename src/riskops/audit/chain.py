"""The hash chain itself, free of any database: hashing one event and verifying a sequence.

Each event commits to its predecessor and to a canonical JSON of itself::

    record = {"seq": 7, "occurred_at": "2026-11-29T14:03:07.123456Z", "actor": "rita",
              "role": "risk_officer", "action": "version.approved",
              "object_type": "model_version", "object_id": "credit-scoring@2",
              "payload_sha256": sha256(payload_text), "prev_hash": <hash of event 6>}
    hash = sha256(canonical_json(record))

``canonical_json`` is JSON with keys sorted, no whitespace, UTF-8 (RFC 8785 for an object whose
values are only strings and integers). The payload is stored as the exact text that was hashed,
so a verifier never has to re-serialise numbers. The first event's ``prev_hash`` is 64 zeros.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

GENESIS_HASH = "0" * 64


class ChainEvent(NamedTuple):
    """One event as stored: the fields that are hashed, plus its hash (a tuple in the stored
    column order, so a driver's row becomes one without copying field by field)."""

    seq: int
    occurred_at: str
    actor: str
    role: str
    action: str
    object_type: str
    object_id: str
    payload: str
    prev_hash: str
    hash: str


def canonical_json(value: Any) -> str:
    """Sorted keys, no insignificant whitespace, non-ASCII kept as UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_dumps = orjson.dumps


def record_text(
    *,
    seq: int,
    occurred_at: str,
    actor: str,
    role: str,
    action: str,
    object_type: str,
    object_id: str,
    payload: str,
    prev_hash: str,
) -> str:
    """The canonical JSON of an event's record (module docstring): what its hash is taken of,
    and, as UTF-8 bytes, its leaf in the Merkle log."""
    return record_bytes(
        seq, occurred_at, actor, role, action, object_type, object_id, payload, prev_hash
    ).decode("utf-8")


def record_bytes(
    seq: int,
    occurred_at: str,
    actor: str,
    role: str,
    action: str,
    object_type: str,
    object_id: str,
    payload: str,
    prev_hash: str,
) -> bytes:
    """:func:`record_text` as UTF-8 bytes, the fast way: orjson with the keys inserted in
    sorted order. orjson escapes strings as ``json.dumps(ensure_ascii=False)`` does (only
    ``"``, ``\\`` and control characters; property-tested against :func:`canonical_json`)."""
    return _dumps(
        {
            "action": action,
            "actor": actor,
            "object_id": object_id,
            "object_type": object_type,
            "occurred_at": occurred_at,
            "payload_sha256": hashlib.sha256(payload.encode("utf-8")).hexdigest(),
            "prev_hash": prev_hash,
            "role": role,
            "seq": int(seq),
        }
    )


def event_hash(
    *,
    seq: int,
    occurred_at: str,
    actor: str,
    role: str,
    action: str,
    object_type: str,
    object_id: str,
    payload: str,
    prev_hash: str,
) -> str:
    """The SHA-256 (hex) that an event with these fields must carry: of its
    :func:`record_text`, equal to ``sha256_hex(canonical_json(record))``."""
    return hashlib.sha256(
        record_bytes(
            seq, occurred_at, actor, role, action, object_type, object_id, payload, prev_hash
        )
    ).hexdigest()


def seal(
    *,
    seq: int,
    occurred_at: str,
    actor: str,
    role: str,
    action: str,
    object_type: str,
    object_id: str,
    payload: str,
    prev_hash: str,
) -> ChainEvent:
    """Build the event that follows ``prev_hash`` at position ``seq``."""
    fields = {
        "seq": seq,
        "occurred_at": occurred_at,
        "actor": actor,
        "role": role,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    return ChainEvent(**fields, hash=event_hash(**fields))  # type: ignore[arg-type]


@dataclass(frozen=True)
class VerifyReport:
    """What verification found. ``first_broken_seq`` is None when the chain is intact."""

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    first_broken_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_broken_seq": self.first_broken_seq,
            "reason": self.reason,
        }


def verify_events(
    events: Iterable[ChainEvent], *, head_seq: int | None = None, head_hash: str | None = None
) -> VerifyReport:
    """Recompute the chain over ``events`` (in stored order) and name the first broken event.

    ``head_seq``/``head_hash`` are the head the store recorded (or an externally anchored one);
    when given, a chain that stops short of it or ends elsewhere is reported as truncated.
    """
    expected_seq = 1
    prev = GENESIS_HASH
    count = 0
    for ev in events:
        if ev.seq != expected_seq:
            if ev.seq > expected_seq:
                reason = f"event {expected_seq} is missing (the next stored event is {ev.seq})"
            else:
                reason = f"event {ev.seq} appears out of order where event {expected_seq} belongs"
            return _broken(count, expected_seq, reason, prev)
        if ev.prev_hash != prev:
            return _broken(
                count,
                ev.seq,
                f"event {ev.seq} does not link to event {ev.seq - 1} (prev_hash differs)",
                prev,
            )
        recomputed = event_hash(
            seq=ev.seq,
            occurred_at=ev.occurred_at,
            actor=ev.actor,
            role=ev.role,
            action=ev.action,
            object_type=ev.object_type,
            object_id=ev.object_id,
            payload=ev.payload,
            prev_hash=ev.prev_hash,
        )
        if recomputed != ev.hash:
            return _broken(
                count,
                ev.seq,
                f"event {ev.seq} was altered: its content no longer matches its hash",
                prev,
            )
        prev = ev.hash
        count += 1
        expected_seq += 1
    last_seq = expected_seq - 1
    if head_seq is not None and head_seq != last_seq:
        if head_seq > last_seq:
            reason = f"the chain ends at event {last_seq} but its head records event {head_seq}: events were removed"
            return _broken(count, last_seq + 1, reason, prev)
        reason = f"the chain runs to event {last_seq} past its recorded head {head_seq}"
        return _broken(count, head_seq + 1, reason, prev)
    if head_hash is not None and head_hash != prev:
        return _broken(
            count,
            last_seq,
            f"the last event {last_seq} does not match the recorded head hash",
            prev,
        )
    return VerifyReport(ok=True, events=count, head_seq=last_seq, head_hash=prev)


def _broken(count: int, seq: int, reason: str, prev: str) -> VerifyReport:
    return VerifyReport(
        ok=False,
        events=count,
        head_seq=seq - 1,
        head_hash=prev,
        first_broken_seq=seq,
        reason=reason,
    )
