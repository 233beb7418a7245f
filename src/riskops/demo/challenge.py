"""The demo's sign-off with effective challenge: the validator raises one finding per failed
gate of the validation (read from its results), owned by the developer with a due date, gives
a written opinion that names them, and makes "monitoring live before production" a blocking
condition; the risk officer approves; monitoring starts in production (a first, empty run), and
the deployment that follows meets the condition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from riskops.context import Context
from riskops.governance.approvals import approve
from riskops.governance.conditions import PRODUCTION, Condition
from riskops.governance.findings import Finding, raise_finding
from riskops.monitoring.runs import MONITOR_ACTOR, run_monitoring
from riskops.registry.versions import ModelRef
from riskops.validation.gate import GateResult

OWNER = "alice"
VALIDATOR = "victor"
RISK_OFFICER = "rita"
DUE = timedelta(days=90)

Step = Callable[[str, str, str, str], None]


def _describe(result: GateResult) -> str:
    if result.value is None:
        limit = "" if result.threshold is None else f" (threshold {result.threshold:g})"
        return (
            f"Failed ({result.severity}): not computable on the validation data{limit}, so "
            "the property it checks is not evidenced."
        )
    limit = (
        ""
        if result.threshold is None
        else f" against the threshold {result.comparison} {result.threshold:g}"
    )
    return f"Failed ({result.severity}): {result.metric} {result.value:.3f}{limit}."


def challenge_and_approve(
    ctx: Context,
    ref: ModelRef,
    results: Sequence[GateResult],
    step: Step,
    *,
    validator_note: str,
    approval_note: str,
) -> list[Finding]:
    """Findings for the failed gates of ``results``, both sign-offs with an opinion and the
    ``monitoring_live`` condition, then a first monitoring run in production."""
    failed = [r for r in results if r.status == "failed"]
    due = (ctx.clock() + DUE).date()
    raised = [
        raise_finding(
            ctx,
            ref,
            severity="high" if r.severity == "blocking" else "medium",
            owner=OWNER,
            due=due,
            gate=r.gate,
            text=_describe(r),
            actor=VALIDATOR,
        )
        for r in failed
    ]
    for finding in raised:
        step("finding", str(ref), VALIDATOR, f"#{finding.id} {finding.severity}: {finding.gate}")
    opinion = ""
    if raised:
        numbers = ", ".join(f"#{f.id}" for f in raised)
        opinion = (
            f"Fit for use within the refer band. {len(raised)} gate(s) failed "
            f"({', '.join(r.gate for r in failed)}); none blocks, and each is recorded as a "
            f"finding ({numbers}) for {OWNER} to remediate by {due:%Y-%m-%d}. Production use "
            "is conditional on monitoring being live there first."
        )
    approve(
        ctx,
        ref,
        actor=VALIDATOR,
        note=validator_note,
        opinion=opinion,
        conditions=[Condition.monitoring_live()],
    )
    step(
        "sign off (validator)",
        str(ref),
        VALIDATOR,
        (f"opinion given, {len(raised)} finding(s)" if raised else "no gate failed")
        + "; condition: monitoring live before production",
    )
    approve(ctx, ref, actor=RISK_OFFICER, note=approval_note)
    step("approve (risk officer)", str(ref), RISK_OFFICER, "approved")
    run = run_monitoring(ctx, ref.name, environment=PRODUCTION, window=timedelta(hours=1))
    step("monitor", ref.name, MONITOR_ACTOR, f"monitoring live in {PRODUCTION} (run {run.run_id})")
    return raised
