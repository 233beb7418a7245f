"""The documents of a real version: trained, validated, signed off and deployed, then rendered
from the store, and rendered again after a stored record changes.

Tests that only read share one such workspace (``shared``); tests that change records get
their own (``ctx`` and ``deployed``)."""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import insert, select, update

from riskops.audit import list_events
from riskops.context import Context, open_context
from riskops.documents.card import monitoring_plan
from riskops.documents.figures import PNG_SIGNATURE
from riskops.documents.records import AuditRow, gather_records
from riskops.documents.render import _context, number, render_documents, template_environment
from riskops.documents.sections import build_content
from riskops.documents.soundness import NOT_STATED as SOUNDNESS_NOT_STATED
from riskops.errors import InputError, MissingExtraError, NotFoundError
from riskops.registry.versions import ModelRef
from riskops.spec import load_spec
from riskops.store.tables import (
    ApprovalRecord,
    GateOverrideRecord,
    GateResultRecord,
    ModelVersionRecord,
    ValidationRunRecord,
)
from riskops.training.pipeline import train
from riskops.workspace import init_workspace
from tests.conftest import _WORKSPACE_VARS, PEOPLE, SPEC, approve_and_deploy

DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
MD_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")


Shared = tuple[Context, ModelRef]


@pytest.fixture
def deployed(ctx: Context) -> ModelRef:
    ref = train(ctx, SPEC, actor="alice").ref
    approve_and_deploy(ctx, ref)
    return ref


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """One workspace with a deployed version, for the tests that only read it."""
    with pytest.MonkeyPatch.context() as env:
        for name in _WORKSPACE_VARS:
            env.delenv(name, raising=False)
        settings = init_workspace(tmp_path_factory.mktemp("documents") / "ws", people=PEOPLE)
        context = open_context(settings)
        try:
            ref = train(context, SPEC, actor="alice").ref
            approve_and_deploy(context, ref)
            yield context, ref
        finally:
            context.close()


def _gates(ctx: Context, ref: ModelRef) -> list[GateResultRecord]:
    with ctx.store.reading() as session:
        run_id = session.execute(
            select(ValidationRunRecord.id).where(
                ValidationRunRecord.model_name == ref.name,
                ValidationRunRecord.version == ref.version,
            )
        ).scalar_one()
        return list(
            session.execute(
                select(GateResultRecord).where(GateResultRecord.validation_run_id == run_id)
            ).scalars()
        )


def _gate_row(html: str, gate_id: int) -> str:
    match = re.search(rf'<tr id="gate-{gate_id}">(.*?)</tr>', html, re.DOTALL)
    assert match is not None, f"no row for gate_results #{gate_id}"
    return match.group(1)


def test_the_html_report_shows_every_gate_with_its_stored_value(
    shared: Shared, tmp_path: Path
) -> None:
    ctx, deployed = shared
    paths = render_documents(ctx, deployed, tmp_path / "out", formats=("html",))
    names = sorted(p.name for p in paths)
    assert names == [
        "credit-scoring-v1-annex-iv.html",
        "credit-scoring-v1-model-card.html",
        "credit-scoring-v1-validation-report.html",
    ]
    html = (tmp_path / "out" / "credit-scoring-v1-validation-report.html").read_text()
    gates = _gates(ctx, deployed)
    assert gates
    for g in gates:
        assert f"<code>{g.gate}</code>" in html  # the records table names it whole
        row = _gate_row(html, g.id)
        assert f">{number(g.value)}<" in row
        assert f'title="{g.value}"' in row  # the exact stored number
        assert f">{number(g.threshold)}<" in row
        assert 'class="badge' in row  # the verdict
    assert "victor" in html
    assert "rita" in html
    assert "Not validated yet" not in html


