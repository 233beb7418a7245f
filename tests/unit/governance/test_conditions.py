"""The validator's opinion and enforced conditions of approval: a sign-off on a version whose
gates failed needs an opinion; a blocking condition stops deployment to production until it
is met (monitoring live, or closed by a person with evidence), and each step is audited."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from riskops.audit import list_events
from riskops.context import Context
from riskops.errors import ConflictError, InputError, PermissionDeniedError
from riskops.governance.approvals import approve, challenged_gates
from riskops.governance.conditions import Condition, close_condition, list_conditions
from riskops.governance.deployments import deploy
from riskops.governance.inventory import describe_model
from riskops.governance.overrides import override_gate
from riskops.monitoring.runs import run_monitoring
from riskops.registry.versions import ModelRef
from riskops.training.pipeline import train
from riskops.validation.run import validate
from tests.conftest import OPINION, SPEC, store_snapshot


@pytest.fixture
def validated(ctx: Context) -> tuple[ModelRef, list[str]]:
    """A validated reference version and the gates its validation failed."""
    ref = train(ctx, SPEC, actor="alice").ref
    outcome = validate(ctx, ref, actor="victor")
    assert outcome.passed
    return ref, [r.gate for r in outcome.results if r.status == "failed"]


def refused(ctx: Context, error: type[Exception], match: str, action: Callable[[], Any]) -> None:
    before = store_snapshot(ctx)
    with pytest.raises(error, match=match):
        action()
    assert store_snapshot(ctx) == before


def test_the_validator_needs_an_opinion_when_a_gate_failed(
    ctx: Context, validated: tuple[ModelRef, list[str]]
) -> None:
    ref, failed = validated
    assert failed, "the reference model fails advisory fairness gates"
    with ctx.store.reading() as session:
        assert challenged_gates(session, ref) == failed
    refused(
        ctx,
        InputError,
        rf"victor's sign-off of {ref} needs a written opinion: its validation has "
        rf"{len(failed)} gate\(s\) failed or overridden \({failed[0]}",
        lambda: approve(ctx, ref, actor="victor", opinion="   "),
    )
    signed = approve(ctx, ref, actor="victor", opinion=f"  {OPINION} ")
    assert signed.as_dict()["opinion"] == OPINION
    approve(ctx, ref, actor="rita")  # the risk officer's approval needs none
    [validator, officer] = describe_model(ctx, ref.name).as_dict()["versions"][0]["approvals"]
    assert (validator["opinion"], officer["opinion"]) == (OPINION, "")
    assert list_events(ctx.store, action="version.signed_off")[0].payload["opinion"] == OPINION


def test_no_opinion_is_needed_when_no_gate_failed(
    ctx: Context, spec_copy: Callable[..., Path]
) -> None:
    def lenient(raw: dict[str, Any]) -> None:
        raw["gates"]["fairness"].update(
            min_approval_rate_ratio=0.0,
            max_equal_opportunity_difference=1.0,
            max_calibration_difference=1.0,
        )
        # Too few foreign workers in the validation split to measure: those checks would fail.
        raw["data"]["protected_attributes"].remove("foreign_worker")
        del raw["gates"]["not_applicable"]["fairness.foreign_worker"]

    ref = train(ctx, spec_copy(lenient), actor="alice").ref
    outcome = validate(ctx, ref, actor="victor")
    failed = [r.gate for r in outcome.results if r.status == "failed"]
    assert not any(g.startswith("fairness.") for g in failed), failed
    if failed:
        with pytest.raises(InputError, match="needs a written opinion"):
            approve(ctx, ref, actor="victor")
    else:
        assert approve(ctx, ref, actor="victor").opinion == ""


def test_an_overridden_gate_needs_an_opinion(ctx: Context, spec_copy: Callable[..., Path]) -> None:
    def strict(raw: dict[str, Any]) -> None:
        raw["gates"]["performance"].update(min_auc=0.99)

    ref = train(ctx, spec_copy(strict), actor="alice").ref
    validate(ctx, ref, actor="victor")
    override_gate(
        ctx,
        ref,
        gate="performance.auc",
        actor="rita",
        justification="Judged against the bank's own policy minimum of 0.75.",
    )
    with ctx.store.reading() as session:
        assert "performance.auc (overridden)" in challenged_gates(session, ref)
    with pytest.raises(InputError, match=r"performance\.auc \(overridden\)"):
        approve(ctx, ref, actor="victor")


def test_deploying_to_production_waits_for_every_blocking_condition(
    ctx: Context, validated: tuple[ModelRef, list[str]]
) -> None:
    ref, _ = validated
    # A monitoring run before the condition is set is no evidence that monitoring is live.
    run_monitoring(ctx, ref.name, environment="production")
    approve(
        ctx,
        ref,
        actor="victor",
        opinion=OPINION,
        conditions=[
            "monitor PSI monthly",
            Condition.monitoring_live(),
            Condition("Refer band reviewed by the credit committee", blocking=True),
        ],
    )
    approve(ctx, ref, actor="rita")
    free, live, manual = list_conditions(ctx, ref)
    assert [(c.kind, c.blocking, c.status) for c in (free, live, manual)] == [
        ("manual", False, "open"),
        ("monitoring_live", True, "open"),
        ("manual", True, "open"),
    ]
    refused(
        ctx,
        ConflictError,
        rf"Cannot deploy {ref} to production: 2 blocking condition\(s\) of its approval still "
        rf"open: #{live.id} monitoring_live .*; #{manual.id} manual \(Refer band reviewed",
        lambda: deploy(ctx, ref, environment="production", actor="oscar"),
    )
    with pytest.raises(ConflictError) as raised:
        deploy(ctx, ref, environment="production", actor="oscar")
    assert f"riskops monitor run {ref.name} --env production" in str(raised.value.hint)
    assert f"riskops condition close {manual.id}" in str(raised.value.hint)
    deploy(ctx, ref, environment="staging", actor="oscar")  # conditions guard production only

    refused(
        ctx,
        ConflictError,
        "no monitoring run of credit-scoring in production is recorded since it was set",
        lambda: close_condition(ctx, live.id, evidence="Dashboards are up.", actor="rita"),
    )
    run_monitoring(ctx, ref.name, environment="production")
    refused(
        ctx,
        ConflictError,
        rf"1 blocking condition\(s\) of its approval still open: #{manual.id} manual",
        lambda: deploy(ctx, ref, environment="production", actor="oscar"),
    )
    refused(
        ctx,
        PermissionDeniedError,
        "that needs the role validator or risk_officer",
        lambda: close_condition(ctx, manual.id, evidence="Reviewed on 9 Dec.", actor="oscar"),
    )
    refused(
        ctx,
        InputError,
        "needs written evidence of at least 10 characters",
        lambda: close_condition(ctx, manual.id, evidence="ok", actor="rita"),
    )
    closed = close_condition(
        ctx, manual.id, evidence="Credit committee minutes 2026-14, item 3.", actor="rita"
    )
    assert (closed.status, closed.closed_by) == ("satisfied", "rita")
    deploy(ctx, ref, environment="production", actor="oscar")
    free, live, manual = list_conditions(ctx, ref)
    assert (free.status, live.status, live.closed_by) == ("open", "satisfied", "oscar")
    assert live.evidence is not None
    assert "monitoring run" in live.evidence
    with pytest.raises(ConflictError, match=f"Condition #{manual.id} of {ref} is already"):
        close_condition(ctx, manual.id, evidence="Again, for the record.", actor="rita")
    assert [e.payload["condition_id"] for e in list_events(ctx.store, action="condition.set")] == [
        free.id,
        live.id,
        manual.id,
    ]
    assert [
        e.payload["condition_id"] for e in list_events(ctx.store, action="condition.satisfied")
    ] == [manual.id, live.id]
    shown = describe_model(ctx, ref.name).as_dict()["versions"][0]["conditions"]
    assert [c["status"] for c in shown] == ["open", "satisfied", "satisfied"]
