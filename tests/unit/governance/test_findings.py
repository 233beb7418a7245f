"""The validator's findings log: raised by an independent validator, remediated by its owner,
accepted by a risk officer, closed by a validator; each step kept (append-only) and audited,
and shown in the model's view and the inventory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from riskops.audit import list_events
from riskops.context import Context
from riskops.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from riskops.governance.findings import list_findings, raise_finding, update_finding
from riskops.governance.inventory import describe_model
from riskops.governance.review import review_inventory
from riskops.registry.versions import ModelRef
from riskops.training.pipeline import train
from riskops.validation.run import validate
from tests.conftest import SPEC, store_snapshot

DUE = date(2027, 3, 31)


@pytest.fixture
def failed(ctx: Context) -> tuple[ModelRef, list[str]]:
    """A validated reference version and the gates its validation failed."""
    ref = train(ctx, SPEC, actor="dana").ref
    outcome = validate(ctx, ref, actor="victor")
    return ref, [r.gate for r in outcome.results if r.status == "failed"]


def refused(ctx: Context, error: type[Exception], match: str, action: Callable[[], Any]) -> None:
    before = store_snapshot(ctx)
    with pytest.raises(error, match=match):
        action()
    assert store_snapshot(ctx) == before


def test_a_finding_moves_from_raised_to_closed_by_the_right_people(
    ctx: Context, failed: tuple[ModelRef, list[str]]
) -> None:
    ref, gates = failed
    first = raise_finding(
        ctx,
        ref,
        severity="medium",
        owner="alice",
        due=DUE,
        gate=gates[0],
        text="  Approval ratio below 0.80\n for the group. ",
        actor="victor",
    )
    assert (first.status, first.gate, first.text) == (
        "open",
        gates[0],
        "Approval ratio below 0.80 for the group.",
    )
    second = raise_finding(
        ctx, ref, severity="low", owner="alice", due=DUE, text="Document the split.", actor="vera"
    )
    refused(
        ctx,
        PermissionDeniedError,
        "Only the owner of finding #1, alice, marks it remediated; victor is not",
        lambda: update_finding(ctx, first.id, status="remediated", note="done", actor="victor"),
    )
    remediated = update_finding(
        ctx, first.id, status="remediated", note="Reweighted; ratio 0.83.", actor="alice"
    )
    assert remediated.status == "remediated"
    refused(
        ctx,
        PermissionDeniedError,
        "that needs the role validator",
        lambda: update_finding(ctx, first.id, status="closed", note="fine", actor="alice"),
    )
    closed = update_finding(ctx, first.id, status="closed", note="Checked on v2.", actor="victor")
    assert [(s.status, s.actor) for s in closed.history] == [
        ("open", "victor"),
        ("remediated", "alice"),
        ("closed", "victor"),
    ]
    refused(
        ctx,
        ConflictError,
        "Finding #1 is closed; it cannot move to open",
        lambda: update_finding(ctx, first.id, status="open", note="again", actor="victor"),
    )
    refused(
        ctx,
        PermissionDeniedError,
        "that needs the role risk_officer",
        lambda: update_finding(ctx, second.id, status="accepted", note="ok", actor="victor"),
    )
    accepted = update_finding(
        ctx, second.id, status="accepted", note="Known; documented in the file.", actor="rita"
    )
    assert accepted.status == "accepted"

    listed = list_findings(ctx, ref.name, ref.version)
    assert [(f.id, f.status) for f in listed] == [(first.id, "closed"), (second.id, "accepted")]
    assert list_findings(ctx, ref.name, ref.version + 1) == []
    view = describe_model(ctx, ref.name).as_dict()["versions"][0]["findings_log"]
    assert [f["status"] for f in view] == ["closed", "accepted"]
    actions = [
        (e.action, e.payload.get("to"))
        for e in list_events(ctx.store, object_id=str(ref))
        if e.action.startswith("finding.")
    ]
    assert actions == [
        ("finding.raised", None),
        ("finding.raised", None),
        ("finding.updated", "remediated"),
        ("finding.updated", "closed"),
        ("finding.updated", "accepted"),
    ]


def test_findings_are_refused_when_malformed_or_raised_by_the_wrong_person(
    ctx: Context, failed: tuple[ModelRef, list[str]]
) -> None:
    ref, _ = failed

    def add(**changes: Any) -> Callable[[], Any]:
        given: dict[str, Any] = {
            "severity": "high",
            "owner": "alice",
            "due": DUE,
            "text": "The refer band is not sized.",
            "actor": "victor",
        }
        given.update(changes)
        return lambda: raise_finding(ctx, ref, **given)

    refused(
        ctx,
        InputError,
        "Unknown severity 'severe'; it is one of: high, medium, low",
        add(severity="severe"),
    )
    refused(
        ctx, InputError, "The owner 'nobody' of a finding must be a person", add(owner="nobody")
    )
    refused(ctx, InputError, "needs its text", add(text="  "))
    refused(ctx, PermissionDeniedError, "that needs the role validator", add(actor="rita"))
    refused(ctx, PermissionDeniedError, "dana trained credit-scoring@1", add(actor="dana"))
    refused(
        ctx,
        NotFoundError,
        "No finding #99",
        lambda: update_finding(ctx, 99, status="closed", note="x", actor="victor"),
    )
    done = add()()
    own = add(owner="vera")()  # vera is a validator and a risk officer
    update_finding(ctx, own.id, status="remediated", note="Split documented.", actor="vera")
    refused(
        ctx,
        PermissionDeniedError,
        f"vera owns finding #{own.id}, so cannot also mark it closed",
        lambda: update_finding(ctx, own.id, status="closed", note="Fine.", actor="vera"),
    )
    refused(
        ctx,
        InputError,
        "Unknown finding status 'fixed'",
        lambda: update_finding(ctx, done.id, status="fixed", note="x", actor="alice"),
    )
    refused(
        ctx,
        InputError,
        "needs a note",
        lambda: update_finding(ctx, done.id, status="remediated", note=" ", actor="alice"),
    )


def test_the_history_is_append_only_and_the_inventory_counts_open_findings(
    ctx: Context, failed: tuple[ModelRef, list[str]]
) -> None:
    ref, _ = failed
    late = ctx.clock().date() - timedelta(days=1)
    raise_finding(ctx, ref, severity="high", owner="alice", due=late, text="Late.", actor="victor")
    raise_finding(ctx, ref, severity="low", owner="alice", due=DUE, text="Later.", actor="victor")
    [entry] = review_inventory(ctx).entries
    assert (entry.open_findings, entry.overdue_findings) == (2, 1)
    assert entry.as_dict()["open_blocking_conditions"] == 0
    for statement in ("UPDATE finding_updates SET note = 'edited'", "DELETE FROM finding_updates"):
        with (
            pytest.raises(DatabaseError, match="finding_updates is append-only"),
            ctx.store.engine.begin() as connection,
        ):
            connection.execute(text(statement))
