"""Which versions may serve where: the plan the scoring server asks governance for.

The store rows are written directly, so each case states exactly the history it is about.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from riskops.context import Context
from riskops.governance.serving import Planned, ineligibility, serving_plan
from riskops.store.tables import (
    ApprovalRecord,
    DeploymentRecord,
    ModelRecord,
    ModelVersionRecord,
)

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
MODEL = "credit-scoring"


def version(
    session: Session,
    number: int,
    *,
    state: str = "approved",
    sign_offs: tuple[str, ...] = ("validator", "risk_officer"),
    model: str = MODEL,
) -> None:
    if session.get(ModelRecord, model) is None:
        session.add(
            ModelRecord(
                name=model,
                risk_tier="high",
                owner="owner",
                intended_use="test",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    session.add(
        ModelVersionRecord(
            model_name=model,
            version=number,
            state=state,
            digest=f"sha256:{number:064d}",
            artifact_uri="file:///nowhere",
            mlflow_run_id="run",
            flavor="lightgbm",
            data_fingerprint="sha256:data",
            data_source="data.csv",
            data_rows=1,
            code_commit=None,
            code_dirty=False,
            code_diff_sha256=None,
            trainer_sha256="sha256:trainer",
            spec_sha256="sha256:spec",
            spec_yaml="",
            params={},
            metrics={},
            packages={},
            trained_by="alice",
            created_at=NOW,
            updated_at=NOW,
        )
    )
    for role in sign_offs:
        session.add(
            ApprovalRecord(
                model_name=model,
                version=number,
                actor=role,
                role=role,
                decision="approve",
                created_at=NOW,
            )
        )


def deployed(
    session: Session,
    number: int,
    *,
    mode: str = "full",
    share: float | None = None,
    action: str = "deploy",
    environment: str = "production",
    model: str = MODEL,
) -> None:
    session.add(
        DeploymentRecord(
            model_name=model,
            environment=environment,
            version=number,
            action=action,
            previous_version=None,
            actor="oscar",
            mode=mode,
            share=share,
            created_at=NOW,
        )
    )
    session.flush()  # ids follow the order of the calls


def plan(ctx: Context, environment: str = "production") -> list[tuple[int, str, float | None]]:
    with ctx.store.reading() as session:
        return [(p.version, p.lane, p.share) for p in serving_plan(session, environment)]


def test_an_approved_version_with_both_sign_offs_serves_with_its_digest(ctx: Context) -> None:
    with ctx.store.transaction() as session:
        version(session, 1)
        deployed(session, 1)
    with ctx.store.reading() as session:
        assert serving_plan(session, "production") == [
            Planned(MODEL, 1, f"sha256:{1:064d}", "champion", None)
        ]
        assert serving_plan(session, "staging") == []
        assert ineligibility(session, MODEL, 1) is None


@pytest.mark.parametrize(
    ("sign_offs", "missing"),
    [
        (("validator",), "risk_officer"),
        (("risk_officer",), "validator"),
        ((), "risk_officer and a validator"),
    ],
)
def test_a_version_missing_a_sign_off_does_not_serve(
    ctx: Context,
    caplog: pytest.LogCaptureFixture,
    sign_offs: tuple[str, ...],
    missing: str,
) -> None:
    with ctx.store.transaction() as session:
        version(session, 1, sign_offs=sign_offs)
        deployed(session, 1)
    with caplog.at_level(logging.ERROR, logger="riskops.governance.serving"):
        assert plan(ctx) == []
    assert f"Not serving {MODEL}@1: it lacks the sign-off of a {missing}" in caplog.text


def test_a_rejected_sign_off_does_not_count(ctx: Context) -> None:
    with ctx.store.transaction() as session:
        version(session, 1, sign_offs=("validator",))
        session.add(
            ApprovalRecord(
                model_name=MODEL,
                version=1,
                actor="rita",
                role="risk_officer",
                decision="reject",
                created_at=NOW,
            )
        )
        deployed(session, 1)
    with ctx.store.reading() as session:
        assert ineligibility(session, MODEL, 1) == "it lacks the sign-off of a risk_officer"


def test_a_version_that_is_no_longer_approved_does_not_serve(ctx: Context) -> None:
    with ctx.store.transaction() as session:
        version(session, 1, state="retired")
        deployed(session, 1)
    with ctx.store.reading() as session:
        assert ineligibility(session, MODEL, 1) == "it is 'retired', not 'approved'"
        assert ineligibility(session, MODEL, 9) == "no such version in the store"
    assert plan(ctx) == []


def test_a_rollback_makes_the_earlier_version_the_champion_again(ctx: Context) -> None:
    with ctx.store.transaction() as session:
        version(session, 1)
        version(session, 2)
        deployed(session, 1)
        deployed(session, 2)
    assert plan(ctx) == [(2, "champion", None)]
    with ctx.store.transaction() as session:
        deployed(session, 1, action="rollback")
    assert plan(ctx) == [(1, "champion", None)]


def test_a_canary_answers_its_share_beside_the_champion(ctx: Context) -> None:
    with ctx.store.transaction() as session:
        for number in (1, 2, 3):
            version(session, number)
        deployed(session, 1)
        deployed(session, 2, mode="canary", share=0.2)
        deployed(session, 3, mode="canary", share=0.1)
    # Only the newest canary runs.
    assert plan(ctx) == [(1, "champion", None), (3, "canary", 0.1)]
    with ctx.store.transaction() as session:
        deployed(session, 3)  # promoted: it is the champion and no longer a canary
    assert plan(ctx) == [(3, "champion", None)]


def test_shadows_are_planned_beside_the_champion_but_not_twice(ctx: Context) -> None:
    with ctx.store.transaction() as session:
        for number in (1, 2, 3):
            version(session, number)
        deployed(session, 2, mode="shadow")  # before any champion: no longer counts
        deployed(session, 1)
        deployed(session, 2, mode="shadow")
        deployed(session, 3, mode="shadow")
        deployed(session, 3, mode="canary", share=0.5)  # a canary is not also a shadow
        deployed(session, 1, mode="shadow")  # the champion is not its own shadow
    assert plan(ctx) == [(1, "champion", None), (3, "canary", 0.5), (2, "shadow", None)]


def test_an_ineligible_canary_or_shadow_is_left_out_and_the_champion_still_serves(
    ctx: Context,
) -> None:
    with ctx.store.transaction() as session:
        version(session, 1)
        version(session, 2, state="validated", sign_offs=())
        version(session, 3, sign_offs=("validator",))
        deployed(session, 1)
        deployed(session, 2, mode="canary", share=0.1)
        deployed(session, 3, mode="shadow")
    assert plan(ctx) == [(1, "champion", None)]


def test_without_an_eligible_champion_no_lane_of_the_model_serves(ctx: Context) -> None:
    with ctx.store.transaction() as session:
        version(session, 1, state="retired")
        version(session, 2)
        version(session, 1, model="fraud-detection")
        deployed(session, 1)
        deployed(session, 2, mode="shadow")
        deployed(session, 1, model="fraud-detection")
    with ctx.store.reading() as session:
        assert [(p.model, p.lane) for p in serving_plan(session, "production")] == [
            ("fraud-detection", "champion")
        ]
