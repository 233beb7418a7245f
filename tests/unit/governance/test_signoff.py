from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from riskops.audit import list_events
from riskops.config import Role
from riskops.context import Context
from riskops.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from riskops.governance.approvals import approve, reject
from riskops.governance.deployments import deploy
from riskops.governance.inventory import describe_model
from riskops.governance.lifecycle import State, move
from riskops.governance.overrides import override_gate
from riskops.registry.versions import ModelRef, get_version
from riskops.store.tables import ModelVersionRecord
from riskops.training.pipeline import train
from riskops.validation.run import validate
from tests.conftest import OPINION, SPEC, store_snapshot

GOOD_REASON = "AUC 0.77 on the out-of-time window; the 95% CI covers the minimum."


@pytest.fixture
def validated(ctx: Context) -> ModelRef:
    ref = train(ctx, SPEC, actor="dana").ref
    assert validate(ctx, ref, actor="victor").passed
    return ref


@pytest.fixture
def gate_rejected(ctx: Context, spec_copy: Callable[..., Path]) -> ModelRef:
    """A version whose blocking AUC and KS minimums are out of reach, so its gates reject it."""

    def strict(raw: dict[str, Any]) -> None:
        raw["gates"]["performance"].update(min_auc=0.99, min_ks=0.99)

    ref = train(ctx, spec_copy(strict), actor="alice").ref
    outcome = validate(ctx, ref, actor="victor")
    assert [r.gate for r in outcome.results if r.blocks] == ["performance.auc", "performance.ks"]
    return ref


def refused(ctx: Context, error: type[Exception], match: str, action: Callable[[], Any]) -> None:
    before = store_snapshot(ctx)
    with pytest.raises(error, match=match):
        action()
    assert store_snapshot(ctx) == before


def state_of(ctx: Context, ref: ModelRef) -> str:
    with ctx.store.reading() as session:
        return get_version(session, ref).state


def version_view(ctx: Context, ref: ModelRef) -> dict[str, Any]:
    view = describe_model(ctx, ref.name).as_dict()
    return next(v for v in view["versions"] if v["version"] == ref.version)


def test_findings_and_conditions_are_stored_audited_and_shown(
    ctx: Context, validated: ModelRef
) -> None:
    first = approve(
        ctx,
        validated,
        actor="victor",
        opinion=OPINION,
        note="Independent review done.",
        findings="Discrimination holds out of sample; the refer band is narrow.",
        conditions=["monitor PSI monthly", " revalidate if the approval rate moves 5 points "],
    )
    assert first.as_dict()["conditions"] == [
        "monitor PSI monthly",
        "revalidate if the approval rate moves 5 points",
    ]
    approve(ctx, validated, actor="rita", conditions=["report drift to the credit committee"])
    approvals = version_view(ctx, validated)["approvals"]
    assert [(a["actor"], a["role"], a["decision"]) for a in approvals] == [
        ("victor", "validator", "approve"),
        ("rita", "risk_officer", "approve"),
    ]
    assert approvals[0]["findings"] == (
        "Discrimination holds out of sample; the refer band is narrow."
    )
    assert approvals[0]["conditions"] == first.as_dict()["conditions"]
    assert approvals[0]["note"] == "Independent review done."
    assert approvals[1]["findings"] == ""
    assert approvals[1]["conditions"] == ["report drift to the credit committee"]
    signed_off = list_events(ctx.store, action="version.signed_off")[0]
    assert signed_off.payload["conditions"] == first.as_dict()["conditions"]
    assert signed_off.payload["decision"] == "approve"


def test_an_empty_condition_is_refused(ctx: Context, validated: ModelRef) -> None:
    refused(
        ctx,
        InputError,
        "A sign-off condition is empty",
        lambda: approve(ctx, validated, actor="victor", conditions=["monitor PSI", "  "]),
    )