def test_the_report_says_where_its_figures_come_from_and_that_there_is_no_back_test(
    shared: Shared, tmp_path: Path
) -> None:
    ctx, deployed = shared
    render_documents(ctx, deployed, tmp_path, formats=("html", "md"))
    gates = {g.gate: g for g in _gates(ctx, deployed)}
    reuse, backtest = gates["partitions.test_reuse"], gates["backtest.auc_by_period"]
    for suffix in ("html", "md"):
        text = (tmp_path / f"credit-scoring-v1-validation-report.{suffix}").read_text()
        assert "Test partition and back-test" in text
        assert "come from the test partition (data.split.holdout_size)" in text
        assert f"gate_results #{reuse.id}" in text
        for part in reuse.evidence["partitions"]:
            assert part["role"] in text
            assert str(part["rows"]) in text
        # the German credit data has no dates
        assert "No back-test: the data has no dates" in text
        assert f"gate_results #{backtest.id}" in text
        card = (tmp_path / f"credit-scoring-v1-model-card.{suffix}").read_text()
        assert "more kept as the test partition" in card


def test_plots_are_embedded_as_png_so_one_file_can_be_mailed(
    shared: Shared, tmp_path: Path
) -> None:
    ctx, deployed = shared
    render_documents(ctx, deployed, tmp_path, formats=("html",))
    html = (tmp_path / "credit-scoring-v1-validation-report.html").read_text()
    images = DATA_URI.findall(html)
    assert images, "the validation report embeds no plot"
    for encoded in images:
        assert base64.b64decode(encoded).startswith(PNG_SIGNATURE)
    assert not re.search(r'<img src="(?!data:)', html)  # nothing linked from outside
    assert 'rel="stylesheet"' not in html
    performance = next(g for g in _gates(ctx, deployed) if g.gate == "performance.auc")
    if "roc" in performance.evidence:
        assert 'alt="ROC curve"' in html


def test_markdown_links_png_files_written_beside_it(shared: Shared, tmp_path: Path) -> None:
    ctx, deployed = shared
    paths = render_documents(ctx, deployed, tmp_path, formats=("md",))
    assert [p.suffix for p in paths] == [".md", ".md", ".md"]
    linked = []
    for path in paths:
        for target in MD_IMAGE.findall(path.read_text()):
            figure = path.parent / target
            assert figure.is_file(), f"{path.name} links the missing {target}"
            assert figure.read_bytes().startswith(PNG_SIGNATURE)
            linked.append(target)
    assert linked, "no figure is linked"
    assert all(t.startswith("credit-scoring-v1-figures/") for t in linked)


def test_every_number_comes_from_a_stored_record(
    ctx: Context, deployed: ModelRef, tmp_path: Path
) -> None:
    auc = next(g for g in _gates(ctx, deployed) if g.gate == "performance.auc")
    with ctx.store.transaction() as session:
        session.execute(
            update(GateResultRecord).where(GateResultRecord.id == auc.id).values(value=0.123456)
        )
        version = session.execute(
            select(ModelVersionRecord).where(ModelVersionRecord.model_name == deployed.name)
        ).scalar_one()
        version.metrics = {**version.metrics, "validation_auc": 0.654321}
    render_documents(ctx, deployed, tmp_path, formats=("html", "md"))
    report = (tmp_path / "credit-scoring-v1-validation-report.html").read_text()
    row = _gate_row(report, auc.id)
    assert ">0.1235<" in row
    assert 'title="0.123456"' in row
    assert number(auc.value) not in row
    card = (tmp_path / "credit-scoring-v1-model-card.html").read_text()
    assert 'title="0.654321">0.6543<' in card
    assert (
        "| `validation_auc` | 0.6543 |"
        in (tmp_path / "credit-scoring-v1-model-card.md").read_text()
    )


