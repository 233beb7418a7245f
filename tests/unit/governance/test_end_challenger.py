"""Ending a challenger: a new full row for the champion ends the canary (and the shadows), is
audited with its evidence, needs the operator or risk officer role, and is refused, saying so,
when there is nothing to end."""

from __future__ import annotations

import pytest

from riskops.audit import list_events
from riskops.context import Context
from riskops.errors import ConflictError, PermissionDeniedError
from riskops.governance.deployments import end_challenger, serving_at
from riskops.governance.serving import lanes_of
from tests.conftest import store_snapshot

MODEL = "credit-scoring"


def test_the_canary_is_ended_and_the_champion_answers_everyone(canary_workspace: Context) -> None:
    ctx = canary_workspace
    ended = end_challenger(
        ctx,
        MODEL,
        environment="production",
        actor="oscar",
        reason="canary misbehaves",
        evidence={"analysis_sha256": "sha256:" + "0" * 64},
    )
    assert (ended.ref.version, ended.action, ended.previous_version) == (1, "rollback", 2)
    with ctx.store.reading() as session:
        lanes = lanes_of(session, MODEL, "production")
        serving = serving_at(session, MODEL, "production")
    assert [(row.version, lane) for row, lane in lanes] == [(1, "champion")]
    assert serving is not None
    assert serving.version == 1
    (event,) = list_events(ctx.store, action="deployment.rolled_back")
    assert event.actor == "oscar"
    assert event.payload["evidence"] == {"analysis_sha256": "sha256:" + "0" * 64}
    with pytest.raises(ConflictError, match="has no canary or shadow in production") as caught:
        end_challenger(ctx, MODEL, environment="production", actor="oscar")
    assert "riskops show credit-scoring" in (caught.value.hint or "")


def test_only_an_operator_or_risk_officer_ends_a_canary(canary_workspace: Context) -> None:
    ctx = canary_workspace
    before = store_snapshot(ctx)
    with pytest.raises(PermissionDeniedError, match="needs the role operator or risk_officer"):
        end_challenger(ctx, MODEL, environment="production", actor="alice")
    with pytest.raises(ConflictError, match="credit-scoring has no canary or shadow in staging"):
        end_challenger(ctx, MODEL, environment="staging", actor="oscar")
    assert store_snapshot(ctx) == before
