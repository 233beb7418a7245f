"""Serving metrics: refused requests are counted by problem code, never by message text."""

from __future__ import annotations

from riskops.errors import Problem
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
