"""Monitoring runs from the aggregates: the false-alarm control (a no-drift replay over many
windows raises nothing, though the bare thresholds would have paged), a small real shift still
caught, alerts deduplicated while open and resolved when back, the run sealed in the chain."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from riskops.audit import list_events, verify
from riskops.audit.chain import canonical_json
from riskops.context import Context
from riskops.errors import InputError
from riskops.monitoring.assessment import reference_cdf
from riskops.monitoring.notifiers import WebhookNotifier
from riskops.monitoring.runs import MonitoringRun, VersionInfo, parse_window, run_monitoring
from riskops.statistics import drift
from riskops.store.tables import MonitoringAlertRecord, MonitoringRunRecord
from tests.unit.monitoring.population import MODEL, draw, reference, replay

START = datetime(2026, 11, 2, 0, tzinfo=UTC)


def run(ctx: Context, info: VersionInfo, hour: datetime, **options: Any) -> MonitoringRun:
    return run_monitoring(
        ctx,
        MODEL,
        environment="production",
        window=timedelta(hours=1),
        end=hour + timedelta(hours=1),
        versions=lambda session, model, version: info,
        **options,
    )


def alerts(ctx: Context) -> list[MonitoringAlertRecord]:
    with ctx.store.reading() as session:
        rows = list(
            session.scalars(select(MonitoringAlertRecord).order_by(MonitoringAlertRecord.id))
        )
        session.expunge_all()
        return rows


def test_a_no_drift_replay_over_many_windows_raises_no_alert(ctx: Context) -> None:
    """Small windows of the reference population: PSI's noise at n = 150 is over the 0.1
    convention again and again, so thresholds alone would page; judged against the sample
    size (and FDR, and persistence) nothing fires."""
    info = reference(min_sample=100, persistence=2)
    rng = np.random.default_rng(7)
    over_threshold = 0
    for i in range(40):
        hour = START + timedelta(hours=i)
        columns, score = draw(rng, 150)
        replay(ctx.store, info, columns, score, hour=hour)
        result = run(ctx, info, hour)
        findings = result.results["findings"]
        over_threshold += sum(1 for f in findings if f["severity"] is not None)
        assert result.fired == ()
    assert over_threshold >= 20  # the bare thresholds would have cried wolf
    assert alerts(ctx) == []


def test_a_small_real_shift_is_caught_after_persisting_and_names_its_runbook(
    ctx: Context,
) -> None:
    info = reference(persistence=2)
    rng = np.random.default_rng(11)
    fired: list[Any] = []
    for i in range(3):
        hour = START + timedelta(hours=i)
        columns, score = draw(rng, 4000, income_shift=0.4)  # PSI ≈ 0.16: a moderate shift
        replay(ctx.store, info, columns, score, hour=hour)
        result = run(ctx, info, hour)
        if i == 0:
            assert result.fired == ()  # persistence: one window is not enough
        fired += result.fired
    drifted = [n for n in fired if n.alert == "feature-drift"]
    assert [n.labels["target"] for n in drifted] == ["income"]  # no other feature is flagged
    assert drifted[0].labels["severity"] == "warning"
    assert drifted[0].annotations["runbook_url"] == "docs/runbooks/feature-drift.md"
    # Open alerts are deduplicated: the third run refreshed them, it did not fire them again.
    names = [(a.alert, a.target) for a in alerts(ctx)]
    assert len(names) == len(set(names))
    assert all(a.status == "firing" for a in alerts(ctx))


def test_an_alert_resolves_when_the_window_is_back_within_bounds(ctx: Context) -> None:
    info = reference(persistence=1)
    rng = np.random.default_rng(5)
    hour = START
    columns, score = draw(rng, 3000, income_shift=0.6)
    replay(ctx.store, info, columns, score, hour=hour)
    first = run(ctx, info, hour)
    assert "feature-drift" in {n.alert for n in first.fired}
    hour += timedelta(hours=1)
    columns, score = draw(rng, 3000)
    replay(ctx.store, info, columns, score, hour=hour)
    second = run(ctx, info, hour)
    assert second.fired == ()
    assert {(n.alert, n.labels["target"]) for n in second.resolved} >= {("feature-drift", "income")}
    assert all(n.status == "resolved" and n.ends_at is not None for n in second.resolved)
    stored = {a.target: a for a in alerts(ctx) if a.alert == "feature-drift"}
    assert stored["income"].status == "resolved"
    assert stored["income"].resolved_run_id == second.run_id


def test_the_run_is_stored_and_its_results_hash_sealed_in_the_chain(ctx: Context) -> None:
    info = reference()
    columns, score = draw(np.random.default_rng(3), 1000)
    replay(ctx.store, info, columns, score, hour=START)
    replay(ctx.store, info, columns, score, hour=START, environment="staging")  # not counted
    result = run(ctx, info, START)
    version = result.results["versions"][0]
    assert version["n"] == 1000
    assert sum(version["decisions"]["outcomes"].values()) == 1000
    assert version["score"]["psi"] < 0.05  # the same population
    assert set(version["decisions"]["expected_rates"]) == {"approve", "refer", "decline"}
    with ctx.store.reading() as session:
        stored = session.get(MonitoringRunRecord, result.run_id)
        assert stored is not None
        digest = "sha256:" + hashlib.sha256(canonical_json(stored.results).encode()).hexdigest()
    assert digest == stored.results_sha256 == result.results_sha256
    (event,) = list_events(ctx.store, action="monitoring.run")
    assert event.payload["results_sha256"] == result.results_sha256
    assert event.payload["run_id"] == result.run_id
    assert verify(ctx.store).ok


def test_a_version_without_a_profile_gets_the_decision_layer_and_says_so(ctx: Context) -> None:
    info = reference()
    columns, score = draw(np.random.default_rng(4), 300)
    replay(ctx.store, VersionInfo(info.spec, None), columns, score, hour=START)
    result = run(ctx, VersionInfo(info.spec, None), START)
    version = result.results["versions"][0]
    assert "features" not in version
    assert version["decisions"]["outcomes"]
    assert "no reference profile" in version["notes"][0]


def test_summed_windows_equal_one_window_of_all_the_decisions(ctx: Context) -> None:
    """Aggregates merge by addition across hours (and replicas): a 3-hour run over three
    replayed hours counts exactly what the profile counts on all the rows at once."""
    info = reference()
    assert info.profile is not None
    rng = np.random.default_rng(9)
    parts = [draw(rng, 500) for _ in range(3)]
    for i, (columns, score) in enumerate(parts):
        replay(ctx.store, info, columns, score, hour=START + timedelta(hours=i))
    result = run_monitoring(
        ctx,
        MODEL,
        window=timedelta(hours=3),
        end=START + timedelta(hours=3),
        versions=lambda session, model, version: info,
    )
    everything = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
    scores = np.concatenate([p[1] for p in parts])
    counts = info.profile.count(info.profile.bin_columns(everything, scores))
    income = everything["income"]
    reference_rows, _ = draw(np.random.default_rng(1), 20_000)  # the rows the profile counted
    coarse = info.profile.coarse(counts)
    version = result.results["versions"][0]
    assert version["n"] == 1500
    reference_coarse = info.profile.coarse(info.profile.reference)
    assert version["features"][0]["psi"] == float(drift.psi(reference_coarse, coarse)[0])
    ks, _ = drift.ks_from_counts(info.profile.reference[:1, 1:], counts[:1, 1:])
    assert version["features"][0]["ks"] == float(ks[0])
    exact_ks = drift.ks_exact(income, reference_rows["income"])[0]
    assert version["features"][0]["ks"] <= exact_ks + 1e-12
    assert exact_ks <= version["features"][0]["ks"] + version["features"][0]["ks_bound"] + 1e-12
    exact_w1 = drift.wasserstein_exact(income, reference_rows["income"])
    w1, w1_bound = (
        version["features"][0]["wasserstein"],
        version["features"][0]["wasserstein_bound"],
    )
    assert abs(exact_w1 - w1) <= w1_bound + 1e-12
    assert version["features"][0]["mean"] == pytest.approx(float(income.mean()), rel=1e-12)
    assert version["features"][0]["std"] == pytest.approx(float(income.std(ddof=1)), rel=1e-9)


def test_reference_cdf_is_exact_at_fine_edges_and_linear_within() -> None:
    info = reference()
    assert info.profile is not None
    bins, counts = info.profile.score, info.profile.reference[-1]
    _, score = draw(np.random.default_rng(1), 20_000)  # the reference rows themselves
    edge = bins.fine_edges[100]
    assert reference_cdf(bins, counts, edge) == pytest.approx(
        float((score < edge).mean()), abs=1e-12
    )
    assert reference_cdf(bins, counts, bins.fine_edges[0] - 1) == 0.0
    assert reference_cdf(bins, counts, bins.fine_edges[-1] + 1) == 1.0


@pytest.mark.parametrize("text", ["24", "0h", "-3h", "1y", "400d", "h"])
def test_a_window_riskops_does_not_understand_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="is not a duration riskops understands"):
        parse_window(text)


def test_windows_in_minutes_hours_days() -> None:
    assert parse_window("90m") == timedelta(minutes=90)
    assert parse_window("24h") == timedelta(hours=24)
    assert parse_window("7D") == timedelta(days=7)


def test_an_unknown_environment_is_refused(ctx: Context) -> None:
    with pytest.raises(InputError, match="Unknown environment 'prod'"):
        run_monitoring(ctx, MODEL, environment="prod")


# -- the webhook ----------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            got.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


def test_the_webhook_gets_alertmanager_json_when_an_alert_fires_and_resolves(
    ctx: Context, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, got = receiver
    info = reference(persistence=1)
    rng = np.random.default_rng(8)
    columns, score = draw(rng, 3000, income_shift=0.6)
    replay(ctx.store, info, columns, score, hour=START)
    run(ctx, info, START, notifiers=[WebhookNotifier(url)], runbook_base="https://runbooks/")
    columns, score = draw(rng, 3000)
    replay(ctx.store, info, columns, score, hour=START + timedelta(hours=1))
    run(ctx, info, START + timedelta(hours=1), notifiers=[WebhookNotifier(url)])
    firing, resolved = got
    assert firing["version"] == "4"
    assert firing["status"] == "firing"
    assert firing["commonLabels"]["model"] == MODEL
    one = next(a for a in firing["alerts"] if a["labels"]["target"] == "income")
    assert one["labels"]["alertname"] == "feature-drift"
    assert one["annotations"]["runbook_url"] == "https://runbooks/docs/runbooks/feature-drift.md"
    assert one["startsAt"].endswith("Z")
    assert one["endsAt"] == "0001-01-01T00:00:00Z"
    assert resolved["status"] == "resolved"
    assert {a["fingerprint"] for a in resolved["alerts"]} <= {
        a["fingerprint"] for a in firing["alerts"]
    }


def test_a_webhook_that_does_not_answer_leaves_the_run_stored_and_says_so(ctx: Context) -> None:
    info = reference(persistence=1)
    columns, score = draw(np.random.default_rng(8), 3000, income_shift=0.6)
    replay(ctx.store, info, columns, score, hour=START)
    result = run(ctx, info, START, notifiers=[WebhookNotifier("http://127.0.0.1:9/hook")])
    assert result.fired
    assert "did not take" in result.undelivered[0]
    assert alerts(ctx)


def test_a_webhook_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(InputError, match="is not an http"):
        WebhookNotifier("file:///etc/passwd")
