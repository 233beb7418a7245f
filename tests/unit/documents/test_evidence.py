from __future__ import annotations

import pytest

from riskops.documents.evidence import (
    Interval,
    calibration_bands,
    confidence_interval,
    curve,
    evidence_tables,
    histogram,
    importance,
    metric_value,
    worst_row_curve,
)


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        ({"ci": {"auc": [0.71, 0.83]}, "confidence": 0.95}, Interval(0.71, 0.83, 0.95)),
        ({"ci": [0.71, 0.83]}, Interval(0.71, 0.83, None)),
        ({"ci": {"low": 0.71, "high": 0.83, "confidence": 0.9}}, Interval(0.71, 0.83, 0.9)),
        (
            {"ci": {"auc": {"lower": 0.71, "upper": 0.83}, "level": 0.99}},
            Interval(0.71, 0.83, 0.99),
        ),
        ({"ci": {"ks": [0.3, 0.5]}}, None),
        ({"ci": "wide"}, None),
        ({}, None),
    ],
)
def test_a_confidence_interval_is_read_in_any_stored_shape(
    evidence: dict[str, object], expected: Interval | None
) -> None:
    assert confidence_interval(evidence, "auc") == expected


def test_curves_and_histograms_need_consistent_lengths() -> None:
    roc = curve({"roc": {"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1]}}, "roc", "fpr", "tpr")
    assert roc is not None
    assert roc.y == (0.0, 0.8, 1.0)
    assert curve({"roc": {"fpr": [0, 1], "tpr": [0]}}, "roc", "fpr", "tpr") is None
    assert curve({"roc": {"fpr": ["a"], "tpr": [0]}}, "roc", "fpr", "tpr") is None
    good = {"score_histogram": {"edges": [0, 0.5, 1], "events": [1, 3], "non_events": [5, 1]}}
    assert histogram(good) is not None
    bad = {"score_histogram": {"edges": [0, 1], "events": [1, 3], "non_events": [5, 1]}}
    assert histogram(bad) is None


def test_bands_importance_and_monotonicity_curves_are_picked_out() -> None:
    table = [{"band": 1, "mean_score": 0.1, "observed_rate": 0.08}, {"band": 2, "count": 0}]
    assert calibration_bands({"table": table}) == [(0.1, 0.08)]
    assert calibration_bands({"table": []}) is None
    as_rows = {"importance": [{"feature": "age", "mean_abs_contribution": 0.2}]}
    assert importance(as_rows) == [("age", 0.2)]
    assert importance({"importance": {"age": 0.2, "note": "x"}}) == [("age", 0.2)]
    assert importance({"importance": [["age", 0.2], ["bad"]]}) == [("age", 0.2)]
    assert importance({"importance": [{"feature": "age", "new_unit": 3}]}) == [("age", 3.0)]
    assert importance({}) is None
    worst = {"grid": [1, 2, 3], "worst_row": {"scores": [0.1, 0.2, 0.3]}}
    assert worst_row_curve(worst) is not None
    assert worst_row_curve({"grid": [1, 2], "worst_row": {"scores": [0.1]}}) is None
    assert metric_value({"values": {"auc": 0.8}}, "auc") == 0.8
    assert metric_value({"auc": 0.7, "values": {"auc": 0.8}}, "auc") == 0.7
    assert metric_value({"auc": True}, "auc") is None


def test_any_evidence_becomes_tables() -> None:
    evidence = {
        "rows": 300,
        "values": {"auc": 0.8, "ks": 0.4},
        "roc": {"fpr": list(range(50)), "tpr": list(range(50))},
        "groups": [{"group": "a", "approval_rate": 0.5}, {"group": "b", "count": 3}],
        "hosmer_lemeshow": {"p_value": 0.2, "groups": [{"group": 1, "observed": 2}]},
        "note": None,
    }
    tables = {t.title: t for t in evidence_tables(evidence)}
    assert set(tables) == {"values", "groups", "hosmer_lemeshow.groups"}
    values = dict(tables["values"].rows)
    assert values["rows"] == 300
    assert values["values.auc"] == 0.8
    assert values["roc.fpr"] == "[50 values]"
    assert values["hosmer_lemeshow.p_value"] == 0.2
    assert tables["groups"].columns == ("group", "approval_rate", "count")
    assert tables["groups"].rows[1] == ("b", None, 3)
