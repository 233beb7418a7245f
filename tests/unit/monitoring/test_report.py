"""``riskops monitor report``: from a trained, deployed model that served decisions, a monitoring
run and a few labels, one self-contained HTML file whose every number is the stored record's;
and its refusals (unknown model, no run yet, an --out it cannot write)."""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from riskops.cli.app import app
from riskops.context import Context
from riskops.decisions.aggregates import hour_of
from riskops.documents.monitoring import render_monitoring_report, write_monitoring_report
from riskops.documents.render import number, render_documents
from riskops.errors import InputError, NotFoundError
from riskops.monitoring.labels import ingest_labels
from riskops.monitoring.outcomes import performance_report
from riskops.monitoring.report import gather_report
from riskops.monitoring.runs import run_monitoring
from riskops.registry.versions import ModelRef
from riskops.serving.service import ScoringService, ServerSettings, Subject
from riskops.spec import load_spec
from riskops.statistics import drift
from riskops.store.tables import MonitoringAlertRecord, MonitoringRunRecord
from riskops.training.pipeline import train
from tests.conftest import DATA, SPEC, approve_and_deploy
from tests.unit.monitoring.population import MODEL as SYNTHETIC
from tests.unit.monitoring.population import draw, reference, replay

runner = CliRunner()


class Page(HTMLParser):
    """The rows of each table (by class) with their data- attributes, every URL the page refers
    to, and the texts of elements with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.urls: list[str] = []
        self.ids: dict[str, str] = {}
        self._table: str | None = None
        self._row: dict[str, Any] | None = None
        self._cell: list[str] | None = None
        self._id: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("src", "href", "xlink:href", "data", "poster", "action"):
            if a.get(key):
                self.urls.append(str(a[key]))
        if tag == "table":
            self._table = a.get("class") or ""
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table is not None:
            self._row = {"attrs": a, "cells": []}
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        if a.get("id"):
            self._id = a["id"]
            self.ids[self._id] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row["cells"].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif self._id is not None:
            self._id = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._id is not None:
            self.ids[self._id] += data


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def rows(page: Page, table: str, key: str) -> dict[str, list[str]]:
    return {r["attrs"][key]: r["cells"] for r in page.tables[table] if key in r["attrs"]}


@pytest.fixture
def served(ctx: Context, tmp_path: Path) -> Context:
    """credit-scoring trained, approved, deployed to production; 400 decisions served through
    the scoring service (aggregates flushed), one monitoring run, 60 labels ingested."""
    result = train(ctx, SPEC, actor="alice")
    approve_and_deploy(ctx, result.ref)
    frame = pd.read_csv(DATA)[list(load_spec(SPEC).spec.feature_names)].head(400)
    settings = ServerSettings(workspace=ctx.settings, flusher="thread", wal_dir=tmp_path / "wal")
    service = ScoringService.open(settings)
    made = []
    try:
        service.refresh()
        for i, row in enumerate(frame.to_dict(orient="records")):
            outcome, _ = service.decide("credit-scoring", Subject(f"S-{i:04d}", row))
            made.append(outcome.decision_id)
    finally:
        service.close()
    run_monitoring(ctx, "credit-scoring", environment="production")
    labels = tmp_path / "labels.csv"
    observed = ctx.clock().isoformat()  # the same month: each cohort at month 0
    with labels.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["decision_id", "label", "observed_at"])
        for i, decision_id in enumerate(made[:60]):
            writer.writerow([decision_id, "bad" if i % 3 == 0 else "good", observed])
    ingest_labels(ctx, labels, model="credit-scoring", actor="oscar")
    return ctx


def test_the_report_of_a_served_model_shows_the_stored_records_and_nothing_external(
    served: Context, tmp_path: Path
) -> None:
    ctx = served
    out = write_monitoring_report(ctx, "credit-scoring", tmp_path / "report.html")
    html = out.read_text(encoding="utf-8")
    page = parse(html)
    with ctx.store.reading() as session:
        run = session.scalars(select(MonitoringRunRecord)).one()
        results = run.results
    # Self-contained: no URL but the relative runbook links; nothing fetched.
    assert not re.search(r"(?i)\b(src|href)\s*=\s*[\"']?(https?:|//)", html)
    for tag in ("<link", "<script", "<img", "<iframe", "@import", "url("):
        assert tag not in html
    assert all(not u.startswith(("http:", "https:", "//")) for u in page.urls)
    # The run and the profile it names.
    assert page.ids["run-id"] == str(run.id)
    assert page.ids["results-sha256"] == run.results_sha256
    (version,) = results["versions"]
    assert version["profile_sha256"] in html
    assert f"{version['n']} decisions in the window" in html
    # The drift table is the sealed results', number for number.
    drift = rows(page, "drift", "data-feature")
    for feature in [*version["features"], version["score"]]:
        cells = drift[feature["name"]]
        assert cells[1] == number(feature["psi"])
        assert cells[2] == number(feature["psi_p_value"])
    judged = {(f["alert"], f["target"]): f for f in results["findings"]}
    for feature in version["features"]:
        q = judged[("feature-drift", feature["name"])]["q_value"]
        assert drift[feature["name"]][3] == number(q)
        assert drift[feature["name"]][4] == "0.1000 / 0.2500"  # the spec's levels
    # Decision rates and the reference's.
    rates = rows(page, "rates", "data-outcome")
    for outcome, count in version["decisions"]["outcomes"].items():
        assert rates[outcome][1] == str(count)
        assert rates[outcome][2] == number(version["decisions"]["rates"][outcome])
        assert rates[outcome][3] == number(version["decisions"]["expected_rates"][outcome])
    # Distributions: the profile's counts and the window's add up to their n.
    distributions = [f for f in page.tables if f == "counts"]
    assert distributions
    report = gather_report(ctx, "credit-scoring")
    (shown,) = report.versions
    assert len(shown.distributions) == len(version["features"]) + 1
    for d in shown.distributions:
        assert sum(d.current) == version["n"]
        assert sum(d.reference) == version["reference_n"]
    # Performance from the cells and the decision log, as monitor performance gives it.
    performance = performance_report(ctx, "credit-scoring", version=1, environment="production")
    assert performance.labelled == 60
    figures = rows(page, "performance", "data-figure")
    assert figures["bad"][1] == str(performance.positives) == "20"
    assert figures["bad"][2] == (
        f"{number(performance.expected_positives_labelled)} ± {number(performance.sigma_labelled)}"
    )
    vintage = rows(page, "vintage", "data-cohort")
    assert list(vintage) == performance.cohorts
    assert "No labels yet" not in html


def test_the_alert_timeline_shows_opened_refreshed_and_resolved_alerts_with_runbooks(
    ctx: Context, tmp_path: Path
) -> None:
    info = reference(persistence=1)
    rng = np.random.default_rng(5)
    start = hour_of(ctx.clock()) - timedelta(hours=3)

    def run(hour: Any) -> None:
        run_monitoring(
            ctx,
            SYNTHETIC,
            window=timedelta(hours=1),
            end=hour + timedelta(hours=1),
            versions=lambda session, model, version: info,
        )

    for i, shift in enumerate((0.6, 0.6, 0.0)):
        columns, score = draw(rng, 3000, income_shift=shift)
        replay(ctx.store, info, columns, score, hour=start + timedelta(hours=i))
        run(start + timedelta(hours=i))
    _add_model(ctx, SYNTHETIC)
    report = gather_report(ctx, SYNTHETIC, versions=lambda session, model, version: info)
    html = render_monitoring_report(report, runbook_base="")
    page = parse(html)
    with ctx.store.reading() as session:
        stored = list(session.scalars(select(MonitoringAlertRecord)))
        session.expunge_all()
    assert stored
    timeline = rows(page, "alerts", "data-alert")
    assert set(timeline) == {str(a.id) for a in stored}
    income = next(a for a in stored if a.alert == "feature-drift" and a.target == "income")
    cells = timeline[str(income.id)]
    assert cells[5] == income.status == "resolved"
    assert f"run {income.opened_run_id}" in cells[8]
    assert cells[9] == f"run {income.last_run_id}"  # refreshed by the second run
    assert income.last_run_id == income.opened_run_id + 1
    assert f"run {income.resolved_run_id}" in cells[10]
    assert 'href="docs/runbooks/feature-drift.md"' in html
    # The report shows the latest run, and no performance: the synthetic model logged no decision.
    assert page.ids["run-id"] == str(report.run_id) == "3"
    assert report.earlier_run_ids == (2, 1)
    assert "no performance yet" in html


def _add_model(ctx: Context, name: str) -> None:
    from riskops.store.tables import ModelRecord

    now = ctx.clock()
    with ctx.store.transaction() as session:
        session.add(
            ModelRecord(
                name=name,
                risk_tier="low",
                owner="tests",
                intended_use="tests",
                created_at=now,
                updated_at=now,
            )
        )


def test_an_unknown_model_or_one_without_a_run_is_refused_with_how_to_make_one(
    ctx: Context, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError, match="Unknown model 'nope'"):
        gather_report(ctx, "nope")
    _add_model(ctx, SYNTHETIC)
    with pytest.raises(NotFoundError, match="No monitoring run") as caught:
        gather_report(ctx, SYNTHETIC)
    assert (
        caught.value.hint
        == f"Run one first: riskops monitor run {SYNTHETIC} --env production --window 24h"
    )
    with pytest.raises(InputError, match="Unknown environment 'qa'"):
        gather_report(ctx, SYNTHETIC, environment="qa")


def test_an_out_that_cannot_be_written_is_refused_before_anything_is_read(
    ctx: Context, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="is a folder"):
        write_monitoring_report(ctx, "nope", tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        write_monitoring_report(ctx, "nope", tmp_path / "missing" / "r.html")


def test_the_cli_writes_the_report_and_refuses_a_model_without_a_run(
    ctx: Context, tmp_path: Path
) -> None:
    info = reference()
    columns, score = draw(np.random.default_rng(2), 400)
    replay(ctx.store, info, columns, score, hour=hour_of(ctx.clock()))
    run_monitoring(ctx, SYNTHETIC, versions=lambda session, model, version: info)
    home = str(ctx.settings.home)
    missing = runner.invoke(app, ["--home", home, "monitor", "report", SYNTHETIC])
    assert isinstance(missing.exception, NotFoundError)  # not in the inventory
    _add_model(ctx, SYNTHETIC)
    out = tmp_path / "m.html"
    shown = runner.invoke(app, ["--home", home, "monitor", "report", SYNTHETIC, "--out", str(out)])
    assert shown.exit_code == 0, shown.output
    assert str(out) in shown.output.replace("\n", "")
    page = parse(out.read_text(encoding="utf-8"))
    assert page.ids["run-id"] == "1"
    # The store holds no version of it: the sealed drift table is shown, but the profile's
    # counts cannot be read, and the report says so rather than draw anything.
    assert set(rows(page, "drift", "data-feature")) == {
        "income",
        "utilisation",
        "tenure",
        "channel",
        "score",
    }
    assert "counts" not in page.tables
    assert "cannot be read now; the distributions are not shown" in "".join(page.text)
    bad = runner.invoke(
        app,
        ["--home", home, "monitor", "report", SYNTHETIC, "--out", str(tmp_path / "x" / "y.html")],
    )
    assert isinstance(bad.exception, InputError)


def test_the_documents_cite_the_latest_run_and_the_open_alerts_as_stored(
    served: Context, tmp_path: Path
) -> None:
    ctx = served
    ref = ModelRef("credit-scoring", 1)
    with ctx.store.reading() as session:
        run = session.scalars(select(MonitoringRunRecord)).one()
        results = run.results
        assert list(session.scalars(select(MonitoringAlertRecord))) == []
    (version,) = results["versions"]
    render_documents(ctx, ref, tmp_path / "before", formats=("md",))
    card = (tmp_path / "before" / "credit-scoring-v1-model-card.md").read_text()
    csi = max((f["psi"], f["name"]) for f in version["features"])
    line = next(x for x in card.splitlines() if "Latest run in production" in x)
    assert f"monitoring_runs #{run.id}" in line
    assert f"{version['n']} decisions of this version" in line
    assert f"score PSI {version['score']['psi']:.4f}" in line
    assert f"largest feature CSI {csi[0]:.4f} ({csi[1]})" in line
    assert run.results_sha256 in line
    assert f"audit event #{run.audit_seq}" in line
    assert "No alert is open on this version." in card
    report = (tmp_path / "before" / "credit-scoring-v1-validation-report.md").read_text()
    assert line in report
    # An alert opened on the version (as update_alerts stores one) is cited with its record.
    with ctx.store.transaction() as session:
        alert = MonitoringAlertRecord(
            fingerprint="f" * 32,
            alert="prediction-drift",
            model_name="credit-scoring",
            version=1,
            environment="production",
            target="score",
            severity="warning",
            status="firing",
            value=0.137,
            threshold=0.1,
            p_value=1e-6,
            summary="prediction-drift on score",
            runbook="docs/runbooks/prediction-drift.md",
            opened_run_id=run.id,
            last_run_id=run.id,
            resolved_run_id=None,
            started_at=ctx.clock(),
            resolved_at=None,
        )
        session.add(alert)
        session.flush()
        alert_id = alert.id
    render_documents(ctx, ref, tmp_path / "after", formats=("md", "html"))
    card = (tmp_path / "after" / "credit-scoring-v1-model-card.md").read_text()
    assert (
        f"Open alert monitoring_alerts #{alert_id}: prediction-drift on score in production "
        f"(warning), value 0.137 against 0.1, since run #{run.id}" in card
    )
    assert "docs/runbooks/prediction-drift.md" in card
    annex = (tmp_path / "after" / "credit-scoring-v1-annex-iv.md").read_text()
    (point_9,) = [x for x in annex.splitlines() if x.startswith("| (9)")]
    assert f"monitoring_runs #{run.id}" in point_9
    assert f"monitoring_alerts #{alert_id}" in point_9
    assert "1 alert(s) open: prediction-drift on score (warning)" in point_9
    assert "answered from records" in point_9
    html = (tmp_path / "after" / "credit-scoring-v1-model-card.html").read_text()
    assert "Monitoring is not yet implemented" not in html
    assert f"monitoring_alerts #{alert_id}" in html


def test_the_distributions_shown_are_the_bins_the_run_computed_its_psi_on(ctx: Context) -> None:
    """The PSI of each drawn distribution (reference against window, on the shown bins) is the
    PSI the run sealed: the figures show what was judged, not a re-binning."""
    info = reference()
    rng = np.random.default_rng(17)
    hour = hour_of(ctx.clock()) - timedelta(hours=1)
    columns, score = draw(rng, 2500, income_shift=0.3)
    replay(ctx.store, info, columns, score, hour=hour)
    run_monitoring(
        ctx,
        SYNTHETIC,
        window=timedelta(hours=1),
        end=hour + timedelta(hours=1),
        versions=lambda session, model, version: info,
    )
    _add_model(ctx, SYNTHETIC)
    report = gather_report(ctx, SYNTHETIC, versions=lambda session, model, version: info)
    (version,) = report.versions
    sealed = {r["name"]: r["psi"] for r in [*version.results["features"], version.results["score"]]}
    assert [d.name for d in version.distributions] == list(sealed)
    for d in version.distributions:
        shown = drift.psi(np.array([d.reference]), np.array([d.current]))[0]
        assert shown == pytest.approx(sealed[d.name], rel=1e-12, abs=1e-15)
        assert sum(d.current) == version.results["n"] == version.window_n == 2500
    assert sealed["income"] > 0.05  # the shifted feature is the one that moved
