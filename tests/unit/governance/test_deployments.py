from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import mlflow
import pytest

from riskops.context import Context
from riskops.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from riskops.governance.deployments import deploy, rollback, serving_at
from riskops.governance.inventory import describe_model
from riskops.registry.versions import ModelRef
from riskops.training.pipeline import train
from tests.conftest import SPEC, approve_and_deploy, store_snapshot

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def ticking(ctx: Context) -> Context:
    """A clock that moves one hour per reading, so history has distinct, known times."""
    moments: Iterator[datetime] = (T0 + timedelta(hours=i) for i in range(10_000))
    ctx.clock = lambda: next(moments)
    return ctx


def champion_alias(ctx: Context) -> str:
    client = mlflow.MlflowClient(
        tracking_uri=ctx.settings.mlflow_tracking_uri, registry_uri=ctx.settings.mlflow_registry_uri
    )
    return str(client.get_model_version_by_alias("credit-scoring", "champion").version)


def test_deploy_rollback_and_what_served_when(ticking: Context) -> None:
    ctx = ticking
    v1 = train(ctx, SPEC, actor="alice").ref
    approve_and_deploy(ctx, v1)
    assert champion_alias(ctx) == "1"
    v2 = train(ctx, SPEC, actor="alice", params={"num_leaves": 6}).ref
    approve_and_deploy(ctx, v2)
    assert champion_alias(ctx) == "2"
    back = rollback(ctx, "credit-scoring", environment="production", actor="oscar", reason="drift")
    assert back.ref == v1
    assert back.previous_version == 2
    assert champion_alias(ctx) == "1"

    with ctx.store.reading() as session:
        current = serving_at(session, "credit-scoring", "production")
    rows = describe_model(ctx, "credit-scoring").deployments
    deployed_v1, deployed_v2, rolled = (datetime.fromisoformat(str(d["at"])) for d in rows)
    assert current is not None
    assert current.created_at == rolled
    assert [d["action"] for d in rows] == ["deploy", "deploy", "rollback"]

    def at(moment: datetime) -> int | None:
        return describe_model(ctx, "credit-scoring", at=moment).serving["production"]

    assert at(deployed_v1 - timedelta(seconds=1)) is None
    assert at(deployed_v1) == 1
    assert at(deployed_v2 + timedelta(minutes=5)) == 2
    assert at(rolled) == 1

    with pytest.raises(ConflictError, match="no earlier version to roll back to"):
        rollback(ctx, "credit-scoring", environment="production", actor="oscar")
    again = rollback(ctx, "credit-scoring", environment="production", actor="rita", to_version=2)
    assert again.ref == v2
    assert champion_alias(ctx) == "2"


def test_an_unapproved_version_is_not_deployed(ctx: Context) -> None:
    ref = train(ctx, SPEC, actor="alice").ref
    before = store_snapshot(ctx)
    with pytest.raises(ConflictError, match="it is 'candidate', not 'approved'") as info:
        deploy(ctx, ref, environment="production", actor="oscar")
    assert "riskops validate credit-scoring@1" in (info.value.hint or "")
    assert store_snapshot(ctx) == before


def test_deployment_checks_role_environment_and_model(ctx: Context) -> None:
    ref = train(ctx, SPEC, actor="alice").ref
    approve_and_deploy(ctx, ref, environment="staging")
    before = store_snapshot(ctx)
    with pytest.raises(PermissionDeniedError, match="needs the role operator"):
        deploy(ctx, ref, environment="production", actor="alice")
    with pytest.raises(InputError, match="Valid environments are: staging, production"):
        deploy(ctx, ref, environment="prod", actor="oscar")
    with pytest.raises(ConflictError, match="already serves in staging"):
        deploy(ctx, ref, environment="staging", actor="oscar")
    with pytest.raises(NotFoundError, match="credit-scoring@7 does not exist"):
        deploy(ctx, ModelRef("credit-scoring", 7), environment="production", actor="oscar")
    with pytest.raises(NotFoundError, match="No model named 'fraud'"):
        rollback(ctx, "fraud", environment="production", actor="oscar")
    with pytest.raises(ConflictError, match="never been deployed to production"):
        rollback(ctx, "credit-scoring", environment="production", actor="oscar")
    with pytest.raises(ConflictError, match="has never served in staging"):
        rollback(ctx, "credit-scoring", environment="staging", actor="oscar", to_version=5)
    assert store_snapshot(ctx) == before
