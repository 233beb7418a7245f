"""Serving metrics: refused requests are counted by problem code, never by message text;
requests by status code; monitoring gauges replaced per model and refused free text."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskops.errors import InputError, Problem
from riskops.serving.metrics import ServingMetrics


def count(metrics: ServingMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_problems_are_counted_by_their_code() -> None:
    metrics = ServingMetrics()
    metrics.problems(
        "credit-scoring",
        [
            Problem("age_in_years", "anything at all", "missing"),
            Problem("subjects[3].duration_in_month", "whatever the wording", "out_of_range"),
            Problem("purpose", "unknown", "unknown_category"),
        ],
    )
    assert (
        count(
            metrics, "riskops_feature_missing_total", model="credit-scoring", feature="age_in_years"
        )
        == 1.0
    )
    assert (
        count(
            metrics,
            "riskops_feature_out_of_range_total",
            model="credit-scoring",
            feature="duration_in_month",
        )
        == 1.0
    )
    assert (
        count(metrics, "riskops_feature_missing_total", model="credit-scoring", feature="purpose")
        == 0.0
    )


def test_a_message_that_reads_like_a_missing_value_is_not_counted_as_one() -> None:
    metrics = ServingMetrics()
    metrics.problems(
        "credit-scoring",
        [
            Problem("age_in_years", "is required", "wrong_type"),
            Problem("duration_in_month", "is below the allowed minimum", "invalid"),
        ],
    )
    assert (
        count(
            metrics, "riskops_feature_missing_total", model="credit-scoring", feature="age_in_years"
        )
        == 0.0
    )
    assert (
        count(
            metrics,
            "riskops_feature_out_of_range_total",
            model="credit-scoring",
            feature="duration_in_month",
        )
        == 0.0
    )


def series(metrics: ServingMetrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for m in metrics.registry.collect()
        for s in m.samples
        if s.name == name
    }


def test_requests_are_counted_by_endpoint_and_status_code() -> None:
    metrics = ServingMetrics()
    for status in (200, 200, 422, 503):
        metrics.request("decision", status)
    metrics.request("batch", 200)
    assert count(metrics, "riskops_requests_total", endpoint="decision", code="200") == 2.0
    assert count(metrics, "riskops_requests_total", endpoint="decision", code="503") == 1.0
    assert count(metrics, "riskops_requests_total", endpoint="batch", code="200") == 1.0
    assert count(metrics, "riskops_requests_total", endpoint="batch", code="503") == 0.0


def test_readiness_and_flusher_restarts() -> None:
    metrics = ServingMetrics()
    state = {"ready": False}
    metrics.watch_ready(lambda: state["ready"])
    assert count(metrics, "riskops_ready") == 0.0
    state["ready"] = True
    assert count(metrics, "riskops_ready") == 1.0
    # exported at 0 before the first restart, so that increase() sees the first one
    assert metrics.registry.get_sample_value("riskops_decision_log_flusher_restarts_total") == 0.0
    metrics.flusher_restarts.inc()
    assert count(metrics, "riskops_decision_log_flusher_restarts_total") == 1.0


def test_monitoring_results_replace_the_series_of_the_models_they_name() -> None:
    metrics = ServingMetrics()
    metrics.monitoring(
        statistics=[
            ("credit-scoring", 1, "production", "age_in_years", "psi", 0.31),
            ("credit-scoring", 1, "production", "purpose", "psi", 0.02),
            ("fraud", 2, "production", "amount", "psi", 0.05),
        ],
        alerts=[("credit-scoring", "production", "feature-drift", "critical", 1)],
        windows=[("credit-scoring", 1, "production", 5000), ("fraud", 2, "production", 900)],
    )
    stats = series(metrics, "riskops_monitoring_statistic")
    assert len(stats) == 3
    assert (
        count(
            metrics,
            "riskops_monitoring_statistic",
            model="credit-scoring",
            version="1",
            environment="production",
            feature="age_in_years",
            statistic="psi",
        )
        == 0.31
    )
    # The next run of credit-scoring: drift gone, alert closed; fraud's series stay.
    metrics.monitoring(
        statistics=[("credit-scoring", 1, "production", "age_in_years", "psi", 0.04)],
        windows=[("credit-scoring", 1, "production", 5200)],
    )
    stats = series(metrics, "riskops_monitoring_statistic")
    assert sorted(dict(k)["feature"] for k in stats) == ["age_in_years", "amount"]
    assert series(metrics, "riskops_monitoring_alerts_open") == {}
    windows = {
        dict(k)["model"]: v
        for k, v in series(metrics, "riskops_monitoring_window_decisions").items()
    }
    assert windows == {"credit-scoring": 5200.0, "fraud": 900.0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alerts": [("m", "production", "drift", "page", 1)]}, "severity 'page'"),
        ({"statistics": [("m", 1, "production", "age in years", "psi", 0.1)]}, "not a short name"),
        ({"statistics": [("m", 1, "production", "x" * 129, "psi", 0.1)]}, "not a short name"),
        ({"windows": [("m", 1, "production", "many")]}, "not a number"),
        ({"windows": [("m", 1, "production", True)]}, "not a number"),
        ({"windows": [("m", 1, 5000)]}, "3 fields, 4 were expected"),
    ],
)
def test_monitoring_refuses_free_text_and_bad_values_and_changes_nothing(
    kwargs: dict[str, Any], message: str
) -> None:
    metrics = ServingMetrics()
    metrics.monitoring(windows=[("m", 1, "production", 10)])
    with pytest.raises(InputError, match=message) as caught:
        metrics.monitoring(**kwargs)
    assert caught.value.hint
    assert series(metrics, "riskops_monitoring_window_decisions") == {
        (("environment", "production"), ("model", "m"), ("version", "1")): 10.0
    }


_MODELS = st.sampled_from(["credit-scoring", "fraud"])
_ENVS = st.sampled_from(["production", "staging"])
_STATS = st.tuples(
    _MODELS,
    st.integers(1, 2),
    _ENVS,
    st.sampled_from(["age", "amount", "purpose"]),
    st.sampled_from(["psi", "ks"]),
    st.floats(0, 5),
)
_WINDOWS = st.tuples(_MODELS, st.integers(1, 2), _ENVS, st.integers(0, 10**6))


@given(
    st.lists(st.tuples(st.lists(_STATS, max_size=6), st.lists(_WINDOWS, max_size=3)), max_size=5)
)
def test_monitoring_gauges_hold_the_latest_results_of_each_model_and_environment(
    runs: list[tuple[list[Any], list[Any]]],
) -> None:
    """After any sequence of runs, each (model, environment) shows what its latest run gave
    (the last value of a repeated series), and nothing of an earlier run."""
    metrics = ServingMetrics()
    expected_stats: dict[tuple[str, ...], float] = {}
    expected_windows: dict[tuple[str, ...], float] = {}
    for stats, windows in runs:
        metrics.monitoring(statistics=stats, windows=windows)
        scope = {(s[0], s[2]) for s in stats} | {(w[0], w[2]) for w in windows}
        for table in (expected_stats, expected_windows):
            for key in [k for k in table if (k[0], k[2]) in scope]:
                del table[key]
        for s in stats:
            expected_stats[(s[0], str(s[1]), s[2], s[3], s[4])] = float(s[5])
        for w in windows:
            expected_windows[(w[0], str(w[1]), w[2])] = float(w[3])
    names = ("model", "version", "environment", "feature", "statistic")
    got_stats = {
        tuple(dict(k)[n] for n in names): v
        for k, v in series(metrics, "riskops_monitoring_statistic").items()
    }
    got_windows = {
        tuple(dict(k)[n] for n in names[:3]): v
        for k, v in series(metrics, "riskops_monitoring_window_decisions").items()
    }
    assert got_stats == expected_stats
    assert got_windows == expected_windows


def test_a_batch_s_decisions_move_the_metrics_as_one_decision_at_a_time_does() -> None:
    from riskops.scoring.scorer import Decision

    def made(outcome: str, score: float | None, fallback: bool = False) -> Decision:
        return Decision("m", 3, "sha256:d", score, outcome, (), fallback, 1.0)

    decisions = [
        made("approve", 0.05),
        made("decline", 0.9),
        made("approve", 0.2),
        made("refer", None, fallback=True),
        made("refer", 0.5),
        made("refer", None, fallback=True),
    ]
    one_by_one, batched = ServingMetrics(), ServingMetrics()
    for d in decisions:
        one_by_one.decision(d, route="canary")
    batched.decisions_of(decisions, route="canary")
    batched.decisions_of([], route="canary")
    samples = [
        [
            (s.name, tuple(sorted(s.labels.items())), s.value)
            for family in m.registry.collect()
            if family.name in ("riskops_decisions", "riskops_fallback", "riskops_score")
            for s in family.samples
            if not s.name.endswith("_created")
        ]
        for m in (one_by_one, batched)
    ]
    assert samples[0] == samples[1]
    assert count(batched, "riskops_fallback_total", model="m", version="3") == 2.0
    assert (
        count(
            batched,
            "riskops_decisions_total",
            model="m",
            version="3",
            route="canary",
            outcome="refer",
        )
        == 3.0
    )
