from __future__ import annotations

import pytest

from riskops.audit import list_events
from riskops.context import Context
from riskops.errors import ConflictError, InputError, PermissionDeniedError
from riskops.governance.approvals import approve
from riskops.registry.versions import ModelRef
from riskops.training.pipeline import train
from riskops.validation.run import validate
from tests.conftest import OPINION, SPEC, store_snapshot


@pytest.fixture
def validated(ctx: Context) -> ModelRef:
    ref = train(ctx, SPEC, actor="dana").ref
    validate(ctx, ref, actor="victor")
    return ref


def refused(
    ctx: Context, error: type[Exception], match: str, ref: ModelRef, actor: str | None
) -> None:
    before = store_snapshot(ctx)
    with pytest.raises(error, match=match):
        approve(ctx, ref, actor=actor, opinion=OPINION)
    assert store_snapshot(ctx) == before


def test_validator_then_risk_officer_approve(ctx: Context, validated: ModelRef) -> None:
    first = approve(ctx, validated, actor="victor", opinion=OPINION, note="sound")
    assert first.state == "validated"
    assert first.role == "validator"
    assert first.next_step == "riskops approve credit-scoring@1 --as <risk officer>"
    second = approve(ctx, validated, actor="rita")
    assert second.state == "approved"
    assert second.role == "risk_officer"
    actions = [e.action for e in list_events(ctx.store, object_id=str(validated))]
    assert actions[-2:] == ["version.signed_off", "version.approved"]
    refused(ctx, ConflictError, "already approved", validated, "rob")


def test_a_developer_cannot_approve_their_own_model(ctx: Context, validated: ModelRef) -> None:
    refused(
        ctx,
        PermissionDeniedError,
        "dana trained credit-scoring@1, so cannot sign it off",
        validated,
        "dana",
    )


def test_the_validator_cannot_also_give_final_approval(ctx: Context, validated: ModelRef) -> None:
    approve(ctx, validated, actor="vera", opinion=OPINION)
    refused(
        ctx,
        PermissionDeniedError,
        "vera signed off credit-scoring@1 as its validator",
        validated,
        "vera",
    )
    assert approve(ctx, validated, actor="rob").state == "approved"


def test_the_risk_officer_waits_for_the_validator(ctx: Context, validated: ModelRef) -> None:
    refused(
        ctx, ConflictError, "still needs an independent validator's sign-off", validated, "rita"
    )


def test_roles_are_enforced(ctx: Context, validated: ModelRef) -> None:
    refused(ctx, PermissionDeniedError, r"oscar \(operator\) cannot sign off", validated, "oscar")
    approve(ctx, validated, actor="victor", opinion=OPINION)
    refused(ctx, PermissionDeniedError, "needs the role risk_officer", validated, "alice")
    refused(ctx, InputError, "needs the name of who does it", validated, None)


def test_a_candidate_cannot_be_approved(ctx: Context) -> None:
    ref = train(ctx, SPEC, actor="alice").ref
    refused(ctx, ConflictError, "its gates have not run yet", ref, "victor")


def test_whoever_ran_the_gates_cannot_give_final_approval(ctx: Context) -> None:
    ref = train(ctx, SPEC, actor="alice").ref
    validate(ctx, ref, actor="vera")
    approve(ctx, ref, actor="victor", opinion=OPINION)
    refused(ctx, PermissionDeniedError, "vera ran the validation of credit-scoring@1", ref, "vera")
    assert approve(ctx, ref, actor="rita").state == "approved"
