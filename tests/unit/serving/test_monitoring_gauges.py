"""The served /metrics show the latest monitoring run and the open alerts: the refresher sets
the gauges when the audit chain holds a new monitoring.run, and only then."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from riskops.audit.trail import activity_since
from riskops.context import Context
from riskops.monitoring.runs import run_monitoring
from riskops.serving.service import ScoringService
from riskops.training.pipeline import train
from tests.conftest import SPEC, approve_and_deploy
from tests.unit.monitoring.population import draw, reference, replay
from tests.unit.serving.test_app import serving

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

HOUR = datetime(2026, 11, 2, 9, tzinfo=UTC)
MODEL = "credit-scoring"


@pytest.fixture
def served(ctx: Context) -> Iterator[tuple[Any, ScoringService, str]]:
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    with serving(ctx) as running:
        yield running


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_after_a_run_the_served_metrics_show_its_statistics_and_open_alerts(
    served: tuple[Any, ScoringService, str],
) -> None:
    client, service, _ = served
    assert "riskops_monitoring_statistic{" not in client.get("/metrics").text
    info = reference(persistence=1)
    columns, score = draw(np.random.default_rng(3), 4000, income_shift=-1.5)
    replay(service.ctx.store, info, columns, score, hour=HOUR, model=MODEL, version=1)
    run = run_monitoring(
        service.ctx,
        MODEL,
        window=timedelta(hours=1),
        end=HOUR + timedelta(hours=1),
        versions=lambda session, model, version: info,
    )
    assert run.fired  # the shift fires alerts on the first run (persistence 1)
    assert service.refresh_if_changed()
    text = client.get("/metrics").text
    statistics = samples(text, "riskops_monitoring_statistic")
    (version,) = run.results["versions"]

    def key(feature: str, statistic: str) -> tuple[tuple[str, str], ...]:
        labels = {
            "model": MODEL,
            "version": "1",
            "environment": "production",
            "feature": feature,
            "statistic": statistic,
        }
        return tuple(sorted(labels.items()))

    for feature in version["features"]:
        assert statistics[key(feature["name"], "psi")] == feature["psi"]
        if feature.get("ks") is None:  # a categorical feature has no KS: no series
            assert key(feature["name"], "ks") not in statistics
        else:
            assert statistics[key(feature["name"], "ks")] == feature["ks"]
    assert statistics[key("score", "psi")] == version["score"]["psi"]
    windows = samples(text, "riskops_monitoring_window_decisions")
    assert list(windows.values()) == [4000.0]
    alerts = samples(text, "riskops_monitoring_alerts_open")
    fired: dict[tuple[str, str], int] = {}
    for notice in run.fired:
        name = (notice.alert, notice.labels["severity"])
        fired[name] = fired.get(name, 0) + 1
    assert {(dict(k)["alert"], dict(k)["severity"]): v for k, v in alerts.items()} == fired

    # Nothing new in the chain: the gauges are not read again.
    head, _ = activity_since(service.ctx.store, None)
    assert not service.refresh_monitoring(head)
    # The next run, on a window without decisions, resolves the alerts: the gauges follow.
    run_monitoring(
        service.ctx,
        MODEL,
        window=timedelta(hours=1),
        end=HOUR + timedelta(hours=3),
        versions=lambda session, model, version: info,
    )
    assert service.refresh_if_changed()
    text = client.get("/metrics").text
    assert samples(text, "riskops_monitoring_alerts_open") == {}
    assert samples(text, "riskops_monitoring_statistic") == {}