def test_a_risk_officer_rejects_a_validated_version_for_good(
    ctx: Context, validated: ModelRef
) -> None:
    approve(ctx, validated, actor="victor", opinion=OPINION)
    done = reject(ctx, validated, actor="rita", reason="Reason codes are not specific enough.")
    assert (done.state, done.role, done.decision) == ("rejected", "risk_officer", "reject")
    assert state_of(ctx, validated) == "rejected"
    event = list_events(ctx.store, action="version.rejected")[0]
    assert (event.actor, event.role) == ("rita", "risk_officer")
    assert event.payload["note"] == "Reason codes are not specific enough."
    assert version_view(ctx, validated)["approvals"][-1]["decision"] == "reject"
    refused(
        ctx,
        ConflictError,
        r"rita \(risk_officer\) rejected it on .*: Reason codes are not specific enough",
        lambda: approve(ctx, validated, actor="rob"),
    )
    refused(
        ctx,
        ConflictError,
        "A person's rejection cannot be overridden",
        lambda: override_gate(
            ctx, validated, gate="performance.auc", justification=GOOD_REASON, actor="rob"
        ),
    )


def test_a_rejection_needs_a_reason_and_the_right_person(ctx: Context, validated: ModelRef) -> None:
    refused(
        ctx,
        InputError,
        "needs a reason",
        lambda: reject(ctx, validated, actor="rita", reason="  "),
    )
    refused(
        ctx,
        PermissionDeniedError,
        r"oscar \(operator\) cannot reject",
        lambda: reject(ctx, validated, actor="oscar", reason="not convinced"),
    )
    refused(
        ctx,
        PermissionDeniedError,
        "dana trained credit-scoring@1, so cannot reject it",
        lambda: reject(ctx, validated, actor="dana", reason="my own model is flawed"),
    )
    approve(ctx, validated, actor="victor", opinion=OPINION)
    approve(ctx, validated, actor="rita")
    refused(
        ctx,
        ConflictError,
        "already approved",
        lambda: reject(ctx, validated, actor="rob", reason="second thoughts"),
    )


def test_a_validator_rejects_at_their_signoff(ctx: Context, validated: ModelRef) -> None:
    refused(
        ctx,
        InputError,
        "must state its findings",
        lambda: approve(ctx, validated, actor="victor", decision="reject"),
    )
    done = approve(
        ctx,
        validated,
        actor="victor",
        decision="reject",
        findings="The out-of-time AUC falls below the policy minimum.",
    )
    assert (done.state, done.role, done.decision) == ("rejected", "validator", "reject")
    [row] = version_view(ctx, validated)["approvals"]
    assert row["findings"] == "The out-of-time AUC falls below the policy minimum."
    assert row["decision"] == "reject"


def test_after_the_validator_signed_off_only_a_risk_officer_rejects(
    ctx: Context, validated: ModelRef
) -> None:
    approve(ctx, validated, actor="victor", opinion=OPINION)
    refused(
        ctx,
        PermissionDeniedError,
        "only a risk officer can reject it now",
        lambda: reject(ctx, validated, actor="victor", reason="changed my mind"),
    )


def test_override_refusals_change_nothing(
    ctx: Context, gate_rejected: ModelRef, validated: ModelRef
) -> None:
    ctx.settings = replace(
        ctx.settings,
        people={**ctx.settings.people, "tess": frozenset({Role.DEVELOPER, Role.RISK_OFFICER})},
    )
    tess_model = train(ctx, SPEC, actor="tess").ref  # tess trains, so may not override it

    def attempt(
        ref: ModelRef, actor: str, gate: str = "performance.auc", why: str = GOOD_REASON
    ) -> Callable[[], Any]:
        return lambda: override_gate(ctx, ref, gate=gate, justification=why, actor=actor)

    refused(
        ctx,
        PermissionDeniedError,
        r"victor \(validator\) cannot override the gate performance.auc",
        attempt(gate_rejected, "victor"),
    )
    refused(
        ctx,
        InputError,
        "has 7 characters; a written justification of at least 20",
        attempt(gate_rejected, "rita", why="  too  low "),
    )
    refused(
        ctx,
        ConflictError,
        "The gate performance.gini of credit-scoring@1 passed",
        attempt(gate_rejected, "rita", gate="performance.gini"),
    )
    refused(
        ctx,
        NotFoundError,
        "has no gate named 'fairness'",
        attempt(gate_rejected, "rita", gate="fairness"),
    )
    refused(
        ctx,
        ConflictError,
        "it is 'validated' \\(no blocking gate stops it\\)",
        attempt(validated, "rita"),
    )
    refused(ctx, ConflictError, "its gates have not run yet", attempt(tess_model, "rita"))
    assert validate(ctx, tess_model, actor="victor").passed
    refused(
        ctx,
        PermissionDeniedError,
        "tess trained credit-scoring@3, so cannot override its gates",
        attempt(tess_model, "tess"),
    )
    refused(ctx, InputError, "needs the name of who does it", attempt(gate_rejected, ""))