def test_the_annex_iv_pack_lists_nine_points_and_leaves_7_and_8_to_the_provider(
    shared: Shared, tmp_path: Path
) -> None:
    ctx, deployed = shared
    render_documents(ctx, deployed, tmp_path)
    html = (tmp_path / "credit-scoring-v1-annex-iv.html").read_text()
    for point in range(1, 10):
        assert f'id="point-{point}"' in html
    assert '<section class="point provider" id="point-7">' in html
    assert '<section class="point provider" id="point-8">' in html
    assert '<section class="point" id="point-2">' in html
    assert "(2)(g)" in html
    assert "Parts of point 5 are the provider&#39;s own" in html
    markdown = (tmp_path / "credit-scoring-v1-annex-iv.md").read_text()
    headings = re.findall(r"^## \((\d)\) (.*)$", markdown, re.MULTILINE)
    assert [int(n) for n, _ in headings] == list(range(1, 10))
    provider = {int(n) for n, title in headings if title.endswith("the provider's to write")}
    assert provider == {7, 8}
    run_id = _gates(ctx, deployed)[0].validation_run_id
    assert f"validation_runs #{run_id}" in markdown


def test_the_model_risk_mapping_names_us_and_uk_texts(shared: Shared, tmp_path: Path) -> None:
    ctx, deployed = shared
    render_documents(ctx, deployed, tmp_path)
    for name in ("credit-scoring-v1-annex-iv.html", "credit-scoring-v1-annex-iv.md"):
        text = (tmp_path / name).read_text()
        for reference in (
            "SR 26-2",
            "OCC Bulletin 2026-13",
            "SR 11-7",
            "OCC 2011-12",
            "PRA SS1/23",
        ):
            assert reference in text, f"{name} does not name {reference}"
        assert "2026-04-17" in text


def test_the_model_card_says_what_the_records_say(shared: Shared, tmp_path: Path) -> None:
    ctx, deployed = shared
    render_documents(ctx, deployed, tmp_path, formats=("md",))
    card = (tmp_path / "credit-scoring-v1-model-card.md").read_text()
    assert "Support the credit decision on new consumer instalment loan" in card  # intended use
    assert "Business lending, mortgages" in card  # out of scope
    assert "| period | no dates in the source data |" in card
    assert "| rows | 1000 |" in card
    assert "| `duration_in_month` | numeric | 1 to 120 |" in card
    assert "| score below 0.25 | approve |" in card
    assert "| score from 0.25 to below 0.6 | **refer: a person decides** |" in card
    # The monitoring plan is the spec's monitoring section; no run has seen this version yet.
    spec = load_spec(SPEC).spec.monitoring
    assert f"feature CSI {spec.feature_psi.warning:.4g} / {spec.feature_psi.critical:.4g}" in card
    assert f"Benjamini–Hochberg procedure at q = {spec.fdr_q:g}" in card
    assert f"at least {spec.min_sample} decisions" in card
    assert "No monitoring run yet has seen a decision of credit-scoring@1." in card
    assert "not yet implemented" not in card
    assert "| production | deploy | v1 |" in card
    with ctx.store.reading() as session:
        fingerprint = session.execute(select(ModelVersionRecord.data_fingerprint)).scalar_one()
    assert fingerprint in card
    [registered] = [e for e in list_events(ctx.store) if e.action == "version.registered"]
    assert registered.payload["profile_sha256"].startswith("sha256:")
    assert f"Reference profile {registered.payload['profile_sha256']}, fitted" in card


def test_a_credit_model_card_states_its_high_risk_position_and_misses_no_gate(
    shared: Shared, tmp_path: Path
) -> None:
    ctx, deployed = shared
    render_documents(ctx, deployed, tmp_path, formats=("md",))
    card = (tmp_path / "credit-scoring-v1-model-card.md").read_text()
    assert "High-risk AI system under EU AI Act Annex III point 5(b) (credit scoring)." in card
    # The detection gate is not asked of a credit model, so it is not reported as missing.
    assert "did not run on this version" not in card
    assert "reweighted" not in card
    annex = (tmp_path / "credit-scoring-v1-annex-iv.md").read_text()
    assert "**Annex IV:** Required" in annex


