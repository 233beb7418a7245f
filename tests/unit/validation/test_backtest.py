"""The out-of-time back-test: one row per calendar period of the held-out rows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from riskops.spec import ModelSpec, Split
from riskops.validation.gate import Sample, settle
from riskops.validation.gates.backtest import BacktestGate
from tests.unit.validation.toys import scored, toy_input, toy_spec


def dated_spec() -> ModelSpec:
    spec = toy_spec("performance")
    split = Split(method="time", time_column="t", test_size=0.2, holdout_size=0.2)
    return spec.model_copy(update={"data": spec.data.model_copy(update={"split": split})})


def dated(name: str, times: list[str], y: list[int], scores: list[float]) -> Sample:
    raw = pd.DataFrame({"t": times, "x": scores})
    features = raw[["x"]]
    s = np.array(scores)
    return Sample(name, raw, features, s[:, np.newaxis], np.array(y), s)


def test_each_week_gets_its_counts_rates_and_auc() -> None:
    rng = np.random.default_rng(3)
    # three weeks: both outcomes (with an interval), a single event (no interval), no event
    days = ["2018-06-04"] * 40 + ["2018-06-12"] * 20 + ["2018-06-20"] * 10
    y = [1] * 10 + [0] * 30 + [1] + [0] * 19 + [0] * 10
    scores = rng.uniform(0, 1, len(y)) * 0.5 + np.array(y) * 0.3
    test = dated("test", [f"{d} 10:00:00" for d in days], y, scores.tolist())
    gate_input = replace(
        toy_input(dated_spec(), scored("validation", np.array([0, 1]), np.array([0.1, 0.9]))),
        test=test,
    )
    [result] = settle(BacktestGate().evaluate(gate_input), {})
    assert result.status == "reported"
    evidence = result.evidence
    assert (evidence["sample"], evidence["period"], evidence["time_column"]) == (
        "test",
        "week",
        "t",
    )
    periods = evidence["periods"]
    assert [p["period"] for p in periods] == ["2018-06-04", "2018-06-11", "2018-06-18"]
    assert [p["rows"] for p in periods] == [40, 20, 10]
    assert [p["events"] for p in periods] == [10, 1, 0]
    y_arr = np.array(y)
    first, second, third = periods
    assert first["auc"] == pytest.approx(roc_auc_score(y_arr[:40], scores[:40]))
    assert first["auc_low"] < first["auc"] < first["auc_high"]
    assert first["score_mean"] == pytest.approx(scores[:40].mean())
    assert first["event_rate"] == pytest.approx(0.25)
    assert second["auc"] == pytest.approx(roc_auc_score(y_arr[40:60], scores[40:60]))
    assert second["auc_low"] is None
    assert third["auc"] is None
    assert result.value == pytest.approx(min(first["auc"], second["auc"]))


def test_a_long_range_is_cut_by_month() -> None:
    months = [f"2018-{m:02d}-15" for m in range(1, 9)]
    times = [m for m in months for _ in range(4)]
    y = [0, 1, 0, 1] * len(months)
    test = dated("test", times, y, [0.2, 0.8, 0.3, 0.7] * len(months))
    gate_input = replace(toy_input(dated_spec(), test), test=test)
    [result] = BacktestGate().evaluate(gate_input)
    assert result.evidence["period"] == "month"
    assert [p["period"] for p in result.evidence["periods"]] == [f"{m[:8]}01" for m in months]
    assert result.value == 1.0


def test_data_without_dates_has_no_back_test() -> None:
    sample = scored("validation", np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.2, 0.8]))
    [result] = settle(BacktestGate().evaluate(toy_input(toy_spec("performance"), sample)), {})
    assert result.status == "not_applicable"
    assert "no dates" in result.evidence["note"]
    assert not result.blocks
