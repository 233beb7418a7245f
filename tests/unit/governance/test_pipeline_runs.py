from __future__ import annotations

from riskops.audit import list_events, verify
from riskops.context import Context
from riskops.errors import BackendError
from riskops.governance.pipeline_runs import PipelineFailure, failures, record_failure


def test_a_failure_is_sealed_in_the_chain_and_read_back(ctx: Context) -> None:
    error = BackendError("The riskops database did not answer", hint="riskops doctor")
    failure = PipelineFailure.of(
        error,
        pipeline="train-and-validate",
        step="validate",
        subject="credit-scoring@3",
        attempts=3,
        run_id="0b86cc14",
        run_name="secret-aardwolf",
        actor="victor",
    )
    seq = record_failure(ctx, failure)
    [event] = list_events(ctx.store)
    assert (event.seq, event.action, event.actor) == (seq, "pipeline.failed", "riskops-pipeline")
    assert event.object_id == "train-and-validate/0b86cc14"
    assert event.payload["kind"] == "riskops.pipeline/failure@1"
    assert event.payload["code"] == "backend_unavailable"
    assert event.payload["hint"] == "riskops doctor"
    assert failures(ctx) == [failure]
    assert failures(ctx, pipeline="monitoring-run") == []
    assert verify(ctx.store).ok


def test_an_error_riskops_did_not_raise_is_recorded_as_internal(ctx: Context) -> None:
    failure = PipelineFailure.of(
        KeyError("x" * 5000), pipeline="monitoring-run", step="monitor", subject="m in production"
    )
    assert (failure.code, failure.error_type, failure.hint) == ("internal", "KeyError", None)
    assert len(failure.message) == 2000
    record_failure(ctx, failure)
    [read] = failures(ctx)
    assert read.run_id is None
    assert list_events(ctx.store)[0].object_id == "monitoring-run/local"
