"""Who may read a decision: its own client, or an auditor whose every read is on record."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from riskops.audit import list_events, verify
from riskops.context import Context
from riskops.decisions import access
from riskops.decisions.access import AUDIT_READ_ACTION, Reader, read_decision
from riskops.decisions.records import StoredDecision
from riskops.errors import BackendError

DECIDED = StoredDecision(
    decision_id="0b0d7a6e-0000-4000-8000-000000000001",
    decided_at=datetime(2026, 12, 7, 9, 30, tzinfo=UTC),
    model_name="credit-scoring",
    version=2,
    digest="sha256:" + "d" * 64,
    route="champion",
    served=True,
    subject="a" * 64,
    score=0.61,
    decision="decline",
    reasons=[{"code": "duration_in_month", "text": "Too long", "value": 48}],
    latency_ms=0.8,
    fallback=False,
    request_sha256="e" * 64,
    features={"duration_in_month": 48},
    erased=False,
    flushed=True,
    batch_id=1,
    client="bank-a",
)
BANK_A = Reader("portal-a", "aaaaaaaa", "bank-a")
BANK_B = Reader("portal-b", "bbbbbbbb", "bank-b")
EXAMINER = Reader("exam-2026", "eeeeeeee", "examiner", auditor=True)


def test_a_client_reads_its_own_decisions_and_no_one_else_s(ctx: Context) -> None:
    legacy = dataclasses.replace(DECIDED, client=None)
    decisions = {DECIDED.decision_id: DECIDED, "legacy": legacy}

    def read(decision_id: str, reader: Reader) -> StoredDecision | None:
        return read_decision(decisions.get, decision_id, reader, store=ctx.store, clock=ctx.clock)

    assert read(DECIDED.decision_id, BANK_A) is DECIDED
    assert read(DECIDED.decision_id, BANK_B) is None  # as if there were no such decision
    assert read("no-such-id", BANK_B) is None
    assert read("legacy", BANK_A) is None  # made before clients: only an auditor reads it
    assert list_events(ctx.store, action=AUDIT_READ_ACTION) == []


def test_every_read_of_an_auditor_is_recorded_in_the_chain(ctx: Context) -> None:
    legacy = dataclasses.replace(DECIDED, decision_id="legacy", client=None)
    decisions = {d.decision_id: d for d in (DECIDED, legacy)}
    for decision_id in (DECIDED.decision_id, "legacy", DECIDED.decision_id, "missing"):
        found = read_decision(
            decisions.get, decision_id, EXAMINER, store=ctx.store, clock=ctx.clock
        )
        assert found is decisions.get(decision_id)
    events = list_events(ctx.store, action=AUDIT_READ_ACTION)
    assert [(e.actor, e.role, e.object_id) for e in events] == [
        ("exam-2026", "auditor", DECIDED.decision_id),
        ("exam-2026", "auditor", "legacy"),
        ("exam-2026", "auditor", DECIDED.decision_id),
    ]
    assert events[0].payload == {
        "key": "eeeeeeee",
        "key_client": "examiner",
        "decision_client": "bank-a",
        "model": "credit-scoring",
        "version": 2,
    }
    assert events[1].payload["decision_client"] is None
    assert verify(ctx.store).ok


def test_no_record_no_answer(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    def store_away(*args: object, **kwargs: object) -> None:
        raise BackendError("The riskops database did not answer: connection refused")

    monkeypatch.setattr(access, "record_audit_read", store_away)
    with pytest.raises(BackendError, match="did not answer"):
        read_decision(
            {DECIDED.decision_id: DECIDED}.get,
            DECIDED.decision_id,
            EXAMINER,
            store=ctx.store,
            clock=ctx.clock,
        )
