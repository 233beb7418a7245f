"""Who may read a logged decision: the client that asked for it, or an auditor, whose every
read is recorded in the audit chain.

A decision holds personal data (its reasons carry the applicant's own inputs). The rule::

    reader holds "audit"                 → any decision; the read is recorded first as
                                           audit.decision_read (actor: the key's name, role
                                           auditor; payload: key prefix and client, the
                                           decision's client); no record, no answer
    decision.client == reader.client     → the decision
    otherwise (another client's, or one
    without a client)                    → None, exactly as for a decision that does not exist

The same rule holds for a decision still in the WAL backlog and for one in the store, since both
are read as a :class:`riskops.decisions.records.StoredDecision` with its client. The action is
not named ``decisions.…``: the serving refresher ignores ``decisions.*`` (the log's own seals)
and ``audit.decision_read`` (see :meth:`riskops.serving.service.ScoringService.refresh_if_changed`),
so an auditor's reads do not make every server re-read its keys and deployments.

Example::

    reader = Reader(key="exam-2026", prefix="1f2e3d4c", client="examiner", auditor=True)
    found = read_decision(log, decision_id, reader)   # None: no such decision for this reader
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from riskops.audit.trail import record
from riskops.decisions.records import StoredDecision
from riskops.store import Store

AUDIT_READ_ACTION = "audit.decision_read"
AUDITOR_ROLE = "auditor"


@dataclass(frozen=True)
class Reader:
    """Who asks to read a decision: the API key's name and prefix, its client, and whether it
    holds the ``audit`` scope."""

    key: str
    prefix: str
    client: str
    auditor: bool = False


def visible(found: StoredDecision, reader: Reader) -> bool:
    """Whether ``reader`` may see ``found`` without the audit scope."""
    return found.client is not None and found.client == reader.client


def read_decision(
    get: Callable[[str], StoredDecision | None],
    decision_id: str,
    reader: Reader,
    *,
    store: Store,
    clock: Callable[[], datetime],
) -> StoredDecision | None:
    """The decision ``decision_id`` as ``reader`` may see it (see the module docstring): None
    when it does not exist or belongs to another client; an auditor's read is recorded in
    the audit chain before the decision is returned (a BackendError, and no decision, when it
    cannot be)."""
    found = get(decision_id)
    if found is None:
        return None
    if reader.auditor:
        record_audit_read(store, found, reader, at=clock())
        return found
    return found if visible(found, reader) else None


def record_audit_read(store: Store, found: StoredDecision, reader: Reader, *, at: datetime) -> None:
    """Record in the audit chain that ``reader`` read ``found`` under the audit scope."""
    with store.transaction() as session:
        record(
            session,
            actor=reader.key,
            role=AUDITOR_ROLE,
            action=AUDIT_READ_ACTION,
            object_type="decision",
            object_id=found.decision_id,
            payload={
                "key": reader.prefix,
                "key_client": reader.client,
                "decision_client": found.client,
                "model": found.model_name,
                "version": found.version,
            },
            at=at,
        )
