"""The alert rules: every alert has its runbook, Benjamini–Hochberg against a direct reading of
its definition, the PSI null against simulation, the judgement's four conditions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import false_discovery_control

from riskops.monitoring.alerts import (
    RULES,
    RUNBOOKS,
    Finding,
    benjamini_hochberg,
    judge,
    persisted,
    psi_p_value,
)
from riskops.monitoring.notifiers import alertmanager_payload
from riskops.spec import Monitoring
from riskops.statistics import drift
from tests.conftest import REPO


@pytest.mark.parametrize("alert", sorted(RULES))
def test_every_alert_has_a_runbook_that_says_what_to_do(alert: str) -> None:
    path = REPO / RUNBOOKS[alert]
    assert path.is_file(), f"{alert} names {RUNBOOKS[alert]}, which does not exist"
    text = path.read_text(encoding="utf-8")
    for section in (
        "## What it means",
        "## How to confirm",
        "## What to do",
        "## When to roll back",
    ):
        assert section in text, f"{path.name} has no {section!r}"
    assert alert in (REPO / "docs" / "runbooks" / "README.md").read_text(encoding="utf-8")


def test_every_rule_names_thresholds_of_the_spec() -> None:
    for name in RULES.values():
        assert name in Monitoring.model_fields


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=40))
def test_benjamini_hochberg_equals_scipys(p: list[float]) -> None:
    expected = false_discovery_control(p, method="bh")
    np.testing.assert_allclose(benjamini_hochberg(p), expected, rtol=1e-12, atol=1e-15)


def test_benjamini_hochberg_on_fixed_values() -> None:
    # Sorted 0.01, 0.03, 0.04, 0.5; m·p/rank = 0.04, 0.06, 0.0533…, 0.5; then the running
    # minimum from the largest rank down.
    got = benjamini_hochberg([0.01, 0.04, 0.03, 0.5])
    assert got.tolist() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5], rel=1e-12)


def test_the_psi_null_matches_simulation() -> None:
    """Under no shift, P(p < 0.05) is close to 0.05: samples of one distribution over frozen
    bins, the PSI of each against the reference, its p-value from the χ² approximation."""
    rng = np.random.default_rng(0)
    shares = np.full(10, 0.1)
    n_ref, n_cur = 20_000, 2_000
    reference = rng.multinomial(n_ref, shares)[None, :]
    current = rng.multinomial(n_cur, shares, size=2_000)
    psi = drift.psi(np.repeat(reference, len(current), axis=0), current)
    p = np.array([psi_p_value(float(v), n_ref, n_cur, 10) for v in psi])
    assert 0.03 <= float((p < 0.05).mean()) <= 0.07


def finding(value: float, p: float | None, n: int = 1000, target: str = "x") -> Finding:
    return Finding("feature-drift", "m", "production", 1, target, value, n, p)


def test_a_breach_needs_threshold_significance_and_sample() -> None:
    rules = Monitoring(min_sample=500)
    judged = judge(
        [
            finding(0.3, 1e-9, target="all"),
            finding(0.05, 1e-9, target="under-threshold"),
            finding(0.3, 0.5, target="not-significant"),
            finding(0.3, 1e-9, n=100, target="too-small"),
        ],
        rules,
    )
    assert [(j.finding.target, j.breach) for j in judged] == [
        ("all", True),
        ("under-threshold", False),
        ("not-significant", False),
        ("too-small", False),
    ]
    assert judged[0].severity == "critical"
    assert judged[0].threshold == 0.25


def test_persistence_needs_the_breach_in_the_runs_before() -> None:
    (j,) = judge([finding(0.3, 1e-9)], Monitoring())
    assert persisted([j], [], 2) == []
    assert persisted([j], [set()], 2) == []
    assert persisted([j], [{j.finding.fingerprint}], 2) == [j]
    assert persisted([j], [], 1) == [j]


def test_the_webhook_payload_has_alertmanagers_shape() -> None:
    from datetime import UTC, datetime

    from riskops.monitoring.notifiers import Notice

    at = datetime(2026, 12, 7, 12, tzinfo=UTC)
    notice = Notice(
        "firing",
        "feature-drift",
        "f" * 32,
        {"alertname": "feature-drift", "model": "m"},
        {"summary": "s", "runbook_url": "docs/runbooks/feature-drift.md"},
        at,
    )
    payload = alertmanager_payload([notice, notice.resolved(at)])
    assert set(payload) == {
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    }
    assert payload["status"] == "firing"
    assert payload["groupLabels"] == {"alertname": "feature-drift"}
    assert [a["status"] for a in payload["alerts"]] == ["firing", "resolved"]
    assert payload["alerts"][1]["endsAt"] == "2026-12-07T12:00:00Z"
