"""The record a failed pipeline step leaves: one ``pipeline.failed`` event in the audit chain.

A scheduler (the Prefect flows of :mod:`riskops.flows`) runs the same service functions as the
CLI. Each of those writes its own result and audit event in one transaction, so a step that
fails writes nothing of its own; what is left to record is *that* it failed: which pipeline,
which step, on what (a spec path, ``model@version`` or a model name), with which error, after
how many attempts, and under which run of the scheduler. The event is sealed in the audit chain
like every other, so an examiner sees the failed monthly retrain beside the runs that worked.

Example::

    failure = PipelineFailure.of(error, pipeline="train-and-validate", step="validate",
                                 subject="credit-scoring@7", run_id="0b86cc14-…")
    record_failure(ctx, failure)          # the audit event's sequence number
    [f.step for f in failures(ctx)]       # ["validate"]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from riskops.audit import list_events, record
from riskops.context import Context
from riskops.errors import RiskopsError

FAILED_ACTION = "pipeline.failed"
PIPELINE_ACTOR = "riskops-pipeline"
MAX_MESSAGE = 2000  # characters of an error message kept in the record


@dataclass(frozen=True)
class PipelineFailure:
    """A pipeline step that failed for good (after its retries): what, on what, and why.

    ``code`` is the error's riskops code (``backend_unavailable``, ``spec_invalid``, …) or
    ``internal`` for an error riskops did not raise on purpose; ``hint`` is the error's hint;
    ``attempts`` is None when the scheduler could not say how many there were.
    """

    kind: ClassVar[str] = "riskops.pipeline/failure@1"

    pipeline: str
    step: str
    subject: str
    error_type: str
    code: str
    message: str
    hint: str | None = None
    attempts: int | None = 1
    run_id: str | None = None
    run_name: str | None = None
    actor: str | None = None

    @classmethod
    def of(
        cls,
        error: BaseException,
        *,
        pipeline: str,
        step: str,
        subject: str,
        attempts: int | None = 1,
        run_id: str | None = None,
        run_name: str | None = None,
        actor: str | None = None,
    ) -> PipelineFailure:
        """The failure record of ``error``, raised by ``step`` of ``pipeline`` on ``subject``."""
        ours = error if isinstance(error, RiskopsError) else None
        return cls(
            pipeline=pipeline,
            step=step,
            subject=subject,
            error_type=type(error).__name__,
            code=ours.code if ours is not None else "internal",
            message=str(error)[:MAX_MESSAGE],
            hint=ours.hint if ours is not None else None,
            attempts=attempts,
            run_id=run_id,
            run_name=run_name,
            actor=actor,
        )

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> PipelineFailure:
        return cls(
            **{k: payload.get(k) for k in _FIELDS if k in payload},  # type: ignore[arg-type]
        )

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **{k: getattr(self, k) for k in _FIELDS}}


_FIELDS = (
    "pipeline",
    "step",
    "subject",
    "error_type",
    "code",
    "message",
    "hint",
    "attempts",
    "run_id",
    "run_name",
    "actor",
)


def record_failure(ctx: Context, failure: PipelineFailure) -> int:
    """Seal ``failure`` in the audit chain as a ``pipeline.failed`` event by
    ``riskops-pipeline`` (the person the step ran as is in the payload); returns the event's
    sequence number. Raises BackendError when the store does not answer, as any write does."""
    with ctx.store.transaction() as session:
        event = record(
            session,
            actor=PIPELINE_ACTOR,
            role="service",
            action=FAILED_ACTION,
            object_type="pipeline_run",
            object_id=f"{failure.pipeline}/{failure.run_id or 'local'}",
            payload=failure.as_dict(),
            at=ctx.clock(),
        )
    return event.seq


def failures(ctx: Context, *, pipeline: str | None = None) -> list[PipelineFailure]:
    """The recorded failures, oldest first; only those of ``pipeline`` when given."""
    found = [
        PipelineFailure.from_payload(event.payload)
        for event in list_events(ctx.store, action=FAILED_ACTION)
    ]
    return [f for f in found if pipeline is None or f.pipeline == pipeline]