def test_the_monitoring_plan_says_when_a_version_has_no_reference_profile() -> None:
    older = AuditRow(
        1,
        "2026-01-01T00:00:00.000000Z",
        "alice",
        "developer",
        "version.registered",
        "credit-scoring@1",
        {"digest": "sha256:00"},
        "0" * 64,
    )
    records: Any = SimpleNamespace(events=(older,), spec=None)
    [plan_line] = [line for line in monitoring_plan(records) if "reference profile;" in line]
    assert "registered without a reference profile" in plan_line


def test_findings_conditions_and_overrides_are_shown_when_the_store_has_them(
    ctx: Context, deployed: ModelRef, tmp_path: Path
) -> None:
    gates = _gates(ctx, deployed)
    with ctx.store.transaction() as session:
        session.execute(
            update(ApprovalRecord)
            .where(ApprovalRecord.role == "validator")
            .values(findings="Calibration drifts above 0.6", conditions=["monitor PSI monthly"])
        )
        session.execute(
            insert(GateOverrideRecord).values(
                model_name=deployed.name,
                version=deployed.version,
                gate="performance.ks",
                validation_run_id=gates[0].validation_run_id,
                actor="rita",
                justification="KS is within noise of the minimum",
                created_at=datetime(2026, 1, 5, tzinfo=UTC),
            )
        )
    render_documents(ctx, deployed, tmp_path, formats=("html",))
    html = (tmp_path / "credit-scoring-v1-validation-report.html").read_text()
    assert "<li>Calibration drifts above 0.6</li>" in html
    assert "<li>monitor PSI monthly</li>" in html
    assert "KS is within noise of the minimum" in html


def test_a_version_without_validation_still_gets_its_model_card(
    ctx: Context, tmp_path: Path
) -> None:
    ref = train(ctx, SPEC, actor="alice").ref
    paths = render_documents(ctx, ref, tmp_path)
    assert len(paths) == 6
    report = (tmp_path / "credit-scoring-v1-validation-report.md").read_text()
    assert "**Not validated yet.**" in report
    card = (tmp_path / "credit-scoring-v1-model-card.html").read_text()
    assert "Intended use" in card
    assert "candidate" in card
    assert "Not validated yet: no gate has run on this version." in card


def test_bad_input_is_refused_before_anything_is_written(shared: Shared, tmp_path: Path) -> None:
    ctx, ref = shared
    with pytest.raises(NotFoundError, match=r"credit-scoring@7 does not exist"):
        render_documents(ctx, ModelRef("credit-scoring", 7), tmp_path / "a")
    with pytest.raises(NotFoundError, match=r"No model named 'no-such-model'"):
        render_documents(ctx, ModelRef("no-such-model", 1), tmp_path / "b")
    a_file = tmp_path / "taken.txt"
    a_file.write_text("not a folder")
    with pytest.raises(InputError, match=r"taken\.txt is a file; the documents go into a folder"):
        render_documents(ctx, ref, a_file)
    with pytest.raises(InputError, match=r"Unknown document format 'docx'"):
        render_documents(ctx, ref, tmp_path / "c", formats=("html", "docx"))
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "c").exists()


