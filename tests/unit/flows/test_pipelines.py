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
from riskops.flows.pipelines import (
    batch_score_flow,
    monitoring_run_flow,
    train_and_validate_flow,
)
from riskops.governance.pipeline_runs import failures
from riskops.registry.versions import ModelRef, get_version
from riskops.store.tables import ModelVersionRecord, ValidationRunRecord
from tests.conftest import OPINION, SPEC

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


def test_a_validation_that_fails_after_training_leaves_an_unapproved_candidate_and_a_record(
    workspace: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import riskops.validation.run as run

    calls = failing_once(
        monkeypatch, run, "validate", BackendError("The tracking server did not answer"), times=9
    )
    state = train_and_validate_flow(
        str(SPEC),
        str(workspace.home),
        trained_by="alice",
        validated_by="victor",
        return_state=True,
        **FAST,
    )
    assert state.is_failed()
    assert len(calls) == 2  # tried, then retried once: transient
    with pytest.raises(BackendError, match="tracking server did not answer"):
        state.result()
    ctx = open_context(workspace)
    try:
        ref = ModelRef("credit-scoring", 1)
        with ctx.store.reading() as session:
            assert get_version(session, ref).state == "candidate"
            assert session.scalar(select(func.count()).select_from(ValidationRunRecord)) == 0
        [failure] = failures(ctx)
        assert (failure.step, failure.subject, failure.code) == (
            "validate",
            "credit-scoring@1",
            "backend_unavailable",
        )
        assert failure.attempts == 2
        assert failure.actor == "victor"
        assert failure.run_id == str(state.state_details.flow_run_id)
        assert [e.action for e in list_events(ctx.store)] == [
            "version.registered",
            "pipeline.failed",
        ]
        from riskops.governance.approvals import approve

        with pytest.raises(ConflictError, match="candidate"):
            approve(ctx, ref, actor="victor", opinion=OPINION)
    finally:
        ctx.close()


def test_the_monitoring_run_flow_stores_a_sealed_run(workspace: Settings) -> None:
    result = monitoring_run_flow(
        "credit-scoring", str(workspace.home), environment="production", window="24h"
    )
    assert result["kind"] == "riskops.monitoring/run@1"
    assert result["fired"] == []
    assert json.loads(json.dumps(result)) == result
    ctx = open_context(workspace)
    try:
        [event] = list_events(ctx.store, action="monitoring.run")
        assert event.seq == result["audit_seq"]
        assert event.payload["run_id"] == result["run_id"]
    finally:
        ctx.close()


def test_a_monitoring_run_on_an_unknown_environment_fails_once_and_is_recorded(
    workspace: Settings,
) -> None:
    state = monitoring_run_flow(
        "credit-scoring", str(workspace.home), environment="moon", return_state=True, **FAST
    )
    assert state.is_failed()
    with pytest.raises(InputError, match="Unknown environment 'moon'"):
        state.result()
    ctx = open_context(workspace)
    try:
        [failure] = failures(ctx, pipeline="monitoring-run")
        assert failure.subject == "credit-scoring in moon"
        assert (failure.code, failure.attempts) == ("input_invalid", 1)
        assert failure.hint == "Pass one of them with --env."
        assert list_events(ctx.store, action="monitoring.run") == []
    finally:
        ctx.close()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"retries": -1}, "retries must be a whole number from 0 to 10"),
        ({"retries": 11}, "retries must be a whole number from 0 to 10"),
        ({"retry_delay_seconds": -5}, "retry_delay_seconds must be from 0 to 86400"),
    ],
)
def test_bad_retry_options_are_refused_before_any_step(
    workspace: Settings, options: dict[str, Any], match: str
) -> None:
    state = monitoring_run_flow("credit-scoring", str(workspace.home), return_state=True, **options)
    with pytest.raises(InputError, match=match):
        state.result()
    ctx = open_context(workspace)
    try:
        assert list_events(ctx.store) == []
    finally:
        ctx.close()


def test_two_people_are_required_to_train_and_validate(workspace: Settings) -> None:
    state = train_and_validate_flow(
        str(SPEC), str(workspace.home), trained_by="alice", validated_by=" ", return_state=True
    )
    with pytest.raises(InputError, match="validated_by is required"):
        state.result()


def test_the_batch_flow_scores_a_file_with_the_production_version_and_resumes(
    workspace: Settings, tmp_path: Path
) -> None:
    from riskops.training.pipeline import train
    from tests.conftest import approve_and_deploy

    ctx = open_context(workspace)
    try:
        approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    finally:
        ctx.close()
    source = SPEC.parent.parent.parent / "data" / "german_credit" / "german_credit.csv"
    out = tmp_path / "scored"
    run = batch_score_flow(
        "credit-scoring",
        str(source),
        str(out),
        str(workspace.home),
        environment="production",
        actor="oscar",
        **FAST,
    )
    assert (run["model"], run["version"], run["rows"], run["rejects"]) == (
        "credit-scoring",
        1,
        1000,
        0,
    )
    assert sum(run["outcomes"].values()) == 1000
    assert json.loads(json.dumps(run)) == run
    again = batch_score_flow(
        "credit-scoring",
        str(source),
        str(out),
        str(workspace.home),
        environment="production",
        actor="oscar",
        **FAST,
    )
    assert again["written"] == 0  # every partition was already there with the same digests
    assert again["output_sha256"] == run["output_sha256"]
    ctx = open_context(workspace)
    try:
        sealed = list_events(ctx.store, action="batch.scored")
        assert [e.seq for e in sealed] == [run["audit_seq"], again["audit_seq"]]
    finally:
        ctx.close()


def test_a_batch_of_a_version_that_may_not_serve_fails_once_and_is_recorded(
    workspace: Settings, tmp_path: Path
) -> None:
    from riskops.training.pipeline import train

    ctx = open_context(workspace)
    try:
        ref = train(ctx, SPEC, actor="alice").ref  # a candidate: never signed off
    finally:
        ctx.close()
    source = SPEC.parent.parent.parent / "data" / "german_credit" / "german_credit.csv"
    state = batch_score_flow(
        str(ref),
        str(source),
        str(tmp_path / "scored"),
        str(workspace.home),
        actor="oscar",
        return_state=True,
        **FAST,
    )
    assert state.is_failed()
    ctx = open_context(workspace)
    try:
        [failure] = failures(ctx, pipeline="batch-score")
        assert failure.subject == "credit-scoring@1"
        assert failure.attempts == 1
        assert list_events(ctx.store, action="batch.scored") == []
    finally:
        ctx.close()
    assert not any((tmp_path / "scored").glob("part-*.parquet"))
