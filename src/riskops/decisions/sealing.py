"""Sealed decision batches: sealing a flushed batch by its Merkle root in the audit chain, and
verification of every stored decision against the root sealed in the audit chain.

A batch's root is the RFC 6962 Merkle tree hash over its decisions in id order, each leaf's
data being the decision's 32-byte digest (:func:`riskops.decisions.records.decision_leaf`):
``leaf = SHA-256(0x00 || digest)``, ``node = SHA-256(0x01 || left || right)``. The sealing
event's payload says so with ``"tree": "rfc6962"``; batches sealed before carry no ``tree`` and
keep the earlier construction (:mod:`riskops.decisions.merkle`), which verification still
checks.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.audit.merkle import leaf_hash, root
from riskops.audit.trail import record
from riskops.decisions.merkle import merkle_root
from riskops.decisions.records import (
    LEAF_FIELDS,
    OPTIONAL_LEAF_FIELDS,
    SEAL_ACTION,
    SERVICE_ACTOR,
    SERVICE_ROLE,
    decision_leaf,
)
from riskops.store import Store
from riskops.store.tables import (
    AuditEventRecord,
    DecisionBatchRecord,
    DecisionRecord,
    table_of,
)


def seal_batch(session: Session, rows: Sequence[Mapping[str, Any]], *, at: datetime) -> int:
    """Seal ``rows`` (stored decision rows, ordered by id) as one batch: a ``decision_batches``
    row with their Merkle root, and a ``decisions.batch_sealed`` event in the audit chain, in
    ``session``'s transaction. Returns the batch id the rows must carry."""
    root = batch_root([decision_leaf(row) for row in rows])
    batch = DecisionBatchRecord(
        merkle_root=root,
        count=len(rows),
        first_decided_at=min(r["decided_at"] for r in rows),
        last_decided_at=max(r["decided_at"] for r in rows),
        audit_seq=0,
        created_at=at,
    )
    session.add(batch)
    session.flush()
    event = record(
        session,
        actor=SERVICE_ACTOR,
        role=SERVICE_ROLE,
        action=SEAL_ACTION,
        object_type="decision_batch",
        object_id=f"decision-batch/{batch.id}",
        payload={
            "batch_id": batch.id,
            "count": len(rows),
            "merkle_root": root,
            "first_decision_id": rows[0]["id"],
            "last_decision_id": rows[-1]["id"],
            "tree": TREE,
        },
        at=at,
    )
    batch.audit_seq = event.seq
    return batch.id


TREE = "rfc6962"


def batch_leaves(digests: Sequence[str]) -> list[bytes]:
    """The RFC 6962 leaf hashes of a batch whose decisions have these digests (hex)."""
    return [leaf_hash(bytes.fromhex(d)) for d in digests]


def batch_root(digests: Sequence[str], tree: str | None = TREE) -> str:
    """A batch's root (hex) over its decisions' digests, by the construction it was sealed
    with (``tree`` from the sealing event's payload; None for batches sealed before)."""
    if tree == TREE:
        return root(batch_leaves(digests)).hex()
    return merkle_root(digests)


# -- verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionsReport:
    """Whether every stored decision still hashes to its batch's sealed Merkle root."""

    kind: ClassVar[str] = "riskops.decision-log/verify@1"

    ok: bool
    batches: int
    decisions: int
    broken_batch: int | None = None
    decision_id: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ok": self.ok,
            "batches": self.batches,
            "decisions": self.decisions,
            "broken_batch": self.broken_batch,
            "decision_id": self.decision_id,
            "reason": self.reason,
        }


def verify_decisions(store: Store) -> DecisionsReport:
    """Recompute every sealed batch's Merkle root from the stored decisions and compare it with
    the root sealed in the audit chain; name the first batch (and, where it can be told, the
    decision) that was deleted, added or edited.

    The chain's own integrity is :func:`riskops.audit.verify`'s job: run both.
    """
    with store.reading() as session:
        sealed = {
            payload["batch_id"]: (seq, payload)
            for seq, payload in (
                (seq, json.loads(text))
                for seq, text in session.execute(
                    select(AuditEventRecord.seq, AuditEventRecord.payload)
                    .where(AuditEventRecord.action == SEAL_ACTION)
                    .order_by(AuditEventRecord.seq)
                )
            )
        }
        batches = {b.id: b for b in session.scalars(select(DecisionBatchRecord))}
        table = table_of(DecisionRecord)
        names = (*LEAF_FIELDS, *OPTIONAL_LEAF_FIELDS, "batch_id")
        query = select(*(table.c[name] for name in names)).order_by(table.c.batch_id, table.c.id)
        rows = session.execute(query.execution_options(yield_per=5000)).mappings()
        by_batch = {
            batch_id: list(group)
            for batch_id, group in itertools.groupby(rows, key=lambda r: r["batch_id"])
        }
    total = sum(len(group) for group in by_batch.values())
    counted = 0
    for batch_id in sorted(set(sealed) | set(batches) | {b for b in by_batch if b is not None}):
        group = by_batch.get(batch_id, [])
        problem = _batch_problem(batch_id, sealed.get(batch_id), batches.get(batch_id), group)
        if problem is not None:
            decision_id, reason = problem
            return DecisionsReport(False, counted, total, batch_id, decision_id, reason)
        counted += 1
    if None in by_batch:
        orphan = by_batch[None][0]["id"]
        return DecisionsReport(
            False, counted, total, None, orphan, f"decision {orphan} belongs to no sealed batch"
        )
    return DecisionsReport(True, counted, total)


def _batch_problem(
    batch_id: int,
    sealed: tuple[int, Mapping[str, Any]] | None,
    batch: DecisionBatchRecord | None,
    rows: Sequence[Any],
) -> tuple[str | None, str] | None:
    if sealed is None:
        return None, f"batch {batch_id} has no {SEAL_ACTION} event in the audit chain"
    seq, payload = sealed
    if batch is None:
        return None, f"batch {batch_id} (sealed at audit event {seq}) was deleted"
    if batch.merkle_root != payload["merkle_root"] or batch.count != payload["count"]:
        return None, f"batch {batch_id}'s row differs from what audit event {seq} sealed"
    ids = [r["id"] for r in rows]
    first, last = payload["first_decision_id"], payload["last_decision_id"]
    if len(rows) < payload["count"]:
        missing = next((i for i in (first, last) if i not in ids), None)
        where = f"decision {missing}" if missing else f"a decision between {first} and {last}"
        return missing, (
            f"batch {batch_id} has {len(rows)} of the {payload['count']} decisions sealed at "
            f"audit event {seq}: {where} was deleted"
        )
    if len(rows) > payload["count"]:
        extra = next((i for i in ids if i < first or i > last), None)
        return extra, (
            f"batch {batch_id} has {len(rows)} decisions but audit event {seq} sealed "
            f"{payload['count']}: a decision was added"
        )
    if ids[0] != first or ids[-1] != last:
        changed = ids[0] if ids[0] != first else ids[-1]
        return changed, f"batch {batch_id}: decision ids differ from those sealed at event {seq}"
    if batch_root([decision_leaf(r) for r in rows], payload.get("tree")) != payload["merkle_root"]:
        return None, (
            f"batch {batch_id}: its {len(rows)} decisions ({first} … {last}) no longer hash to "
            f"the Merkle root sealed at audit event {seq}: a decision was edited"
        )
    return None
