"""The audit trail: an append-only SHA-256 hash chain of every state change.

The chain format is documented in ``docs/audit-chain.md`` so that an auditor can verify an
export with a verifier of their own.
"""

from riskops.audit.chain import GENESIS_HASH, ChainEvent, VerifyReport, verify_events
from riskops.audit.trail import AuditEntry, list_events, record, verify

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "ChainEvent",
    "VerifyReport",
    "list_events",
    "record",
    "verify",
    "verify_events",
]
