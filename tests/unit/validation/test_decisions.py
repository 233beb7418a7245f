"""Decision bands: the policy's outcomes on held-out rows, counted by hand, and the review
workload they size."""

from __future__ import annotations

import numpy as np
import pytest

from riskops.validation.gate import settle
from riskops.validation.gates.decisions import DecisionsGate
from tests.unit.validation.toys import scored, toy_input, toy_spec

# the toy policy approves below 0.3 and declines from 0.6
Y = np.array([0, 0, 0, 1, 0, 1, 1, 1, 0, 1])
SCORES = np.array([0.05, 0.1, 0.2, 0.25, 0.4, 0.5, 0.55, 0.7, 0.8, 0.9])


def test_each_band_has_its_rows_share_events_and_event_rate() -> None:
    [result] = DecisionsGate().evaluate(toy_input(toy_spec("performance"), scored("v", Y, SCORES)))
    bands = {b["outcome"]: b for b in result.evidence["bands"]}
    assert list(bands) == ["approve", "refer", "decline"]
    assert (bands["approve"]["rows"], bands["approve"]["events"]) == (4, 1)
    assert (bands["refer"]["rows"], bands["refer"]["events"]) == (3, 2)
    assert (bands["decline"]["rows"], bands["decline"]["events"]) == (3, 2)
    assert bands["approve"]["event_rate"] == pytest.approx(0.25)
    assert bands["refer"]["share"] == pytest.approx(0.3)
    assert result.value == pytest.approx(0.3)
    assert result.evidence["review_outcome"] == "refer"
    assert result.evidence["review_per_1k"] == pytest.approx(300.0)
    [settled] = settle([result], {})
    assert settled.status == "reported"


def test_an_empty_band_has_no_event_rate() -> None:
    low = np.full(len(Y), 0.1)
    [result] = DecisionsGate().evaluate(toy_input(toy_spec("performance"), scored("v", Y, low)))
    bands = {b["outcome"]: b for b in result.evidence["bands"]}
    assert bands["approve"]["share"] == 1.0
    assert bands["decline"]["rows"] == 0
    assert bands["decline"]["event_rate"] is None


def test_shares_are_reweighted_to_the_population_prevalence() -> None:
    spec = toy_spec("performance")
    spec = spec.model_copy(
        update={"data": spec.data.model_copy(update={"population_prevalence": 0.1})}
    )
    [result] = DecisionsGate().evaluate(toy_input(spec, scored("v", Y, SCORES)))
    bands = {b["outcome"]: b for b in result.evidence["bands"]}
    # 5 events stand for 10%, 5 non-events for 90%: each event weighs 0.02, each other row 0.18
    assert bands["approve"]["share"] == pytest.approx(3 * 0.18 + 0.02)
    assert bands["approve"]["event_rate"] == pytest.approx(0.02 / (3 * 0.18 + 0.02))
    assert bands["approve"]["rows"] == 4