def test_pdf_without_weasyprint_says_which_extra_to_install(
    shared: Shared, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, ref = shared
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as if the pdf extra were missing
    with pytest.raises(
        MissingExtraError, match=r"Writing PDF documents needs weasyprint"
    ) as raised:
        render_documents(ctx, ref, tmp_path / "pdf", formats=("pdf",))
    assert raised.value.hint == "Install it with: pip install 'riskops[pdf]'"
    assert not (tmp_path / "pdf").exists()


def test_the_report_and_the_card_show_fairness_by_group_as_recorded(
    shared: Shared, tmp_path: Path
) -> None:
    ctx, deployed = shared
    render_documents(ctx, deployed, tmp_path, formats=("html", "md"))
    html = (tmp_path / "credit-scoring-v1-validation-report.html").read_text()
    md = (tmp_path / "credit-scoring-v1-validation-report.md").read_text()
    fairness = [g for g in _gates(ctx, deployed) if g.gate.startswith("fairness.")]
    section = html.split('id="fairness-by-group"')[1].split('id="evidence"')[0]
    md_section = md.split("## Fairness by group")[1].split("## Evidence")[0]
    card = (tmp_path / "credit-scoring-v1-model-card.md").read_text()
    card_section = card.split("## Fairness")[1].split("## Explainability")[0]
    for g in fairness:
        e = g.evidence
        for row in e.get("calibration_by_group", []):
            assert str(escape(row["words"])) in section
            assert f"- {row['words']}" in md_section
            assert row["words"] in card_section
        for c in e.get("comparisons", []):
            low, high = c["interval"]
            assert f"[{number(low)}, {number(high)}]" in section
        for row in e.get("decisions_by_group", []):
            assert f"| {row['outcome']} | {row['count']} |" in md_section
        for f in e.get("features", []):
            assert f"| `{f['feature']}` | {number(f['cramers_v'])} |" in md_section
        if g.metric == "proxy_auc":
            assert f"Proxies for {e['attribute']}" in section
            assert f"**{e['attribute']}** proxies: {e['note']}." in card_section
    # One table per attribute, however many results share its evidence.
    assert md_section.count("### age_in_years") == 1


def test_the_report_argues_conceptual_soundness_from_its_records(
    shared: Shared, tmp_path: Path
) -> None:
    ctx, deployed = shared
    render_documents(ctx, deployed, tmp_path, formats=("html", "md"))
    html = (tmp_path / "credit-scoring-v1-validation-report.html").read_text()
    markdown = (tmp_path / "credit-scoring-v1-validation-report.md").read_text()
    gates = {g.gate: g for g in _gates(ctx, deployed)}
    benchmark = gates["benchmark.auc_lift"].evidence
    gap = gates["performance.generalisation_gap"].evidence
    for text, shown in ((html, lambda t: t.replace("'", "&#39;")), (markdown, str)):
        for heading in ("Conceptual soundness", "Benchmark challenger", "Train–validation gap"):
            assert heading in text
        assert shown(benchmark["reading"]) in text
        assert shown(gap["reading"]) in text
    for row in benchmark["comparison"]:
        assert (
            f"| {row['metric']} | {number(row['candidate'])} | {number(row['benchmark'])} | "
            f"{'+' if row['difference'] > 0 else ''}{number(row['difference'])} |" in markdown
        )
    params = load_spec(SPEC).spec.trainer.params
    for name in params:
        assert f"| `{name}` |" in markdown
    source = load_spec(SPEC).spec.trainer.params_source
    assert source is not None  # the reference spec says where its parameters came from
    assert source in markdown
    assert SOUNDNESS_NOT_STATED not in markdown
    curves = gates["explainability.partial_dependence"].evidence["curves"]
    assert curves
    for curve in curves:
        figure = (
            tmp_path
            / "credit-scoring-v1-figures"
            / (f"soundness-dependence-{curve['feature'].lower()}.png")
        )
        assert figure.read_bytes().startswith(PNG_SIGNATURE)
        assert f"Partial dependence of the score on {curve['feature']}" in html


def test_an_unstated_source_of_the_params_is_flagged(shared: Shared) -> None:
    ctx, deployed = shared
    records = gather_records(ctx, deployed)
    assert records.spec is not None
    trainer = records.spec.trainer.model_copy(update={"params_source": None})
    stated = replace(records, spec=records.spec.model_copy(update={"trainer": trainer}))
    content = build_content(stated, rendered_at=datetime(2026, 1, 5, tzinfo=UTC))
    page = (
        template_environment()
        .get_template("validation_report.md")
        .render(_context(content, "x", "validation-report", plot_src=lambda p: p.name))
    )
    assert SOUNDNESS_NOT_STATED in page
