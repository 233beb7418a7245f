"""The flows run in-process against Prefect's test server on a temporary workspace with the
reference credit model: results, retries of transient failures only, and what a failed step
leaves (a Failed flow run, a ``pipeline.failed`` audit event, nothing half-written)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from riskops.audit import list_events, verify
from riskops.config import Settings
from riskops.context import open_context
from riskops.errors import BackendError, ConflictError, InputError, SpecError
from riskops.flows.pipelines import monitoring_run_flow, train_and_validate_flow
from riskops.governance.pipeline_runs import failures
from riskops.registry.versions import ModelRef, get_version
from riskops.store.tables import ModelVersionRecord, ValidationRunRecord
from tests.conftest import SPEC

FAST = {"retries": 1, "retry_delay_seconds": 0}


def failing_once(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, error: Exception, times: int = 1
) -> list[int]:
    """Make ``module.name`` raise ``error`` on its first ``times`` calls, then work; the list
    counts the calls."""
    real = getattr(module, name)
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, flaky)
    return calls


def test_train_then_validate_retries_a_transient_failure_and_returns_json(
    workspace: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import riskops.training.pipeline as pipeline

    calls = failing_once(
        monkeypatch, pipeline, "train", BackendError("The riskops database did not answer")
    )
    state = train_and_validate_flow(
        str(SPEC),
        str(workspace.home),
        trained_by="alice",
        validated_by="victor",
        return_state=True,
        **FAST,
    )
    assert state.is_completed()
    result = state.result()
    assert len(calls) == 2  # the first attempt failed, the retry trained
    assert result["model"] == "credit-scoring@1"
    assert result["passed"] is True
    assert result["state"] == "validated"
    assert result["validation"]["failed_gates"] == []
    assert result["training"]["metrics"]["validation_auc"] > 0.7
    assert json.loads(json.dumps(result)) == result
    ctx = open_context(workspace)
    try:
        actions = [e.action for e in list_events(ctx.store)]
        assert actions[:2] == ["version.registered", "validation.completed"]
        assert "pipeline.failed" not in actions
        assert failures(ctx) == []
    finally:
        ctx.close()


def test_a_spec_error_is_not_retried_and_leaves_a_record(
    workspace: Settings, spec_copy: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import riskops.training.pipeline as pipeline

    def break_it(raw: dict[str, Any]) -> None:
        raw["risk_tier"] = "enormous"

    calls = failing_once(monkeypatch, pipeline, "train", BackendError("unused"), times=0)
    spec = spec_copy(break_it)
    state = train_and_validate_flow(
        str(spec),
        str(workspace.home),
        trained_by="alice",
        validated_by="victor",
        return_state=True,
        retries=3,
        retry_delay_seconds=0,
    )
    assert state.is_failed()
    assert len(calls) == 1
    with pytest.raises(SpecError, match="risk_tier"):
        state.result()
    ctx = open_context(workspace)
    try:
        [failure] = failures(ctx)
        assert failure.pipeline == "train-and-validate"
        assert failure.step == "train"
        assert failure.subject == str(spec)
        assert failure.code == "spec_invalid"
        assert failure.attempts == 1
        assert failure.run_id is not None
        assert failure.actor == "alice"
        with ctx.store.reading() as session:
            assert session.scalar(select(func.count()).select_from(ModelVersionRecord)) == 0
        assert verify(ctx.store).ok
    finally:
        ctx.close()
