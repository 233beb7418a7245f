from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskops.statistics.prevalence import (
    case_weights,
    log_odds_offset,
    prior_shift,
    weighting_evidence,
)


@given(
    events=st.integers(1, 200),
    non_events=st.integers(1, 200),
    pi=st.floats(1e-4, 0.99),
)
def test_the_weighted_event_rate_is_the_population_rate(
    events: int, non_events: int, pi: float
) -> None:
    y = np.r_[np.ones(events, dtype=int), np.zeros(non_events, dtype=int)]
    w = case_weights(y, pi)
    assert np.average(y, weights=w) == pytest.approx(pi)
    assert w.sum() == pytest.approx(len(y))  # weights keep the sample's size


def test_the_weights_are_the_ratio_of_the_rates() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])  # π_s = 0.2
    w = case_weights(y, 0.01)
    assert w[0] == pytest.approx(0.01 / 0.2)
    assert w[-1] == pytest.approx(0.99 / 0.8)
    evidence = weighting_evidence(y, 0.00172)
    assert evidence["note"] == "reweighted to 0.172% (the sample holds 20.0% events)"


def test_the_prior_shift_moves_the_log_odds_by_the_offset() -> None:
    offset = log_odds_offset(sample_rate=0.286, population_rate=0.00172)
    assert offset == pytest.approx(np.log(0.00172 / 0.99828) - np.log(0.286 / 0.714))
    shifted = prior_shift([0.286], sample_rate=0.286, population_rate=0.00172)
    assert shifted[0] == pytest.approx(0.00172)  # the sample's base rate maps to π
    p = np.array([0.01, 0.5, 0.99])
    assert np.all(np.diff(prior_shift(p, sample_rate=0.3, population_rate=0.01)) > 0)
    assert prior_shift(p, sample_rate=0.3, population_rate=0.3) == pytest.approx(p)


def test_bad_rates_and_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="population_rate must be a rate strictly between 0"):
        case_weights([0, 1], 0.0)
    with pytest.raises(ValueError, match="one class only; it cannot be reweighted"):
        case_weights([0, 0, 0], 0.01)
    with pytest.raises(ValueError, match="labels must be a 1-D array of 0"):
        case_weights([0, 2], 0.01)
    with pytest.raises(ValueError, match="sample_rate must be a rate strictly between 0"):
        log_odds_offset(sample_rate=1.0, population_rate=0.1)