def test_overriding_every_failed_blocking_gate_validates_then_signoffs_and_deploy(
    ctx: Context, gate_rejected: ModelRef
) -> None:
    first = override_gate(
        ctx, gate_rejected, gate="performance.auc", justification=GOOD_REASON, actor="rita"
    )
    assert first.state == "rejected"
    assert first.remaining == ("performance.ks",)
    assert "riskops override credit-scoring@1 --gate performance.ks" in first.next_step
    assert state_of(ctx, gate_rejected) == "rejected"
    refused(
        ctx,
        ConflictError,
        "already overridden",
        lambda: override_gate(
            ctx, gate_rejected, gate="performance.auc", justification=GOOD_REASON, actor="rob"
        ),
    )
    refused(
        ctx,
        ConflictError,
        "because a blocking gate failed",
        lambda: approve(ctx, gate_rejected, actor="victor"),
    )
    second = override_gate(
        ctx,
        gate_rejected,
        gate="performance.ks",
        justification="KS is judged against the bank's own 0.30 policy minimum instead.",
        actor="rob",
    )
    assert second.state == "validated"
    assert second.remaining == ()
    assert second.next_step == "riskops approve credit-scoring@1 --as <validator>"

    events = list_events(ctx.store, action="gate.overridden")
    assert [(e.actor, e.payload["gate"], e.payload["state"]) for e in events] == [
        ("rita", "performance.auc", "rejected"),
        ("rob", "performance.ks", "validated"),
    ]
    assert events[0].payload["justification"] == GOOD_REASON
    assert events[0].payload["threshold"] == 0.99
    shown = version_view(ctx, gate_rejected)
    assert shown["state"] == "validated"
    assert [(o["gate"], o["actor"]) for o in shown["overrides"]] == [
        ("performance.auc", "rita"),
        ("performance.ks", "rob"),
    ]
    assert shown["overrides"][0]["justification"] == GOOD_REASON

    # The usual sign-offs still apply: a validator, then a risk officer who is not them.
    refused(
        ctx,
        ConflictError,
        "still needs an independent validator's sign-off",
        lambda: approve(ctx, gate_rejected, actor="rita"),
    )
    approve(
        ctx,
        gate_rejected,
        actor="vera",
        opinion=OPINION,
        findings="Overrides reviewed and accepted.",
    )
    refused(
        ctx,
        PermissionDeniedError,
        "vera signed off credit-scoring@1 as its validator",
        lambda: approve(ctx, gate_rejected, actor="vera"),
    )
    assert approve(ctx, gate_rejected, actor="rita").state == "approved"
    assert deploy(ctx, gate_rejected, environment="production", actor="oscar").environment == (
        "production"
    )


def test_rejected_becomes_validated_only_through_an_override() -> None:
    row = ModelVersionRecord(model_name="credit-scoring", version=4, state=State.REJECTED.value)
    with pytest.raises(ConflictError, match="only when a risk officer overrides every failed"):
        move(row, State.VALIDATED)
    assert row.state == "rejected"
    with pytest.raises(ConflictError, match="it cannot become 'approved'"):
        move(row, State.APPROVED, by_override=True)
    move(row, State.VALIDATED, by_override=True)
    assert row.state == "validated"
