"""The documents evidence effective challenge: the validation report and the model card name
the gates that failed, the validator's opinion, the findings log with owners, due dates and
status, and the conditions of approval with how each was met — read from the records; and
the report shows them in Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskops.context import Context
from riskops.demo.challenge import challenge_and_approve
from riskops.documents.render import render_documents
from riskops.governance.deployments import deploy
from riskops.governance.findings import update_finding
from riskops.registry.versions import ModelRef
from riskops.training.pipeline import train
from riskops.validation.run import validate
from tests.conftest import SPEC
from tests.unit.documents.browser import dom as browser_dom


@pytest.fixture
def challenged(ctx: Context) -> tuple[ModelRef, list[str]]:
    """A version signed off as the demo does it, one finding remediated, then deployed."""
    ref = train(ctx, SPEC, actor="alice").ref
    outcome = validate(ctx, ref, actor="victor")
    failed = [r.gate for r in outcome.results if r.status == "failed"]
    steps: list[tuple[str, str, str, str]] = []
    raised = challenge_and_approve(
        ctx,
        ref,
        outcome.results,
        lambda *step: steps.append(step),
        validator_note="Reviewed.",
        approval_note="Approved.",
    )
    assert [f.gate for f in raised] == failed
    assert [s[0] for s in steps][-3:] == [
        "sign off (validator)",
        "approve (risk officer)",
        "monitor",
    ]
    update_finding(ctx, raised[0].id, status="remediated", note="Reweighted.", actor="alice")
    deploy(ctx, ref, environment="production", actor="oscar")
    return ref, failed


def test_the_report_and_card_show_findings_opinion_and_conditions(
    ctx: Context, challenged: tuple[ModelRef, list[str]], tmp_path: Path
) -> None:
    ref, failed = challenged
    assert failed, "the reference model fails advisory fairness gates"
    render_documents(ctx, ref, tmp_path, formats=("html", "md"))
    stem = f"{ref.name}-v{ref.version}"
    for suffix in ("html", "md"):
        report = (tmp_path / f"{stem}-validation-report.{suffix}").read_text(encoding="utf-8")
        card = (tmp_path / f"{stem}-model-card.{suffix}").read_text(encoding="utf-8")
        for text in (report, card):
            assert "Findings log" in text
            assert "Conditions of approval" in text
            assert f"finding ({', '.join(f'#{i + 1}' for i in range(len(failed)))})" in text
            for gate in failed:
                assert text.count(gate) >= 2, gate  # named as failed, and in its finding
            assert "Reweighted." in text
            assert "Monitoring live before production" in text
            assert "monitoring run" in text  # the evidence that met the condition
        assert "Gates failed in validation run" in report
    html = (tmp_path / f"{stem}-validation-report.html").read_text(encoding="utf-8")
    assert html.count('badge pass">satisfied') == 1
    assert html.count('badge warn">open') == len(failed) - 1
    assert 'badge warn">remediated' in html


@pytest.mark.slow
def test_chromium_shows_the_findings_log(
    ctx: Context, challenged: tuple[ModelRef, list[str]], tmp_path: Path
) -> None:
    ref, failed = challenged
    [report] = [
        p
        for p in render_documents(ctx, ref, tmp_path / "docs", formats=("html",))
        if p.name.endswith("validation-report.html")
    ]
    dom = browser_dom(tmp_path, report)
    assert '<h2 id="challenge">Findings, opinion and conditions</h2>' in dom
    for gate in failed:
        assert f"<td><code>{gate}</code></td>" in dom
