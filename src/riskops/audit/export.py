"""Exporting the audit chain for an examiner: JSON Lines with every stored field verbatim.

The first line is a header, ``{"format": "riskops.audit-export@1", "head": {"seq", "hash"},
"events": N, "exported_at": …}``; each further line is one event with the exact fields that
were hashed (the payload as the exact text, not re-serialised). ``docs/audit-chain.md`` shows
a verifier that needs nothing but Python's standard library.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import func, select

from riskops.audit.trail import format_time, stored_events
from riskops.store import Store
from riskops.store.tables import AuditEventRecord, AuditHeadRecord

EXPORT_FORMAT = "riskops.audit-export@1"


def export_events(store: Store, out: TextIO, *, at: datetime) -> dict[str, Any]:
    """Write the header and every event to ``out`` in chain order; return the header."""
    with store.reading() as session:
        head = session.get(AuditHeadRecord, 1)
        count = session.execute(select(func.count()).select_from(AuditEventRecord)).scalar_one()
        header = {
            "format": EXPORT_FORMAT,
            "head": {"seq": head.seq if head else 0, "hash": head.hash if head else None},
            "events": int(count),
            "exported_at": format_time(at),
        }
        out.write(json.dumps(header, ensure_ascii=False) + "\n")
        for event in stored_events(session):
            row = {
                "seq": event.seq,
                "occurred_at": event.occurred_at,
                "actor": event.actor,
                "role": event.role,
                "action": event.action,
                "object_type": event.object_type,
                "object_id": event.object_id,
                "payload": event.payload,
                "prev_hash": event.prev_hash,
                "hash": event.hash,
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return header
