"""The Annex IV pack's crosswalk, changes, risks and derogations, the spec's rationale in every
document, the metric definitions and the model card's Mitchell sections, on a real workspace:
v1 trained, signed off, deployed and scoring; v2 trained from a changed spec and validated.

Expectations are read from the records and the specs, never pinned to a reference model's
numbers."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from riskops.context import Context, open_context
from riskops.documents.changes import changes_since_previous
from riskops.documents.crosswalk import crosswalk, derogations
from riskops.documents.glossary import terms_for
from riskops.documents.records import DocumentRecords, gather_records
from riskops.documents.regulation import annex_iv
from riskops.documents.render import render_documents
from riskops.documents.sections import NO_RATIONALE, build_content
from riskops.registry.versions import ModelRef
from riskops.serving.service import ScoringService, ServerSettings, Subject
from riskops.spec import load_spec
from riskops.store.tables import DecisionRecord
from riskops.training.pipeline import train
from riskops.validation.run import validate
from riskops.workspace import init_workspace
from tests.conftest import _WORKSPACE_VARS, DATA, PEOPLE, SPEC, approve_and_deploy
from tests.unit.conftest import German

DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
MITCHELL = (
    "Model details",
    "Intended use",
    "Factors",
    "Metrics",
    "Training data",
    "Evaluation data",
    "Quantitative analyses",
    "Ethical considerations",
    "Caveats and recommendations",
)


@dataclass(frozen=True)
class Pack:
    ctx: Context
    v1: ModelRef
    v2: ModelRef
    out: Path
    root: Path


def _variant(folder: Path) -> Path:
    """The reference spec with a threshold moved, the policy's rationale reworded and the
    robustness rationale removed (the features stay: the champion is scored on them)."""
    folder.mkdir(parents=True)
    shutil.copy(SPEC.parent / "trainer.py", folder / "trainer.py")
    raw: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    raw["data"]["source"] = str(DATA)  # an absolute path in the spec must not reach a document
    raw["gates"]["calibration"]["max_ece"] = 0.09
    raw["rationale"]["policy"] = "Reworded: a person decides between the cut-offs."
    del raw["rationale"]["robustness"]
    path = folder / "model.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory, german: German) -> Iterator[Pack]:
    root = tmp_path_factory.mktemp("pack")
    with pytest.MonkeyPatch.context() as env:
        for name in _WORKSPACE_VARS:
            env.delenv(name, raising=False)
        ctx = open_context(init_workspace(root / "ws", people=PEOPLE))
        try:
            v1 = train(ctx, SPEC, actor="alice").ref
            approve_and_deploy(ctx, v1)
            service = ScoringService.open(
                ServerSettings(workspace=ctx.settings, refresh_seconds=3600, wal_dir=root / "wal")
            )
            try:
                service.refresh()
                for i, features in enumerate(german.requests[:40]):
                    service.decide(v1.name, Subject(f"C-{i}", features))
            finally:
                service.close()  # drains the decision log into the store
            v2 = train(
                ctx, _variant(root / "variant"), actor="alice", params={"n_estimators": 150}
            ).ref
            validate(ctx, v2, actor="victor")
            out = root / "docs"
            for ref in (v1, v2):
                render_documents(ctx, ref, out, formats=("html", "md"))
            yield Pack(ctx, v1, v2, out, root)
        finally:
            ctx.close()


def _records(pack: Pack, ref: ModelRef) -> DocumentRecords:
    return gather_records(pack.ctx, ref)


def _text(pack: Pack, ref: ModelRef, slug: str, ext: str = "md") -> str:
    return (pack.out / f"{ref.name}-v{ref.version}-{slug}.{ext}").read_text(encoding="utf-8")


def test_no_document_holds_a_local_absolute_path(pack: Pack) -> None:
    home = str(pack.ctx.settings.home)
    forbidden = {home, str(pack.root), str(Path.home()) + "/", "/tmp/", "/work/", "file:/"}
    forbidden.add(str(DATA.parent))
    documents = sorted(p for p in pack.out.iterdir() if p.suffix in (".html", ".md"))
    assert len(documents) == 12
    for path in documents:
        text = DATA_URI.sub("", path.read_text(encoding="utf-8"))  # base64 may hold any letters
        for needle in forbidden:
            assert needle not in text, f"{path.name} holds {needle!r}"


def test_the_crosswalk_cites_the_records_of_arts_9_to_15(pack: Pack) -> None:
    r = _records(pack, pack.v1)
    rows = {q.article: q for q in crosswalk(r)}
    assert list(rows) == [f"Art. {n}" for n in range(9, 16)]
    with pack.ctx.store.reading() as session:
        logged = session.scalar(
            select(func.count()).where(
                DecisionRecord.model_name == r.ref.name, DecisionRecord.version == r.ref.version
            )
        )
    assert logged
    assert sum(r.decision_counts.values()) == logged
    art12 = rows["Art. 12"]
    assert f"{logged} decisions of this version are logged" in art12.answer
    assert f"decisions of {r.ref}" in art12.records
    assert any(c.startswith("riskops decisions replay") for c in art12.commands)
    assert r.spec is not None
    low, high = r.spec.policy.score_cutoffs() or (0.0, 0.0)
    review = r.spec.outcomes.review
    art14 = rows["Art. 14"].answer
    assert f"scores from {low:g} to below {high:g} go to a person ('{review}')" in art14
    assert f"{r.decision_counts.get(review, 0)} of {logged} logged decisions" in art14
    newest = r.checkpoints.newest
    assert newest is not None
    assert newest.key_ids
    art15 = rows["Art. 15"]
    assert f"audit_checkpoints #{newest.id}" in art15.answer
    assert newest.key_ids[0] in art15.answer
    assert r.version.digest[:23] in art15.answer
    assert r.checkpoints.cited() in art15.records
    annex = _text(pack, pack.v1, "annex-iv")
    assert "## Requirements of Arts. 9–15" in annex
    assert f"{logged} decisions of this version are logged" in annex


def test_the_derogations_are_noted_only_for_a_credit_institution(pack: Pack) -> None:
    r = _records(pack, pack.v1)
    assert r.spec is not None
    assert r.spec.credit_institution
    assert r.spec.kind == "credit"
    noted = derogations(r)
    assert [d.split(":")[0] for d in noted] == ["Art. 17(4)", "Art. 72(4)"]
    assert "credit_institution: true" in noted[0]
    assert noted[0] in _text(pack, pack.v1, "annex-iv")
    not_said = replace(r, spec=r.spec.model_copy(update={"credit_institution": False}))
    [unknown] = derogations(not_said)
    assert "are not noted" in unknown
    fraud = replace(r, spec=r.spec.model_copy(update={"kind": "fraud"}))
    assert derogations(fraud) == ()


def test_changes_since_the_previous_version(pack: Pack) -> None:
    first = changes_since_previous(_records(pack, pack.v1))
    assert first.previous is None
    assert first.summary.startswith("First version")
    assert "First version" in _text(pack, pack.v1, "annex-iv")
    r2 = _records(pack, pack.v2)
    changes = changes_since_previous(r2)
    assert changes.previous == pack.v1.version
    found = {c.what: (c.before, c.after) for c in changes.lines}
    v1_trees = _records(pack, pack.v1).version.params["n_estimators"]
    assert found["trainer parameter n_estimators"] == (str(v1_trees), "150")
    assert found["gate threshold calibration.max_ece"] == ("0.1", "0.09")
    assert found["rationale policy"][1] == "Reworded: a person decides between the cut-offs."
    assert found["rationale robustness"][1] == "absent"
    assert found["artifact digest"] == (_records(pack, pack.v1).version.digest, r2.version.digest)
    annex = _text(pack, pack.v2, "annex-iv")
    assert "| gate threshold calibration.max_ece | `0.1` | `0.09` |" in annex
    # a feature the previous version had and this one has not
    assert r2.previous is not None

    before = yaml.safe_load(r2.previous.spec_yaml)
    before["features"].append({"name": "extra_field", "type": "numeric", "reason": "An input"})
    earlier = replace(r2.previous, spec_yaml=yaml.safe_dump(before))
    dropped = {
        c.what: (c.before, c.after)
        for c in changes_since_previous(replace(r2, previous=earlier)).lines
    }
    assert dropped["feature extra_field"] == ("present", "removed")


def _failing_fairness(r: DocumentRecords) -> DocumentRecords:
    """``r`` with its first fairness result recorded as failed (whatever the model scored)."""
    gates = list(r.gates)
    i = next(i for i, g in enumerate(gates) if g.family == "fairness")
    gates[i] = replace(gates[i], passed=False, evidence={**gates[i].evidence, "status": "failed"})
    return replace(r, gates=tuple(gates))


def test_failed_fairness_checks_are_named_under_foreseeable_risks(pack: Pack) -> None:
    r = _failing_fairness(_records(pack, pack.v2))
    failed = [g.gate for g in r.gates if g.family == "fairness" and g.status == "failed"]
    assert failed
    content = build_content(r, rendered_at=datetime.now(UTC))
    assert [g.row.gate for g in content.risks][: len(failed)] == failed
    [foreseeable] = [
        i for p in annex_iv(r) for i in p.items if i.asks.startswith("foreseeable unintended")
    ]
    assert "failed fairness checks: " + ", ".join(failed) in foreseeable.answer
    assert any(line.startswith(f"Failed fairness check {failed[0]}") for line in content.ethics)
    # and as rendered: every failed check of the stored run is listed in the section
    stored = _records(pack, pack.v2)
    section = _text(pack, pack.v2, "annex-iv").split("## Foreseeable risks")[1].split("\n## ")[0]
    for g in stored.gates:
        if g.status == "failed":
            assert f"`{g.gate}`" in section


def test_the_rationale_stands_beside_each_gate_family(pack: Pack) -> None:
    spec = load_spec(SPEC).spec
    report = _text(pack, pack.v1, "validation-report")
    r = _records(pack, pack.v1)
    for family in r.families:
        section = report.split(f"\n### {family.replace('_', ' ').capitalize()} (")[1]
        section = section.split("\n### ")[0]
        if family in spec.rationale:
            assert spec.rationale[family] in section
        elif family in ("performance", "fairness", "robustness"):
            pytest.fail(f"the reference spec explains {family}")
    variant = _text(pack, pack.v2, "validation-report")
    robustness = variant.split("\n### Robustness (")[1].split("\n### ")[0]
    assert f"Rationale: {NO_RATIONALE}" in robustness
    card = _text(pack, pack.v1, "model-card")
    assert spec.rationale["features.dropped.age_in_years"] in card
    annex = _text(pack, pack.v1, "annex-iv")
    design = annex.split("## Design choices")[1].split("\n## ")[0]
    for text in spec.rationale.values():
        assert text.replace("|", "\\|") in design  # a table cell escapes its pipes
    [design_item] = [i for p in annex_iv(r) for i in p.items if i.point == "(2)(b)"]
    assert design_item.status == "records"
    without = replace(r, spec=spec.model_copy(update={"rationale": {}}))
    [bare] = [i for p in annex_iv(without) for i in p.items if i.point == "(2)(b)"]
    assert bare.status == "partly"
    assert NO_RATIONALE in bare.answer


def test_every_metric_is_defined_before_it_is_first_used(pack: Pack) -> None:
    r = _records(pack, pack.v1)
    terms = terms_for([*(g.gate for g in r.gates), *r.version.metrics])
    assert {"AUC", "ECE", "PSI", "Approval rate ratio"} <= {t.term for t in terms}
    for slug in ("validation-report", "model-card", "annex-iv"):
        text = _text(pack, pack.v1, slug)
        defined = text.index("## Metrics used, defined")
        for t in terms:
            assert f"- **{t.term}** ({t.name}): {t.definition}" in text
        first_gate = min(text.index(f"`{g.gate}`") for g in r.gates if f"`{g.gate}`" in text)
        assert defined < first_gate, slug
    html = _text(pack, pack.v1, "validation-report", "html")
    auc = next(t for t in terms if t.term == "AUC")
    assert f'<code title="{auc.text}">performance.<wbr>auc</code>' in html


def test_the_model_card_has_the_mitchell_sections_filled_from_records(pack: Pack) -> None:
    card = _text(pack, pack.v1, "model-card")
    headings = [line.lstrip("#").strip() for line in card.splitlines() if line.startswith("#")]
    for section in MITCHELL:
        assert any(h.startswith(section) for h in headings), section
    r = _records(pack, pack.v1)
    assert r.spec is not None
    factors = card.split("\n## Factors")[1].split("\n## ")[0]
    for attribute in r.spec.data.protected_attributes:
        assert attribute in factors
    ethics = card.split("\n## Ethical considerations")[1].split("\n## ")[0]
    assert "Left out of the features: age_in_years." in ethics
    for g in r.gates_of("fairness"):
        if g.status == "failed":
            assert f"Failed fairness check {g.gate}" in ethics
    evaluation = card.split("\n### Evaluation data")[1].split("\n## ")[0]
    held_out = [g for g in r.gates if isinstance(g.evidence.get("rows"), int)]
    assert held_out
    assert f"{held_out[0].evidence['rows']} rows" in evaluation
    caveats = card.split("\n## Caveats and recommendations")[1].split("\n## ")[0]
    for g in r.gates:
        if g.status == "failed" and g.severity == "advisory":
            assert f"{g.gate} failed (advisory)" in caveats
