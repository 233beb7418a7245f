"""From serving to a monitoring run, nothing stubbed: a trained, approved and deployed model
serves decisions; the flusher keeps their aggregates over the profile fitted at registration
(read from the server's verified artifact cache); a run reads that profile through the
registry and finds the served population where the reference is. Erasing a subject leaves
nothing of it in the monitoring tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy
from sqlalchemy import select

from riskops.context import Context
from riskops.monitoring.runs import run_monitoring
from riskops.privacy.keys import SubjectKeys
from riskops.privacy.pseudonyms import pseudonym
from riskops.serving.service import ScoringService, ServerSettings, Subject
from riskops.spec import load_spec
from riskops.store.tables import MonitoringAggregateRecord
from riskops.training.pipeline import train
from tests.conftest import DATA, SPEC, approve_and_deploy

MONITORING_TABLES = ("monitoring_aggregates", "monitoring_runs", "monitoring_alerts")


def test_served_decisions_are_monitored_against_the_registered_profile_and_erasure_reaches_nothing(
    ctx: Context, tmp_path: Path
) -> None:
    result = train(ctx, SPEC, actor="alice")
    approve_and_deploy(ctx, result.ref)
    rows = pd.read_csv(DATA)[list(load_spec(SPEC).spec.feature_names)].head(600)
    settings = ServerSettings(workspace=ctx.settings, flusher="thread", wal_dir=tmp_path / "wal")
    service = ScoringService.open(settings)
    try:
        service.refresh()
        for i, row in enumerate(rows.to_dict(orient="records")):
            service.decide("credit-scoring", Subject(f"SUBJECT-{i:04d}", row))
    finally:
        service.close()  # drains the WAL into the store, aggregates included
    with ctx.store.reading() as session:
        aggregates = list(session.scalars(select(MonitoringAggregateRecord)))
        digests = {a.profile_sha256 for a in aggregates}
        environments = {a.environment for a in aggregates}
    assert sum(a.n for a in aggregates) == 600
    assert environments == {"production"}
    assert len(digests) == 1
    assert None not in digests  # the feature counts were kept, over the registered profile

    run = run_monitoring(ctx, "credit-scoring", environment="production")
    version = run.results["versions"][0]
    assert version["n"] == 600
    assert version["profile_sha256"] in digests
    assert version["notes"] == []
    names = [f["name"] for f in version["features"]]
    assert names[:2] == ["status_of_existing_checking_account", "duration_in_month"]
    # The served rows are drawn from the training data: no feature has moved much.
    assert max(f["psi"] for f in version["features"]) < 0.1

    # Erasure: no monitoring table holds the subject's id, pseudonym or a row of its own, so
    # deleting its key leaves nothing of it behind there.
    assert service.secrets is not None
    subject = pseudonym(service.secrets, "SUBJECT-0007")
    before = monitoring_rows(ctx)
    keys = SubjectKeys(ctx.store, service.secrets, ctx.clock)
    assert keys.erase_subject("SUBJECT-0007", actor="oscar", role="operator")
    after = monitoring_rows(ctx)
    assert after == before
    assert subject not in repr(after)
    assert "SUBJECT-0007" not in repr(after)


def monitoring_rows(ctx: Context) -> dict[str, list[object]]:
    schema = sqlalchemy.MetaData()
    schema.reflect(bind=ctx.store.engine, only=list(MONITORING_TABLES))
    with ctx.store.reading() as session:
        return {
            name: [tuple(r) for r in session.execute(select(schema.tables[name]))]
            for name in MONITORING_TABLES
        }
