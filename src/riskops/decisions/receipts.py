"""Decision receipts: one decision proven into a signed checkpoint, checkable offline.

A receipt (``riskops decisions prove ID``) chains three proofs, each O(log n) hashes:

1. the decision's canonical record (the exact text hashed) → its digest → its RFC 6962 leaf in
   the batch it was sealed in → the batch root (inclusion proof);
2. the batch root is in the payload of the ``decisions.batch_sealed`` event, given whole → the
   event's leaf in the audit log → the checkpoint root (inclusion proof);
3. the checkpoint is a C2SP signed note: the verifier checks its Ed25519 signature with the
   verifier key it pinned itself.

``docs/audit-chain.md`` defines every byte; a verifier written from it with Python's standard
library alone checks receipts (``tests/unit/decisions/test_receipts.py``).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from riskops.audit.chain import canonical_json
from riskops.audit.log import ENTRY_FIELDS, event_inclusion, make_checkpointer
from riskops.audit.merkle import ListSource, inclusion_proof
from riskops.context import Context
from riskops.decisions.records import LEAF_FIELDS, OPTIONAL_LEAF_FIELDS, SEAL_ACTION, leaf_fields
from riskops.decisions.sealing import TREE, batch_leaves
from riskops.errors import ConflictError, NotFoundError
from riskops.store.tables import (
    AuditCheckpointRecord,
    AuditEventRecord,
    DecisionBatchRecord,
    DecisionRecord,
    table_of,
)

RECEIPT_FORMAT = "riskops.decision-receipt@1"


def prove_decision(ctx: Context, decision_id: str) -> dict[str, Any]:
    """The receipt of a stored, sealed decision (see the module docstring).

    NotFoundError for an unknown id; ConflictError when the decision is not sealed yet, was
    sealed before batches used RFC 6962 trees, or no signed checkpoint covers it and none can
    be made here (no signing key).
    """
    table = table_of(DecisionRecord)
    names = (*LEAF_FIELDS, *OPTIONAL_LEAF_FIELDS, "batch_id")
    with ctx.store.reading() as session:
        row = (
            session.execute(select(*(table.c[n] for n in names)).where(table.c.id == decision_id))
            .mappings()
            .first()
        )
        if row is None:
            raise NotFoundError(
                f"No stored decision {decision_id!r}.",
                hint="A decision answered in the last moments may still be in the server's "
                "write-ahead log; try again in a second (riskops decisions show ID).",
            )
        if row["batch_id"] is None:
            raise ConflictError(
                f"Decision {decision_id} is stored but not sealed in a batch yet.",
                hint="Wait for the next flush, then prove it again.",
            )
        batch = session.get(DecisionBatchRecord, row["batch_id"])
        event = session.get(AuditEventRecord, batch.audit_seq) if batch else None
        if batch is None or event is None:
            raise ConflictError(
                f"The batch of decision {decision_id} or its sealing event is missing.",
                hint="Run riskops audit verify: the store was tampered with.",
            )
        payload = json.loads(event.payload)
        if event.action != SEAL_ACTION or payload.get("tree") != TREE:
            raise ConflictError(
                f"Decision {decision_id} is in batch {batch.id}, sealed before batches were "
                "RFC 6962 trees: it is verified by riskops audit verify but has no receipt.",
                hint="Receipts exist for decisions sealed by this version of riskops on.",
            )
        members = (
            session.execute(
                select(*(table.c[n] for n in names))
                .where(table.c.batch_id == batch.id)
                .order_by(table.c.id)
            )
            .mappings()
            .all()
        )
        texts = [canonical_json(leaf_fields(dict(m))) for m in members]
    digests = [_sha256(t) for t in texts]
    index = next(i for i, m in enumerate(members) if m["id"] == decision_id)
    batch_proof = inclusion_proof(index, len(digests), ListSource(batch_leaves(digests)))
    checkpoint = _covering_checkpoint(ctx, event.seq)
    with ctx.store.reading() as session:
        log_proof = event_inclusion(session, event.seq, checkpoint.size)
    return {
        "format": RECEIPT_FORMAT,
        "decision_id": decision_id,
        "decision_json": texts[index],
        "decision_sha256": digests[index],
        "batch": {
            "id": batch.id,
            "index": index,
            "count": len(digests),
            "root": payload["merkle_root"],
            "proof": [h.hex() for h in batch_proof],
        },
        "event": {name: getattr(event, name) for name in ENTRY_FIELDS},
        "log": {
            "origin": checkpoint.origin,
            "index": event.seq - 1,
            "size": checkpoint.size,
            "proof": [h.hex() for h in log_proof],
        },
        "checkpoint": checkpoint.note,
    }


def _covering_checkpoint(ctx: Context, seq: int) -> AuditCheckpointRecord:
    def newest() -> AuditCheckpointRecord | None:
        with ctx.store.reading() as session:
            return session.scalars(
                select(AuditCheckpointRecord)
                .where(AuditCheckpointRecord.size >= seq)
                .order_by(AuditCheckpointRecord.size.desc())
                .limit(1)
            ).first()

    found = newest()
    if found is None:
        checkpointer = make_checkpointer(ctx.store, ctx.settings.audit, ctx.clock)
        if checkpointer is None:
            raise ConflictError(
                f"No signed checkpoint covers audit event {seq} yet, and this workspace has no "
                "signing key to make one.",
                hint="Configure [audit] (docs/anchors.md), or run riskops audit checkpoint "
                "where the key is.",
            )
        checkpointer.checkpoint("receipt")
        found = newest()
    if found is None:
        raise ConflictError(
            f"No signed checkpoint covers audit event {seq}.",
            hint="Run riskops audit checkpoint, then prove the decision again.",
        )
    return found


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()
